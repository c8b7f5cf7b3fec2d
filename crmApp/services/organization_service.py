"""Organizations and their members: creating one gives it an owner, the default roles and pipeline."""

import hashlib
import secrets
from collections.abc import Collection
from datetime import timedelta

from django.apps import apps
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils import timezone
from django.utils.crypto import get_random_string
from django.utils.text import slugify

from crmApp import access, jobs, tasks
from crmApp.constants import (
    DEFAULT_PIPELINE_NAME,
    DEFAULT_PIPELINE_STAGES,
    DEFAULT_ROLES,
    MembershipRole,
    MembershipStatus,
    ProfileType,
)
from crmApp.exceptions import BusinessRuleViolation, MemberChangeForbidden, MemberNotFound, RecordGone
from crmApp.identity import normalize_email
from crmApp.models import Membership, Organization, Permission, Pipeline, Role, Team, User, UserRole
from crmApp.services.integration_service import disable_webhooks_beyond_reach, revoke_api_keys_of
from crmApp.services.pipeline_service import PipelineService
from crmApp.tenancy import Tenant


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
        stages = [
            {"name": name, "probability": probability, "is_won": is_won, "is_lost": is_lost}
            for name, probability, is_won, is_lost in DEFAULT_PIPELINE_STAGES
        ]
        PipelineService(Tenant.system(organization)).create(name=DEFAULT_PIPELINE_NAME, is_default=True, stages=stages)


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
INVITATION_DAYS = 7


def open_invitations() -> models.Q:
    """Invitations whose link still works: made within the last INVITATION_DAYS.

    An older one answers `invalid_token`, so it is no open invitation: neither listed, changed nor
    cancelled, and inviting the address again is a new invitation.
    """
    return models.Q(status=MembershipStatus.INVITED, invited_at__gt=timezone.now() - timedelta(days=INVITATION_DAYS))


def _repoint_default_organization(users, organization_id: int) -> None:
    """Move users whose default is `organization_id` to the first other organization they still belong to."""
    for user in users:
        if user.default_organization_id != organization_id:
            continue
        fallback = (
            Membership.objects.filter(user=user, status=MembershipStatus.ACTIVE, organization__is_active=True)
            .exclude(organization_id=organization_id)
            .order_by("created_at", "id")
            .values_list("organization_id", flat=True)
            .first()
        )
        User.objects.filter(pk=user.pk).update(default_organization_id=fallback)
        access.user_changed(user.pk)  # an update() sends no signal
        user.default_organization_id = fallback


@transaction.atomic
def update_organization(organization: Organization, *, name: str | None = None) -> Organization:
    """Rename an organization; the slug stays stable so links keep working. The same name writes nothing."""
    if name is not None and name != organization.name:
        organization.name = name
        organization.save(update_fields=["name", "updated_at"])
    return organization


def _belongs_to_organization(model) -> bool:
    return any(field.name == "organization" for field in model._meta.fields)


def _owned_rows(organization: Organization) -> list[models.QuerySet]:
    """A queryset per table of the rows an organization owns; the many-to-many rows come first."""
    owned = []
    for model in apps.get_app_config("crmApp").get_models(include_auto_created=True):
        if model._meta.auto_created:  # a many-to-many table, owned through its parent's organization
            parent = next(
                (
                    field
                    for field in model._meta.fields
                    if field.is_relation and _belongs_to_organization(field.related_model)
                ),
                None,
            )
            if parent is not None:
                owned.insert(0, model._base_manager.filter(**{f"{parent.name}__organization": organization}))
        elif _belongs_to_organization(model):
            owned.append(model._base_manager.filter(organization=organization))
    return owned


@transaction.atomic
def delete_organization(organization: Organization) -> None:
    """Delete an organization with every record it owns, set-based: no row is loaded into Python.

    Django's cascade would load every lead of a million-lead organization to null out the references
    to it; instead each owned table is emptied with one DELETE. The foreign keys are checked at commit
    (deferred on both databases), and every reference into these rows comes from rows of the same
    organization, so only the many-to-many rows (found through their role) must go first. Members whose
    default organization it was fall back to the first other organization they belong to.

    The organization's row is locked first: of simultaneous deletes one deletes, the others find it
    gone (RecordGone, a 404) instead of each answering that it deleted it.
    """
    if not Organization.objects.select_for_update().filter(pk=organization.pk).exists():
        raise RecordGone()
    users = User.objects.filter(default_organization=organization)
    _repoint_default_organization(users, organization.id)
    for rows in _owned_rows(organization):
        rows._raw_delete(rows.db)
    remaining = Organization.objects.filter(pk=organization.pk)
    remaining._raw_delete(remaining.db)
    access.organization_changed(organization.pk)  # raw deletes send no signal


