"""Organizations and their members: creating one gives it an owner, the default roles and pipeline."""

from django.db import transaction
from django.utils import timezone
from django.utils.crypto import get_random_string
from django.utils.text import slugify

from crmApp.constants import DEFAULT_PIPELINE_NAME, DEFAULT_PIPELINE_STAGES, DEFAULT_ROLES, MembershipRole, ProfileType
from crmApp.emails import send_invitation_email
from crmApp.exceptions import BusinessRuleViolation, MemberChangeForbidden, MemberNotFound
from crmApp.models import Membership, Organization, Permission, Pipeline, PipelineStage, Role, User, UserRole


def unique_slug(name: str) -> str:
    """A slug for the name with a random suffix, so equal names never collide."""
    return f"{slugify(name)[:200] or 'organization'}-{get_random_string(8).lower()}"


@transaction.atomic
def provision_organization(organization: Organization) -> None:
    """Give a new organization its default roles and default pipeline with its six stages."""
    permissions = {p.code: p for p in Permission.objects.all()}
    for name, spec in DEFAULT_ROLES.items():
        role, created = Role.objects.get_or_create(
            organization=organization, name=name, defaults={"description": spec["description"]}
        )
        if created:
            role.permissions.set([permissions[code] for code in spec["permissions"] if code in permissions])
    if not Pipeline.objects.filter(organization=organization, is_default=True).exists():
        pipeline = Pipeline.objects.create(organization=organization, name=DEFAULT_PIPELINE_NAME, is_default=True)
        PipelineStage.objects.bulk_create(
            PipelineStage(
                organization=organization,
                pipeline=pipeline,
                name=name,
                order=order,
                probability=probability,
                is_won=is_won,
                is_lost=is_lost,
            )
            for order, (name, probability, is_won, is_lost) in enumerate(DEFAULT_PIPELINE_STAGES, start=1)
        )


@transaction.atomic
def create_organization(*, name: str, owner, profile_type: str = ProfileType.EMPLOYEE) -> Organization:
    """Create an organization owned by `owner`, provisioned with its defaults."""
    organization = Organization.objects.create(name=name, slug=unique_slug(name))
    Membership.objects.create(
        user=owner, organization=organization, role=MembershipRole.OWNER, profile_type=profile_type
    )
    if owner.default_organization_id is None:
        owner.default_organization = organization
        owner.save(update_fields=["default_organization"])
    provision_organization(organization)
    return organization


LAST_OWNER_MESSAGE = "The organization's last owner can't be removed or demoted."


def _repoint_default_organization(users, organization_id: int) -> None:
    """Move users whose default is `organization_id` to the first other organization they still belong to."""
    for user in users:
        if user.default_organization_id != organization_id:
            continue
        fallback = (
            Membership.objects.filter(user=user, is_active=True, organization__is_active=True)
            .exclude(organization_id=organization_id)
            .order_by("created_at", "id")
            .values_list("organization_id", flat=True)
            .first()
        )
        User.objects.filter(pk=user.pk).update(default_organization_id=fallback)
        user.default_organization_id = fallback


@transaction.atomic
def update_organization(organization: Organization, *, name: str | None = None) -> Organization:
    """Rename an organization; the slug stays stable so links keep working."""
    if name is not None:
        organization.name = name
    organization.save()
    return organization


@transaction.atomic
def delete_organization(organization: Organization) -> None:
    """Delete an organization with every record it owns.

    Members whose default organization it was fall back to the first other organization they belong to.
    """
    users = User.objects.filter(default_organization=organization)
    _repoint_default_organization(users, organization.id)
    organization.delete()


