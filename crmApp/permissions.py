"""RBAC: which `resource:action` code a request needs, and whether the caller holds it."""

from django.core.exceptions import ImproperlyConfigured
from rest_framework.permissions import BasePermission

from crmApp.constants import MembershipRole
from crmApp.tenancy import Tenant, get_tenant, parse_id

# The code a standard viewset action needs is `<permission_resource>:<verb>`.
ACTION_VERBS = {
    "list": "view",
    "retrieve": "view",
    "metadata": "view",
    "create": "create",
    "update": "update",
    "partial_update": "update",
    "destroy": "delete",
    "history": "view",
    "timeline": "view",
    "export": "view",
    "duplicates": "view",
}
# Declared instead of a code where being an active member of the organization is enough.
ANY_MEMBER = "any-member"
# Any active member except a customer-portal one, who sees only its own customer and deals.
INTERNAL_MEMBER = "internal-member"
# Rules of /api/organizations/…, where the organization comes from the URL.
SIGNED_IN = "signed-in"
OWNER = "owner"
OWNER_OR_ADMIN = "owner-or-admin"
# members:manage, or the caller removing their own membership (leaving).
MEMBERS_MANAGE = "members:manage"
MEMBERS_MANAGE_OR_SELF = "members:manage-or-self"
# OPTIONS (`metadata`) too: it tells the portal member which of those routes' methods it may use.
PORTAL_ACTIONS = frozenset({"list", "retrieve", "metadata"})
ALWAYS_ALLOWED_METHODS = ("OPTIONS",)


def required_code(view, action: str | None = None) -> str:
    """The code `action` (default: the view's) needs; an action nobody declared a code for is a configuration error."""
    action = action or view.action
    if action in view.permission_codes:
        return view.permission_codes[action]
    if action == view.action and view.permission_code is not None:  # an @action route, its OPTIONS too
        return view.permission_code
    handler = getattr(view, action, None)
    declared = getattr(handler, "kwargs", {}).get("permission_code")  # @action(permission_code=...)
    if declared is not None:
        return declared
    if action in ACTION_VERBS and view.permission_resource:
        return f"{view.permission_resource}:{ACTION_VERBS[action]}"
    raise ImproperlyConfigured(f"{type(view).__name__}.{action} declares no permission code.")


def holds(tenant: Tenant, code: str) -> bool:
    """Whether the tenant's caller satisfies `code` (a permission code or one of the membership rules)."""
    if code == ANY_MEMBER:
        return True
    if code == INTERNAL_MEMBER:
        return not tenant.is_portal_customer
    return tenant.has(code)


def portal_may(view, tenant: Tenant, action: str) -> bool:
    """A customer-portal member may list and read (and ask OPTIONS of) a view that declares `portal_lookup`."""
    return bool(view.portal_lookup) and action in PORTAL_ACTIONS and tenant.is_portal_customer


class HasOrganizationPermission(BasePermission):
    """Allows a request when the caller holds the action's code in the active organization.

    A customer-portal member without the code may still list/retrieve on a view that declares
    `portal_lookup`; the view then narrows its queryset to the caller's own records.
    """

    message = "You do not have permission to perform this action."

    def has_permission(self, request, view):
        if not (request.user and request.user.is_authenticated):
            return False
        tenant = get_tenant(request)
        if view.action is None:  # no handler for this method on the route: DRF answers 405 next
            return True
        if holds(tenant, required_code(view)):
            return True
        if portal_may(view, tenant, view.action):
            view.portal_access = True
            return True
        return False


def permitted_methods(view, request) -> list[str]:
    """The HTTP methods of the view's route that the caller may use (what OPTIONS advertises)."""
    tenant = get_tenant(request)
    permitted = []
    for method in view.allowed_methods:
        action = view.action_map.get(method.lower())
        if method in ALWAYS_ALLOWED_METHODS or (
            action and (holds(tenant, required_code(view, action)) or portal_may(view, tenant, action))
        ):
            permitted.append(method)
    return permitted


def organization_rule_allows(view, request, action: str) -> bool:
    """Whether the caller's membership in the URL's organization satisfies `action`'s access rule."""
    try:
        rule = view.access_rules[action]
    except KeyError:
        raise ImproperlyConfigured(f"{type(view).__name__}.{action} declares no access rule.")
    if rule == SIGNED_IN:
        return True
    membership = view.url_membership  # a 404 for an organization the caller doesn't belong to
    if rule == OWNER:
        return membership.role == MembershipRole.OWNER
    if rule == OWNER_OR_ADMIN:
        return membership.holds_every_code
    if rule == MEMBERS_MANAGE_OR_SELF:
        if parse_id(view.kwargs.get("user_id")) == request.user.pk:
            return True
        rule = MEMBERS_MANAGE
    return holds(Tenant.for_membership(membership), rule)


class OrganizationAccess(BasePermission):
    """Checks the caller's membership in the organization named by the URL (not X-Organization-ID).

    Not being an active member of it is a 404, so other organizations' ids reveal nothing.
    """

    message = "You do not have permission to perform this action."

    def has_permission(self, request, view):
        if not (request.user and request.user.is_authenticated):
            return False
        if view.action is None:  # a method the route doesn't offer: DRF answers 405 next
            return True
        return organization_rule_allows(view, request, view.action)