def check_owners_remain(user_ids: Collection[int]) -> None:
    """Refuse deleting the accounts `user_ids` if an organization would be left without an active owner.

    Deleting an account deletes its memberships with it, past MemberService's last-owner rule. The
    owner memberships of the organizations concerned are locked, in id order as MemberService locks
    them, so a demotion committed meanwhile can't leave them ownerless either.
    Raises BusinessRuleViolation `last_owner` naming those organizations.
    """
    owned = Membership.objects.filter(user_id__in=user_ids, role=MembershipRole.OWNER, status=MembershipStatus.ACTIVE)
    owners: dict[int, set[int]] = {}
    for organization_id, user_id in (
        Membership.objects.select_for_update()
        .filter(
            organization_id__in=owned.values("organization_id"),
            role=MembershipRole.OWNER,
            status=MembershipStatus.ACTIVE,
        )
        .order_by("id")
        .values_list("organization_id", "user_id")
    ):
        owners.setdefault(organization_id, set()).add(user_id)
    orphaned = [organization_id for organization_id, ids in owners.items() if ids <= set(user_ids)]
    if orphaned:
        names = ", ".join(Organization.objects.filter(pk__in=orphaned).order_by("name").values_list("name", flat=True))
        raise BusinessRuleViolation(
            f"This account is the last owner of {names}: make another member an owner first.", code="last_owner"
        )


def invitation_token_hash(token: str) -> str:
    """What is stored of an invitation token: its SHA-256, so a database leak accepts nothing."""
    return hashlib.sha256(token.encode()).hexdigest()


class MemberService:
    """Invites, changes and removes the members of one organization; it always keeps an active owner.

    Owner-level changes (making someone an owner, changing or removing an owner) need an owner;
    admin-level ones (making someone an admin, changing or removing an admin) need an owner or admin.
    Without an actor (staff in the Django admin) any role may be touched; the last owner still stays.
    """

    def __init__(self, *, organization: Organization, actor):
        self.organization = organization
        self.actor = actor

    def members(self):
        """The active members and the open invitations of the organization, users joined, oldest first."""
        return (
            Membership.objects.filter(organization=self.organization)
            .filter(models.Q(status=MembershipStatus.ACTIVE) | open_invitations())
            .select_related("user")
            .order_by("created_at", "id")
        )

    def get_member(self, user_id: int) -> Membership:
        """The active membership or open invitation of `user_id`; MemberNotFound when there is none."""
        membership = self.members().filter(user_id=user_id).first()
        if membership is None:
            raise MemberNotFound()
        return membership

    def get_invitation(self, invitation_id: int) -> Membership:
        """An open invitation of this organization by its id; MemberNotFound when there is none."""
        membership = self.members().filter(pk=invitation_id, status=MembershipStatus.INVITED).first()
        if membership is None:
            raise MemberNotFound()
        return membership

    # --- rules -----------------------------------------------------------------------------------
    def _actor_role(self) -> str | None:
        return (
            Membership.objects.filter(organization=self.organization, user=self.actor, status=MembershipStatus.ACTIVE)
            .values_list("role", flat=True)
            .first()
        )

    def _check_may_touch(self, *roles: str) -> None:
        """Owners may touch any role; admins every role but owner; others only plain members."""
        if self.actor is None:
            return
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
            .filter(organization=self.organization, role=MembershipRole.OWNER, status=MembershipStatus.ACTIVE)
            .order_by("id")
            .values_list("id", flat=True)
        )
        locked = (
            Membership.objects.select_for_update()
            .filter(pk=membership.pk, status__in=(MembershipStatus.ACTIVE, MembershipStatus.INVITED))
            .first()
        )
        if locked is None:  # removed meanwhile
            raise MemberNotFound()
        locked.user = membership.user
        locked.is_last_owner = owner_ids == [locked.id]
        return locked

    # --- writes ----------------------------------------------------------------------------------
    @transaction.atomic
    def invite(self, *, email: str, role: str, profile_type: str) -> Membership:
        """Invite `email`: a membership that grants nothing until that exact account accepts the mailed token.

        An address nobody has registered gets an account without a password, which the invitee sets
        when accepting. Raises ValidationError on `email` for a look-alike of another account's address,
        and BusinessRuleViolation (`already_member`) for an active member; inviting again renews the token.
        """
        self._check_may_touch(role)
        email = normalize_email(email)
        user = User.objects.find_by_email(email)
        if user is not None and normalize_email(user.email) != email:
            raise ValidationError({"email": ["This address looks like another account's address; check its spelling."]})
        if user is None:
            if User.objects.email_taken(email):  # a marked look-alike from before skeletons were enforced
                raise ValidationError({"email": ["This address looks like another account's address."]})
            user = User.objects.create_user(email=email)
        membership = Membership.objects.select_for_update().filter(organization=self.organization, user=user).first()
        if membership is not None and membership.status == MembershipStatus.ACTIVE:
            raise BusinessRuleViolation(f"{email} is already a member of this organization.", code="already_member")
        if membership is not None and Membership.objects.filter(open_invitations(), pk=membership.pk).exists():
            # Inviting again replaces the open invitation (its role, its link): as changing or cancelling
            # it would, that needs the right to touch the role it offers.
            self._check_may_touch(membership.role)
        token = secrets.token_urlsafe(32)
        now = timezone.now()
        fields = {
            "role": role,
            "profile_type": profile_type,
            "status": MembershipStatus.INVITED,
            "invited_at": now,
            "invited_by": self.actor,
            "invitation_token_hash": invitation_token_hash(token),
            "created_at": now,
        }
        if membership is None:
            membership = Membership.objects.create(organization=self.organization, user=user, **fields)
        else:
            for name, value in fields.items():
                setattr(membership, name, value)
            membership.save()
        jobs.enqueue(tasks.send_invitation_mail, membership.id, token)
        membership.user = user
        return membership

    @transaction.atomic
    def change_member(
        self, membership: Membership, *, role: str | None = None, profile_type: str | None = None
    ) -> Membership:
        """Change a member's (or an invitation's) role and/or profile type; the last owner can't be demoted."""
        membership = self._lock_for_change(membership)
        self._check_may_touch(membership.role, role or membership.role)
        if role is not None and role != membership.role:
            if membership.is_last_owner:
                raise BusinessRuleViolation(LAST_OWNER_MESSAGE, code="last_owner")
            membership.role = role
        if profile_type is not None:
            membership.profile_type = profile_type
        membership.save()
        disable_webhooks_beyond_reach(organization=self.organization, user_ids=[membership.user_id])
        return membership

    @transaction.atomic
    def remove_member(self, membership: Membership) -> None:
        """Remove a member (roles and teams here dropped, webhooks disabled, API keys revoked), or cancel an invitation.

        The last owner can't be removed. Members may always remove themselves (leave), under the same rule.
        """
        membership = self._lock_for_change(membership)
        if membership.user_id != getattr(self.actor, "pk", None):
            self._check_may_touch(membership.role)
        if membership.is_last_owner:
            raise BusinessRuleViolation(LAST_OWNER_MESSAGE, code="last_owner")
        membership.status = MembershipStatus.REMOVED
        membership.invitation_token_hash = ""
        membership.save(update_fields=["status", "invitation_token_hash", "updated_at"])
        UserRole.objects.filter(organization=self.organization, user_id=membership.user_id).delete()
        # Teams hold active members only: a form sends a team back as it reads it.
        membership.user.teams.remove(*Team.objects.filter(organization=self.organization, members=membership.user_id))
        disable_webhooks_beyond_reach(organization=self.organization, user_ids=[membership.user_id])
        revoke_api_keys_of([membership.user_id], organization=self.organization)
        _repoint_default_organization([membership.user], self.organization.id)


