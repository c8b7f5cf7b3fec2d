"""How a request finds its organization, its membership and its permission codes: the one place."""

from functools import cached_property

from django.db.models import Case, IntegerField, Value, When

from crmApp.constants import ALL_PERMISSION_CODES
from crmApp.exceptions import TenantError
from crmApp.models import Membership, Organization, Permission

ORGANIZATION_HEADER = "HTTP_X_ORGANIZATION_ID"
MAX_ID = 2**63 - 1


def parse_id(raw) -> int | None:
    """A positive database id from untrusted input, or None when it cannot be one."""
    if isinstance(raw, bool):
        return None
    try:
        value = int(str(raw).strip())
    except (TypeError, ValueError):
        return None
    return value if 0 < value <= MAX_ID else None


class Tenant:
    """The caller's active organization and membership for one request."""

    def __init__(self, membership: Membership):
        self.membership = membership
        self.organization: Organization = membership.organization

    @cached_property
    def codes(self) -> frozenset[str]:
        """Every code the caller holds here; owners and admins hold all of them (one query otherwise)."""
        if self.membership.holds_every_code:
            return ALL_PERMISSION_CODES
        return frozenset(
            Permission.objects.filter(
                roles__organization_id=self.organization.id,
                roles__user_roles__user_id=self.membership.user_id,
            )
            .values_list("code", flat=True)
            .distinct()
        )

    def has(self, code: str) -> bool:
        return code in self.codes


def active_memberships(user):
    return Membership.objects.select_related("organization").filter(
        user=user, is_active=True, organization__is_active=True
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


def get_tenant(request) -> Tenant:
    """Resolve (once per request) the active organization; 403 when the caller is not a member."""
    tenant = getattr(request, "_crm_tenant", None)
    if tenant is not None:
        return tenant
    raw = request.META.get(ORGANIZATION_HEADER)
    organization_id = None
    if raw not in (None, ""):
        organization_id = parse_id(raw)
        if organization_id is None:
            raise TenantError("X-Organization-ID must be the id of an organization you belong to.")
    membership = resolve_membership(request.user, organization_id)
    if membership is None:
        raise TenantError()
    tenant = Tenant(membership)
    request._crm_tenant = tenant
    return tenant
