"""The permission catalogue, roles, and role assignments of the active organization."""

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, viewsets
from rest_framework.filters import SearchFilter
from rest_framework.permissions import IsAuthenticated

from crmApp.filters import FilterBackend, StableOrderingFilter
from crmApp.filters.rbac import UserRoleFilter
from crmApp.mixins import CountedRefusalsMixin, OrganizationScopedModelViewSet, OrganizationScopedViewSet
from crmApp.models import Permission, Role, Team, UserRole
from crmApp.pagination import StandardPagination
from crmApp.permissions import INTERNAL_MEMBER, HasOrganizationPermission
from crmApp.query import KnownQueryParametersMixin
from crmApp.serializers.rbac import PermissionSerializer, RoleSerializer, TeamSerializer, UserRoleSerializer
from crmApp.services.rbac_service import RoleService, TeamService, UserRoleService

# Any member but a customer-portal one reads the catalogue, roles and assignments.
READ_INTERNAL = {"list": INTERNAL_MEMBER, "retrieve": INTERNAL_MEMBER, "metadata": INTERNAL_MEMBER}
WRITE_ROLES_MANAGE = dict.fromkeys(("create", "update", "partial_update", "destroy"), "roles:manage")


class CataloguePagination(StandardPagination):
    """The whole catalogue fits one default page; the envelope stays the standard one."""

    page_size = 100


@extend_schema_view(list=extend_schema(summary="Every permission code and what it allows"))
class PermissionViewSet(
    CountedRefusalsMixin, KnownQueryParametersMixin, mixins.ListModelMixin, viewsets.GenericViewSet
):
    """`/api/permissions/`: the global catalogue of codes, for any active member of the active organization."""

    # The catalogue is global data without an organization; only the membership check applies.
    dangerously_unscoped = "The permission catalogue is the same for every organization."
    uses_organization_header = True
    queryset = Permission.objects.order_by("code")
    serializer_class = PermissionSerializer
    pagination_class = CataloguePagination
    filter_backends = []
    permission_classes = [IsAuthenticated, HasOrganizationPermission]
    permission_resource = ""
    permission_codes = READ_INTERNAL
    permission_code = None
    portal_lookup = None


class RoleViewSet(OrganizationScopedModelViewSet):
    """`/api/roles/`: the active organization's roles; any member reads, `roles:manage` writes."""

    business_rules = {
        action: ["the organization already has a role of this name (ignoring case)"]
        for action in ("create", "update", "partial_update")
    }
    queryset = Role.objects.all()
    serializer_class = RoleSerializer
    service_class = RoleService
    permission_codes = {**READ_INTERNAL, **WRITE_ROLES_MANAGE}
    filter_backends = [SearchFilter, StableOrderingFilter]
    search_fields = ["name"]
    # Names are unique per organization, so every offered ordering is stable across pages.
    ordering_fields = ["name", "id"]
    ordering = ["name", "id"]

    def scoped_queryset(self, queryset):
        return queryset.prefetch_related("permissions")


class UserRoleViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.DestroyModelMixin,
    OrganizationScopedViewSet,
):
    """`/api/user-roles/`: which member holds which role; any member reads, `roles:manage` writes."""

    business_rules = {
        "create": ["the user is not an active member of the organization", "the member already holds the role"]
    }
    queryset = UserRole.objects.all()
    serializer_class = UserRoleSerializer
    service_class = UserRoleService
    permission_codes = {**READ_INTERNAL, **WRITE_ROLES_MANAGE}
    filter_backends = [FilterBackend, StableOrderingFilter]
    filterset_class = UserRoleFilter
    ordering_fields = ["id"]
    ordering = ["id"]

    def perform_create(self, serializer):
        serializer.instance = self.get_service().create(**serializer.validated_data)

    def perform_destroy(self, instance):
        self.get_service().delete(instance)


class TeamViewSet(OrganizationScopedModelViewSet):
    """`/api/teams/`: any internal member reads; `members:manage` writes. Teams widen a `team` record scope."""

    business_rules = {
        action: ["the organization already has a team of this name (ignoring case)"]
        for action in ("create", "update", "partial_update")
    }
    queryset = Team.objects.all()
    serializer_class = TeamSerializer
    service_class = TeamService
    permission_codes = {
        **READ_INTERNAL,
        **dict.fromkeys(("create", "update", "partial_update", "destroy"), "members:manage"),
    }
    filter_backends = [SearchFilter, StableOrderingFilter]
    search_fields = ["name"]
    ordering_fields = ["name", "id"]
    ordering = ["name", "id"]

    def scoped_queryset(self, queryset):
        return queryset.prefetch_related("members")