def open_invitation(token: str) -> Membership:
    """The open, unexpired invitation a token belongs to, of an active account, locked.

    Raises BusinessRuleViolation `invalid_token`.
    """
    membership = (
        # The membership alone: locking its organization too would hold every insert there behind the
        # password hashing of an acceptance.
        Membership.objects.select_for_update(of=("self",))
        .select_related("user", "organization")
        .filter(
            open_invitations(),
            invitation_token_hash=invitation_token_hash(token),
            organization__is_active=True,
            # A deactivated account signs in nowhere, so it neither joins nor sets a password here.
            user__is_active=True,
        )
        .first()
    )
    if membership is None:
        raise BusinessRuleViolation(
            "This invitation link is invalid, was cancelled, has been used or has expired.", code="invalid_token"
        )
    return membership


@transaction.atomic
def accept_invitation(
    *, token: str, user=None, password: str | None = None, first_name: str = "", last_name: str = ""
) -> Membership:
    """Make the invited account an active member; the token works once and for its own account only.

    A signed-in `user` accepts their own invitation (another account's token is MemberChangeForbidden,
    a 403). Without a user, the invited account must have no usable password yet: `password` becomes
    its password (validated), and the names are set. Either way the address is proven verified.
    Raises BusinessRuleViolation `invalid_token` and ValidationError on `password`.
    """
    membership = open_invitation(token)
    invited = membership.user
    # Only the fields set here are written: the account row isn't locked, and a deactivation, a new
    # password or a rename committed meanwhile must stand.
    changed = ["is_email_verified"]
    if user is not None:
        if user.pk != invited.pk:
            raise MemberChangeForbidden("This invitation is for another account.")
    else:
        if invited.has_usable_password():
            raise MemberChangeForbidden("Sign in as the invited account to accept this invitation.")
        if not password:
            raise ValidationError({"password": ["Choose a password to accept the invitation."]})
        try:
            validate_password(password, user=invited)
        except ValidationError as error:
            raise ValidationError({"password": error.messages}) from error
        invited.set_password(password)
        changed.append("password")
        for name, value in (("first_name", first_name), ("last_name", last_name)):
            if value:
                setattr(invited, name, value)
                changed.append(name)
    invited.is_email_verified = True
    invited.save(update_fields=changed)
    membership.status = MembershipStatus.ACTIVE
    membership.invitation_token_hash = ""
    membership.created_at = timezone.now()  # joined now
    membership.save(update_fields=["status", "invitation_token_hash", "created_at", "updated_at"])
    if invited.default_organization_id is None:
        User.objects.filter(pk=invited.pk).update(default_organization=membership.organization)
        access.user_changed(invited.pk)  # an update() sends no signal
        invited.default_organization = membership.organization
    return membership
