"""The CRM user: the email is the login, and an address is one account however it is written."""

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone

from crmApp.constants import EMAIL_MAX, NAME_MAX
from crmApp.identity import SKELETON_MAX, TOO_LONG_SKELETON, normalize_email, skeleton, skeleton_fits

# Accounts that collided before skeletons were enforced keep a marked skeleton (see migration 0005):
# `<skeleton>#collision-<id>`. They are found by nobody's address until staff give them another one.
COLLISION_MARK = "#collision-"
TAKEN_EMAIL = "A user with this email already exists."
TAKEN_USERNAME = "A user with this username already exists."


def _same_identity(field: str, value: str) -> Q:
    key = skeleton(value)
    return Q(**{field: key}) | Q(**{f"{field}__startswith": f"{key}{COLLISION_MARK}"})


class UserManager(BaseUserManager):
    """Creates users keyed by a normalised email."""

    use_in_migrations = True

    def _create_user(self, email, password, **extra):
        if not email:
            raise ValueError("An email is required.")
        user = self.model(email=normalize_email(email), **extra)
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
        """The account of an address however it is written (admin sign-in, createsuperuser)."""
        return self.get(email_skeleton=skeleton(email))

    def find_by_email(self, address: str):
        """The one account whose address has this skeleton, or None."""
        return self.filter(email_skeleton=skeleton(address)).first()

    def find_by_username(self, username: str):
        """The one account whose username has this skeleton, or None."""
        return self.filter(username_skeleton=skeleton(username)).first()

    def email_taken(self, address: str, *, exclude_pk: int | None = None) -> bool:
        """Whether another account's address is this one or a look-alike of it."""
        return self.filter(_same_identity("email_skeleton", address)).exclude(pk=exclude_pk).exists()

    def username_taken(self, username: str, *, exclude_pk: int | None = None) -> bool:
        """Whether another account's username is this one or a look-alike of it."""
        return self.filter(_same_identity("username_skeleton", username)).exclude(pk=exclude_pk).exists()


class User(AbstractBaseUser, PermissionsMixin):
    """A person who can sign in; belongs to organizations through memberships."""

    # Stored NFKC and lower-cased; `email_skeleton` is what makes two spellings one account.
    email = models.EmailField(max_length=EMAIL_MAX, unique=True)
    email_skeleton = models.CharField(max_length=SKELETON_MAX, unique=True, editable=False)
    # NULL, not "", for no username: the unique indexes allow many NULLs.
    username = models.CharField(max_length=NAME_MAX, null=True, blank=True)  # noqa: DJ001
    username_skeleton = models.CharField(max_length=SKELETON_MAX, null=True, blank=True, unique=True, editable=False)
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

    def __str__(self):
        return self.email

    def clean(self):
        """Refuse an address or username that is, or looks like, another account's (the admin's forms)."""
        super().clean()
        self._normalize()
        errors = {}
        if self.email and not skeleton_fits(self.email):
            errors["email"] = TOO_LONG_SKELETON
        elif self.email and User.objects.email_taken(self.email, exclude_pk=self.pk):
            errors["email"] = TAKEN_EMAIL
        if self.username and not skeleton_fits(self.username):
            errors["username"] = TOO_LONG_SKELETON
        elif self.username and User.objects.username_taken(self.username, exclude_pk=self.pk):
            errors["username"] = TAKEN_USERNAME
        if errors:
            raise ValidationError(errors)

    def _normalize(self) -> None:
        if self.email:
            self.email = normalize_email(self.email)
        if not (self.username or "").strip():
            self.username = None

    def save(self, *args, **kwargs):
        self._normalize()
        # A marked (collided) skeleton stays marked while the address is unchanged.
        if self.email_skeleton.split(COLLISION_MARK)[0] != skeleton(self.email):
            self.email_skeleton = skeleton(self.email)
        self.username_skeleton = skeleton(self.username) if self.username else None
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and {"email", "username"} & set(update_fields):
            kwargs["update_fields"] = {*update_fields, "email_skeleton", "username_skeleton"}
        super().save(*args, **kwargs)

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()
