"""RBAC: which `resource:action` code a request needs, and whether the caller holds it."""

from django.core.exceptions import ImproperlyConfigured
from rest_framework.permissions import BasePermission

from crmApp.constants import ProfileType
from crmApp.tenancy import get_tenant

# The code a standard viewset action needs is `<permission_resource>:<verb>`.
ACTION_VERBS = {
    "list": "view",
    "retrieve": "view",
    "metadata": "view",
    "create": "create",
    "update": "update",
    "partial_update": "update",
    "destroy": "delete",
}
# Declared instead of a code where being an active member of the organization is enough.
ANY_MEMBER = "any-member"
PORTAL_ACTIONS = frozenset({"list", "retrieve"})


def required_code(view) -> str:
    """The code `view.action` needs; an action nobody declared a code for is a configuration error."""
    action = view.action
    if action in view.permission_codes:
        return view.permission_codes[action]
    if view.permission_code is not None:  # set per route by @action(permission_code=...)
        return view.permission_code
    if action in ACTION_VERBS and view.permission_resource:
        return f"{view.permission_resource}:{ACTION_VERBS[action]}"
    raise ImproperlyConfigured(f"{type(view).__name__}.{action} declares no permission code.")


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
        code = required_code(view)
        if code == ANY_MEMBER or tenant.has(code):
            return True
        if (
            view.portal_lookup
            and view.action in PORTAL_ACTIONS
            and tenant.membership.profile_type == ProfileType.CUSTOMER
        ):
            view.portal_access = True
            return True
        return False
