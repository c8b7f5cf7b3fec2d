"""Roles (named sets of permission codes) and their assignment to the members of an organization."""

from collections.abc import Iterable

from django.core.exceptions import ValidationError
from django.db import transaction

from crmApp.constants import SCOPE_BREADTH, MembershipStatus, RecordScope
from crmApp.exceptions import BusinessRuleViolation, MemberChangeForbidden, RecordGone
from crmApp.models import Membership, Permission, Role, Team, UserRole
from crmApp.services.base import OrganizationService
from crmApp.services.integration_service import disable_webhooks_beyond_reach


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


def role_codes(role: Role) -> set[str]:
    """The codes a role grants now."""
    return set(role.permissions.values_list("code", flat=True))


class RoleService(OrganizationService):
    """Creates, changes and deletes the roles of one organization.

    Nobody hands out more than they hold: a role may be created, changed, deleted or assigned only
    by an actor who holds every code it grants (owners and admins hold them all).
    """

    model = Role

    def check_grantable(self, codes: Iterable[str]) -> None:
        """Raise MemberChangeForbidden (403) unless the actor holds every one of `codes`."""
        beyond = sorted(set(codes) - self.tenant.codes)
        if beyond:
            raise MemberChangeForbidden(
                f"You can only grant codes you hold yourself; you do not hold: {', '.join(beyond)}."
            )

    def check_scope_grantable(self, scope: str) -> None:
        """Raise MemberChangeForbidden (403) when `scope` shows more records than the actor sees."""
        if SCOPE_BREADTH.index(scope) < SCOPE_BREADTH.index(self.tenant.record_scope):
            raise MemberChangeForbidden(f"You can't grant the record scope '{scope}', wider than your own.")

    @transaction.atomic
    def create(
        self, *, name: str, description: str = "", permissions: Iterable[str] = (), record_scope: str = RecordScope.ALL
    ) -> Role:
        """Create a role granting the given permission codes and record scope."""
        self.check_grantable(permissions)
        self.check_scope_grantable(record_scope)
        role = Role.objects.create(
            organization=self.organization, name=name, description=description, record_scope=record_scope
        )
        role.permissions.set(permissions_for(permissions))
        return role

    @transaction.atomic
    def update(self, instance: Role, *, permissions: Iterable[str] | None = None, **fields) -> Role:
        """Change a role's name/description; `permissions`, when given, replaces its codes."""
        role = Role.objects.select_for_update().filter(organization=self.organization, pk=instance.pk).first()
        if role is None:
            raise RecordGone()
        self.check_grantable(role_codes(role) | set(permissions or ()))
        self.check_scope_grantable(fields.get("record_scope", role.record_scope))
        for name, value in fields.items():
            setattr(role, name, value)
        role.save()
        if permissions is not None:
            role.permissions.set(permissions_for(permissions))
        holders = role.user_roles.values_list("user_id", flat=True)
        disable_webhooks_beyond_reach(organization=self.organization, user_ids=list(holders))
        return role

    @transaction.atomic
    def delete(self, instance: Role) -> None:
        """Delete a role; its assignments go with it."""
        role = Role.objects.select_for_update().filter(organization=self.organization, pk=instance.pk).first()
        if role is None:
            raise RecordGone()
        self.check_grantable(role_codes(role))
        holders = list(role.user_roles.values_list("user_id", flat=True))
        role.delete()
        disable_webhooks_beyond_reach(organization=self.organization, user_ids=holders)


class UserRoleService(OrganizationService):
    """Assigns roles to, and takes them from, the active members of one organization."""

    model = UserRole

    @transaction.atomic
    def create(self, *, user, role: Role) -> UserRole:
        """Assign `role` to `user`; both must belong to this organization and the pair must be new."""
        if role.organization_id != self.organization.id:
            raise BusinessRuleViolation("The role belongs to another organization.", code="foreign_role")
        roles = RoleService(self.tenant)
        roles.check_grantable(role_codes(role))
        # A member sees through the widest scope of their roles, so a role is a scope handed out too.
        roles.check_scope_grantable(role.record_scope)
        # Locking the membership keeps a concurrent removal from leaving a role behind.
        if (
            not Membership.objects.select_for_update()
            .filter(organization=self.organization, user=user, status=MembershipStatus.ACTIVE)
            .exists()
        ):
            raise BusinessRuleViolation("The user is not an active member of this organization.", code="not_member")
        if UserRole.objects.filter(user=user, role=role).exists():
            # The serializer's own check, met again by an assignment that committed after it ran.
            raise ValidationError("This member already has this role.")
        return UserRole.objects.create(organization=self.organization, user=user, role=role)

    @transaction.atomic
    def delete(self, instance: UserRole) -> None:
        """Take the role away from the member."""
        assignment = UserRole.objects.select_for_update().filter(organization=self.organization, pk=instance.pk).first()
        if assignment is None:
            raise RecordGone()
        RoleService(self.tenant).check_grantable(role_codes(assignment.role))
        assignment.delete()
        disable_webhooks_beyond_reach(organization=self.organization, user_ids=[assignment.user_id])


class TeamService(OrganizationService):
    """Creates, changes and deletes the organization's teams (members:manage)."""

    model = Team

    def check_own_reach(self, before: Iterable, after: Iterable) -> None:
        """Raise MemberChangeForbidden (403) when the change widens what the actor sees through their teams.

        An actor who sees their teams' records would see more by joining a team, or by adding people to
        one they are in: as with roles, nobody hands themselves more than they have. Leaving, removing
        and changing other teams stay open.
        """
        if self.tenant.record_scope != RecordScope.TEAM:
            return
        before, after = {user.pk for user in before}, {user.pk for user in after}
        if self.tenant.user.pk in after and after - before:
            raise MemberChangeForbidden(
                "You see your teams' records, so you can't join a team or add members to one you are in."
            )

    @transaction.atomic
    def create(self, *, name: str, members: Iterable = ()) -> Team:
        """A team of active members of the organization."""
        members = list(members)
        self.check_own_reach([], members)
        team = Team.objects.create(organization=self.organization, name=name)
        team.members.set(members)
        return team

    @transaction.atomic
    def update(self, instance: Team, *, members: Iterable | None = None, **fields) -> Team:
        """Rename the team; `members`, when given, replaces its members."""
        team = Team.objects.select_for_update().filter(organization=self.organization, pk=instance.pk).first()
        if team is None:
            raise RecordGone()
        if members is not None:
            members = list(members)
            self.check_own_reach(team.members.all(), members)
        for name, value in fields.items():
            setattr(team, name, value)
        team.save()
        if members is not None:
            team.members.set(members)
        return team

    @transaction.atomic
    def delete(self, instance: Team) -> None:
        """Delete the team; a team deleted meanwhile (a simultaneous DELETE) is RecordGone, a 404."""
        deleted, _ = Team.objects.filter(organization=self.organization, pk=instance.pk).delete()
        if not deleted:
            raise RecordGone()
