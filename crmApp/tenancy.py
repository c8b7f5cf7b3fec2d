"""How a request finds its organization, its membership and its permission codes: the one place.

A `Tenant` is who acts, in which organization, with which codes and from which source. Viewsets build
it once per request; every service receives it, so every query a service runs is scoped by construction.
"""

from functools import cached_property
from typing import NamedTuple

from django.db.models import Case, IntegerField, Q, QuerySet, Value, When

from crmApp import access
from crmApp.constants import (
    ALL_PERMISSION_CODES,
    NEVER_API_KEY_CODES,
    SCOPE_BREADTH,
    ChangeSource,
    MembershipStatus,
    ProfileType,
    RecordScope,
)
from crmApp.exceptions import TenantError
from crmApp.models import ApiKey, Employee, Membership, Organization, Role, Team, Webhook

ORGANIZATION_HEADER = "HTTP_X_ORGANIZATION_ID"
NO_ORGANIZATION = (
    'You belong to no organization yet: create one with POST /api/organizations/ {"name": ...}, '
    "or accept an invitation."
)
MAX_ID = 2**63 - 1
# The records a record scope narrows (API.md › Record visibility and teams).
SCOPED_MODELS = frozenset({"customer", "lead", "deal", "activity"})


def parse_id(raw) -> int | None:
    """A positive database id from untrusted input, or None when it cannot be one.

    Text must be the id as written: ASCII digits without a sign or a leading zero (`int()` would also
    take `+1`, `01` and other scripts' digits such as `١`).
    """
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        value = raw
    else:
        text = str(raw).strip()
        if not (text.isascii() and text.isdigit()) or text.startswith("0") or len(text) > 19:
            return None
        value = int(text)
    return value if 0 < value <= MAX_ID else None


class Reach(NamedTuple):
    """The users whose records a caller sees, and those users' employee records; None for both: everyone's."""

    users: tuple[int, ...] | None
    employees: tuple[int, ...] | None


class Tenant:
    """The organization a piece of work acts in, the user behind it, their codes and the source of the change."""

    def __init__(
        self,
        *,
        organization: Organization,
        user=None,
        membership: Membership | None = None,
        codes: frozenset[str] | None = None,
        source: str = ChangeSource.API,
        roles: tuple[frozenset[str], str] | None = None,
        reach: "Reach | None" = None,
        api_key: ApiKey | None = None,
    ):
        self.organization = organization
        self._user = user
        self.membership = membership
        self.source = source
        self.api_key = api_key  # the key the work acts with (its scopes are `codes`), if any
        if codes is not None:
            self.__dict__["codes"] = codes
        if roles is not None:  # known already (crmApp.access)
            self.__dict__["_roles"] = roles
        if reach is not None:  # known already too
            self.__dict__["reach"] = reach

    @classmethod
    def for_membership(cls, membership: Membership, *, source: str = ChangeSource.API) -> "Tenant":
        """A member acting in their organization with the codes their role and roles give them."""
        return cls(organization=membership.organization, membership=membership, source=source)

    @cached_property
    def user(self):
        """The signed-in user behind the work, or None for the CRM's own."""
        user = self.membership.user if self._user is None and self.membership is not None else self._user
        return user if getattr(user, "is_authenticated", False) else None

    @classmethod
    def system(cls, organization: Organization, *, user=None, source: str = ChangeSource.SYSTEM) -> "Tenant":
        """Work the CRM does itself (or staff do in the admin): every code, attributed to `user` if any."""
        return cls(organization=organization, user=user, codes=ALL_PERMISSION_CODES, source=source)

    @cached_property
    def _roles(self) -> tuple[frozenset[str], str]:
        """The codes and the widest record scope of the member's roles: one query."""
        rows = Role.objects.filter(
            organization_id=self.organization.id, user_roles__user_id=self.membership.user_id
        ).values_list("permissions__code", "record_scope")
        codes = frozenset(code for code, _ in rows if code is not None)
        scopes = {scope for _, scope in rows}
        return codes, next((scope for scope in SCOPE_BREADTH if scope in scopes), RecordScope.ALL)

    @cached_property
    def codes(self) -> frozenset[str]:
        """Every code the caller holds here; owners and admins hold all of them."""
        if self.membership is None or self.membership.holds_every_code:
            return ALL_PERMISSION_CODES
        return self._roles[0]

    @cached_property
    def record_scope(self) -> str:
        """`all`, `team` or `own`: the widest scope of the member's roles (owners, admins and the CRM: all)."""
        if self.membership is None or self.membership.holds_every_code:
            return RecordScope.ALL
        return self._roles[1]

    @cached_property
    def reach(self) -> "Reach":
        """Whose records the caller sees: (users, their employee records); (None, None): everyone's.

        Two queries for a `team` scope, one for `own`; cached with the rest of the caller's access.
        """
        if self.record_scope == RecordScope.ALL:
            return Reach(None, None)
        users = (self.membership.user_id,)
        if self.record_scope == RecordScope.TEAM:
            teammates = Team.members.through.objects.filter(
                team__organization_id=self.organization.id, team__members__id=users[0]
            ).values_list("user_id", flat=True)
            users = tuple(sorted({*users, *teammates}))
        employees = Employee.with_trashed.filter(organization_id=self.organization.id, user_id__in=users)
        return Reach(users, tuple(employees.values_list("id", flat=True)))

    @property
    def visible_users(self) -> tuple[int, ...] | None:
        """Whose records the caller sees (created by them or assigned to their employee record); None: everyone's."""
        return self.reach.users

    @cached_property
    def visibility(self) -> Q | None:
        """The condition a customer, lead, deal or activity must meet to be seen here; None: no condition."""
        users, employees = self.reach
        if users is None:
            return None
        return Q(created_by_id__in=users) | Q(assigned_to_id__in=employees)

    def visible(self, queryset: QuerySet) -> QuerySet:
        """`queryset` narrowed to what the record scope lets the caller see (scoped models only)."""
        if queryset.model._meta.model_name not in SCOPED_MODELS or self.visibility is None:
            return queryset
        return queryset.filter(self.visibility)

    @property
    def scope_key(self) -> str:
        """Part of the key of cached figures: two callers share a figure only when they see the same records."""
        users = self.visible_users
        return "all" if users is None else "users-" + "-".join(map(str, users))

    @cached_property
    def active_webhooks(self) -> list[Webhook]:
        """The organization's active webhooks (their ids and events), read once per piece of work."""
        return list(Webhook.objects.filter(organization_id=self.organization.id, is_active=True).only("id", "events"))

    def has(self, code: str) -> bool:
        return code in self.codes

    @property
    def is_portal_customer(self) -> bool:
        """A customer-portal member: sees only its own customer record and that customer's deals."""
        return self.membership is not None and self.membership.profile_type == ProfileType.CUSTOMER