class MemberService:
    """Adds, changes and removes the members of one organization; it always keeps an active owner.

    Owner-level changes (making someone an owner, changing or removing an owner) need an owner;
    admin-level ones (making someone an admin, changing or removing an admin) need an owner or admin.
    """

    def __init__(self, *, organization: Organization, actor):
        self.organization = organization
        self.actor = actor

    def members(self):
        """The active memberships of the organization, users joined, oldest first."""
        return (
            Membership.objects.filter(organization=self.organization, is_active=True)
            .select_related("user")
            .order_by("created_at", "id")
        )

    def get_member(self, user_id: int) -> Membership:
        """The active membership of `user_id`; MemberNotFound when there is none."""
        membership = self.members().filter(user_id=user_id).first()
        if membership is None:
            raise MemberNotFound()
        return membership

    # --- rules -----------------------------------------------------------------------------------
    def _actor_role(self) -> str | None:
        return (
            Membership.objects.filter(organization=self.organization, user=self.actor, is_active=True)
            .values_list("role", flat=True)
            .first()
        )

    def _check_may_touch(self, *roles: str) -> None:
        """Owners may touch any role; admins every role but owner; others only plain members."""
        actor_role = self._actor_role()
        if MembershipRole.OWNER in roles and actor_role != MembershipRole.OWNER:
            raise MemberChangeForbidden("Only an owner can grant, change or remove the owner role.")
        if MembershipRole.ADMIN in roles and actor_role not in (MembershipRole.OWNER, MembershipRole.ADMIN):
            raise MemberChangeForbidden("Only an owner or admin can grant, change or remove the admin role.")

    def _lock_for_change(self, membership: Membership) -> Membership:
        """Lock the owner memberships, then the target, and return the target as it is now.

        Every change takes the owner locks first and in id order, so two concurrent demotions queue up
        instead of deadlocking, and the second one sees the first one's result.
        """
        owner_ids = list(
            Membership.objects.select_for_update()
            .filter(organization=self.organization, role=MembershipRole.OWNER, is_active=True)
            .order_by("id")
            .values_list("id", flat=True)
        )
        locked = Membership.objects.select_for_update().filter(pk=membership.pk, is_active=True).first()
        if locked is None:  # removed meanwhile
            raise MemberNotFound()
        locked.user = membership.user
        locked.is_last_owner = owner_ids == [locked.id]
        return locked

    # --- writes ----------------------------------------------------------------------------------
    @transaction.atomic
    def add_member(
        self, *, email: str, role: str, profile_type: str, first_name: str = "", last_name: str = ""
    ) -> Membership:
        """Add `email` as a member; an unknown email gets an account without a password and an invitation.

        A previously removed member is reactivated; an active member is a BusinessRuleViolation.
        """
        self._check_may_touch(role)
        email = User.objects.normalize_email(email).lower()
        user = User.objects.filter(email__iexact=email).first()
        invite = user is None
        if user is None:
            user = User.objects.create_user(email=email, first_name=first_name, last_name=last_name)
        membership = Membership.objects.select_for_update().filter(organization=self.organization, user=user).first()
        if membership is not None and membership.is_active:
            raise BusinessRuleViolation(f"{email} is already a member of this organization.", code="already_member")
        if membership is None:
            membership = Membership.objects.create(
                organization=self.organization, user=user, role=role, profile_type=profile_type
            )
        else:
            membership.role, membership.profile_type, membership.is_active = role, profile_type, True
            membership.created_at = timezone.now()  # joined again
            membership.save()
        if user.default_organization_id is None:
            User.objects.filter(pk=user.pk).update(default_organization=self.organization)
            user.default_organization = self.organization
        # Someone invited before who never chose a password gets a fresh link as well.
        if invite or not user.has_usable_password():
            organization = self.organization
            transaction.on_commit(lambda: send_invitation_email(user, organization))
        membership.user = user
        return membership

    @transaction.atomic
    def change_member(
        self, membership: Membership, *, role: str | None = None, profile_type: str | None = None
    ) -> Membership:
        """Change a member's role and/or profile type; the last owner can't be demoted."""
        membership = self._lock_for_change(membership)
        self._check_may_touch(membership.role, role or membership.role)
        if role is not None and role != membership.role:
            if membership.is_last_owner:
                raise BusinessRuleViolation(LAST_OWNER_MESSAGE, code="last_owner")
            membership.role = role
        if profile_type is not None:
            membership.profile_type = profile_type
        membership.save()
        return membership

    @transaction.atomic
    def remove_member(self, membership: Membership) -> None:
        """Deactivate a membership and drop the member's roles here; the last owner can't be removed.

        Members may always remove themselves (leave), under the same last-owner rule.
        """
        membership = self._lock_for_change(membership)
        if membership.user_id != getattr(self.actor, "pk", None):
            self._check_may_touch(membership.role)
        if membership.is_last_owner:
            raise BusinessRuleViolation(LAST_OWNER_MESSAGE, code="last_owner")
        membership.is_active = False
        membership.save(update_fields=["is_active", "updated_at"])
        UserRole.objects.filter(organization=self.organization, user_id=membership.user_id).delete()
        _repoint_default_organization([membership.user], self.organization.id)
