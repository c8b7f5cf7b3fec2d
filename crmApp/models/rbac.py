"""RBAC: the permission catalogue, per-organization roles and role assignments."""

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower

from crmApp.constants import NAME_MAX, RecordScope


class Permission(models.Model):
    """One `resource:action` code; rows are seeded by a migration from constants.PERMISSIONS."""

    code = models.CharField(max_length=64, unique=True)
    description = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["code"]

    def __str__(self):
        return self.code

    @property
    def resource(self) -> str:
        return self.code.split(":", 1)[0]

    @property
    def action(self) -> str:
        return self.code.split(":", 1)[1]


class Role(models.Model):
    """A named set of permission codes within one organization."""

    organization = models.ForeignKey("crmApp.Organization", on_delete=models.CASCADE, related_name="roles")
    name = models.CharField(max_length=NAME_MAX)
    description = models.CharField(max_length=500, blank=True)
    permissions = models.ManyToManyField(Permission, related_name="roles", blank=True)
    record_scope = models.CharField(max_length=10, choices=RecordScope.choices, default=RecordScope.ALL)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        # Unique regardless of case, like the API's check, so a race past the check is a 409, not a twin.
        constraints = [models.UniqueConstraint("organization", Lower("name"), name="role_unique_name_ci_per_org")]

    def __str__(self):
        return self.name


class UserRole(models.Model):
    """Assigns a role to a member of the role's organization."""

    organization = models.ForeignKey("crmApp.Organization", on_delete=models.CASCADE, related_name="user_roles")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="user_roles")
    role = models.ForeignKey(Role, on_delete=models.CASCADE, related_name="user_roles")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["user", "role"], name="user_role_unique")]
        indexes = [models.Index(fields=["organization", "user"], name="user_role_org_user_idx")]

    def __str__(self):
        return f"{self.user} as {self.role}"


class Team(models.Model):
    """A group of members; with a `team` record scope, members see the records of everyone in their teams."""

    organization = models.ForeignKey("crmApp.Organization", on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=NAME_MAX)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="teams", blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [models.UniqueConstraint("organization", Lower("name"), name="team_unique_name_ci_per_org")]

    def __str__(self):
        return self.name
