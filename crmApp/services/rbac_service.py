"""Roles (named sets of permission codes) and their assignment to the members of an organization."""

from collections.abc import Iterable

from django.db import transaction

from crmApp.exceptions import BusinessRuleViolation
from crmApp.models import Membership, Permission, Role, UserRole
from crmApp.services.base import OrganizationService


def permissions_for(codes: Iterable[str]) -> list[Permission]:
    """The Permission rows of `codes`; an unknown code is a BusinessRuleViolation."""
    codes = set(codes)
    permissions = list(Permission.objects.filter(code__in=codes))
    unknown = codes - {permission.code for permission in permissions}
    if unknown:
        raise BusinessRuleViolation(
            f"Unknown permission codes: {', '.join(sorted(unknown))}.", code="unknown_permission"
        )
    return permissions


class RoleService(OrganizationService):
    """Creates, changes and deletes the roles of one organization."""

    model = Role

    @transaction.atomic
    def create(self, *, name: str, description: str = "", permissions: Iterable[str] = ()) -> Role:
        """Create a role granting the given permission codes."""
        role = Role.objects.create(organization=self.organization, name=name, description=description)
        role.permissions.set(permissions_for(permissions))
        return role

    @transaction.atomic
    def update(self, instance: Role, *, permissions: Iterable[str] | None = None, **fields) -> Role:
        """Change a role's name/description; `permissions`, when given, replaces its codes."""
        for name, value in fields.items():
            setattr(instance, name, value)
        instance.save()
        if permissions is not None:
            instance.permissions.set(permissions_for(permissions))
        return instance

    def delete(self, instance: Role) -> None:
        """Delete a role; its assignments go with it."""
        instance.delete()


class UserRoleService(OrganizationService):
    """Assigns roles to, and takes them from, the active members of one organization."""

    model = UserRole

    @transaction.atomic
    def create(self, *, user, role: Role) -> UserRole:
        """Assign `role` to `user`; both must belong to this organization and the pair must be new."""
        if role.organization_id != self.organization.id:
            raise BusinessRuleViolation("The role belongs to another organization.", code="foreign_role")
        # Locking the membership keeps a concurrent removal from leaving a role behind.
        if (
            not Membership.objects.select_for_update()
            .filter(organization=self.organization, user=user, is_active=True)
            .exists()
        ):
            raise BusinessRuleViolation("The user is not an active member of this organization.", code="not_member")
        if UserRole.objects.filter(user=user, role=role).exists():
            raise BusinessRuleViolation("The user already has this role.", code="duplicate")
        return UserRole.objects.create(organization=self.organization, user=user, role=role)

    def delete(self, instance: UserRole) -> None:
        """Take the role away from the member."""
        instance.delete()
