"""The CRM user: the email is the login."""

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

from crmApp.constants import EMAIL_MAX, NAME_MAX


class UserManager(BaseUserManager):
    """Creates users keyed by a normalised email."""

    use_in_migrations = True

    def _create_user(self, email, password, **extra):
        if not email:
            raise ValueError("An email is required.")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)  # None gives an unusable password
        user.save(using=self._db)
        return user

    def create_user(self, email, password=None, **extra):
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra)

    def create_superuser(self, email, password=None, **extra):
        extra.update(is_staff=True, is_superuser=True)
        return self._create_user(email, password, **extra)

    def get_by_natural_key(self, email):
        return self.get(email__iexact=email)


class User(AbstractBaseUser, PermissionsMixin):
    """A person who can sign in; belongs to organizations through memberships."""

    # Stored lower-cased (see save), so uniqueness is case-insensitive.
    email = models.EmailField(max_length=EMAIL_MAX, unique=True)
    # NULL, not "", for no username: the unique index allows many NULLs.
    username = models.CharField(max_length=NAME_MAX, null=True, blank=True)  # noqa: DJ001
    first_name = models.CharField(max_length=NAME_MAX, blank=True)
    last_name = models.CharField(max_length=NAME_MAX, blank=True)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False)
    is_email_verified = models.BooleanField(default=False)
    default_organization = models.ForeignKey(
        "crmApp.Organization", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    date_joined = models.DateTimeField(default=timezone.now)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = []

    class Meta:
        constraints = [
            models.UniqueConstraint(Lower("username"), name="user_username_ci_unique"),
        ]

    def __str__(self):
        return self.email

    def clean(self):
        super().clean()
        self.email = self.__class__.objects.normalize_email(self.email).lower()
        if self.username == "":
            self.username = None

    def save(self, *args, **kwargs):
        # Blank usernames are stored as NULL so the unique constraint allows many of them.
        if self.username == "":
            self.username = None
        if self.email:
            self.email = self.email.lower()
        super().save(*args, **kwargs)

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()
