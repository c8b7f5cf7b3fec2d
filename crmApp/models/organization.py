"""Organizations (the tenants) and the memberships that tie users to them."""

from django.conf import settings
from django.db import models

from crmApp.constants import LONG_NAME_MAX, MembershipRole, MembershipStatus, ProfileType


class Organization(models.Model):
    """A tenant: every CRM record belongs to exactly one."""

    name = models.CharField(max_length=LONG_NAME_MAX)
    slug = models.SlugField(max_length=LONG_NAME_MAX + 20, unique=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self):
        return self.name


class Membership(models.Model):
    """A user's place in one organization: their role there and what kind of profile they have.

    An invitation is a membership in status `invited`: it grants nothing until the invited account
    accepts it with the mailed token, whose SHA-256 alone is stored.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=20, choices=MembershipRole.choices, default=MembershipRole.MEMBER)
    profile_type = models.CharField(max_length=20, choices=ProfileType.choices, default=ProfileType.EMPLOYEE)
    status = models.CharField(max_length=10, choices=MembershipStatus.choices, default=MembershipStatus.ACTIVE)
    invited_at = models.DateTimeField(null=True, blank=True)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    invitation_token_hash = models.CharField(max_length=64, blank=True, db_index=True)
    # When the member joined (accepted); for an invitation, when it was made.
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "user"], name="membership_unique_user_per_org"),
        ]
        indexes = [models.Index(fields=["user", "organization"], name="membership_user_org_idx")]

    def __str__(self):
        return f"{self.user} in {self.organization} ({self.role})"

    @property
    def holds_every_code(self) -> bool:
        return self.role in (MembershipRole.OWNER, MembershipRole.ADMIN)

    @property
    def is_active(self) -> bool:
        return self.status == MembershipStatus.ACTIVE