def active_memberships(user):
    return Membership.objects.select_related("organization").filter(
        user=user, status=MembershipStatus.ACTIVE, organization__is_active=True
    )


def resolve_membership(user, organization_id: int | None = None) -> Membership | None:
    """The active membership in `organization_id`, or in the user's default organization."""
    memberships = active_memberships(user)
    if organization_id is not None:
        return memberships.filter(organization_id=organization_id).first()
    # The organization they registered with first, else the first one they joined: one query.
    preferred = Case(
        When(organization_id=user.default_organization_id, then=Value(0)), default=Value(1), output_field=IntegerField()
    )
    return memberships.order_by(preferred, "created_at", "id").first()


def requested_organization_id(request) -> int | None:
    """The id in X-Organization-ID, None without the header; a header that can't be an id (empty too) is a 403."""
    raw = request.META.get(ORGANIZATION_HEADER)
    if raw is None:
        return None
    organization_id = parse_id(raw)
    if organization_id is None:
        raise TenantError("X-Organization-ID must be the id of an organization you belong to.")
    return organization_id


def member_access(
    user, organization_id: int | None, ahead: "access.ReadAhead | None" = None
) -> tuple[Membership, frozenset[str], str, Reach] | None:
    """(membership, codes, record scope, reach) of the user in `organization_id` (None: their default), or None.

    Cached under the user's and the organization's access versions (crmApp.access); `ahead` is what
    authentication already read of them.
    """

    def load():
        membership = resolve_membership(user, organization_id)
        if membership is None:
            return None
        tenant = Tenant.for_membership(membership)
        return membership, tenant.codes, tenant.record_scope, tenant.reach

    found = access.cached_access(user.pk, organization_id, load, ahead)
    if found is None:
        return None
    membership, codes, scope, reach = found
    membership.user = user
    return membership, codes, scope, reach


def api_key_tenant(request, key: ApiKey) -> Tenant:
    """The key's organization only, with its scopes that its creator still holds (never a managing code)."""
    organization_id = requested_organization_id(request)
    if organization_id is not None and organization_id != key.organization_id:
        raise TenantError("An API key acts only in its own organization.")
    return key_tenant(key)


def key_tenant(key: ApiKey, *, source: str = ChangeSource.API) -> Tenant:
    """The key's creator in the key's organization, with the key's scopes they still hold."""
    found = member_access(key.created_by, key.organization_id)
    if found is None:
        raise TenantError("The member who created this API key no longer belongs to its organization.")
    membership, held, scope, reach = found
    codes = frozenset(key.scopes) & held - NEVER_API_KEY_CODES
    return Tenant(
        organization=membership.organization,
        membership=membership,
        codes=codes,
        roles=(held, scope),
        reach=reach,
        source=source,
        api_key=key,
    )


def get_tenant(request) -> Tenant:
    """Resolve (once per request) the active organization; 403 when the caller is not a member."""
    tenant = getattr(request, "_crm_tenant", None)
    if tenant is not None:
        return tenant
    if isinstance(request.auth, ApiKey):
        request._crm_tenant = api_key_tenant(request, request.auth)
        return request._crm_tenant
    organization_id = requested_organization_id(request)
    found = member_access(request.user, organization_id, getattr(request, "crm_access_ahead", None))
    if found is None and organization_id is None:
        raise TenantError(NO_ORGANIZATION, code="no_organization")
    if found is None:
        raise TenantError()
    membership, codes, scope, reach = found
    tenant = Tenant(
        organization=membership.organization, membership=membership, codes=codes, roles=(codes, scope), reach=reach
    )
    request._crm_tenant = tenant
    return tenant
