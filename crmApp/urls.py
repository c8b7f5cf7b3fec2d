"""API routes under /api/."""

from django.urls import include, path
from rest_framework.permissions import AllowAny
from rest_framework.routers import APIRootView, DefaultRouter

from crmApp.viewsets import (
    activity,
    analytics,
    auth,
    customer,
    deal,
    employee,
    health,
    imports,
    integration,
    lead,
    organization,
    pipeline,
    rbac,
    trash,
    vendor,
)


class CRMRootView(APIRootView):
    """GET /api/: the top-level resources, with their URLs; open to anyone, like the docs."""

    authentication_classes = []
    permission_classes = [AllowAny]
    schema = None  # a map of the API, not an operation of it


router = DefaultRouter()
router.APIRootView = CRMRootView
router.register("organizations", organization.OrganizationViewSet, basename="organization")
router.register("permissions", rbac.PermissionViewSet, basename="permission")
router.register("roles", rbac.RoleViewSet, basename="role")
router.register("user-roles", rbac.UserRoleViewSet, basename="user-role")
router.register("teams", rbac.TeamViewSet, basename="team")
router.register("employees", employee.EmployeeViewSet, basename="employee")
router.register("vendors", vendor.VendorViewSet, basename="vendor")
router.register("customers", customer.CustomerViewSet, basename="customer")
router.register("leads", lead.LeadViewSet, basename="lead")
router.register("pipelines", pipeline.PipelineViewSet, basename="pipeline")
router.register("pipeline-stages", pipeline.PipelineStageViewSet, basename="pipeline-stage")
router.register("deals", deal.DealViewSet, basename="deal")
router.register("activities", activity.ActivityViewSet, basename="activity")
router.register("audit-log", activity.AuditLogViewSet, basename="audit-log")
router.register("webhooks", integration.WebhookViewSet, basename="webhook")
router.register("api-keys", integration.ApiKeyViewSet, basename="api-key")
router.register("imports", imports.ImportViewSet, basename="import")
router.register("analytics", analytics.AnalyticsViewSet, basename="analytics")

urlpatterns = [
    path("health/", health.HealthView.as_view(), name="health"),
    path("auth/", include(auth.urlpatterns)),
    path("users/me/", auth.MeView.as_view(), name="me"),
    path("invitations/accept/", auth.InvitationAcceptView.as_view(), name="invitation-accept"),
    path("trash/", trash.TrashViewSet.as_view({"get": "list"}), name="trash-list"),
    path(
        "trash/<str:resource>/<str:pk>/restore/",
        trash.TrashViewSet.as_view({"post": "restore"}),
        name="trash-restore",
    ),
    path("trash/<str:resource>/<str:pk>/", trash.TrashViewSet.as_view({"delete": "purge"}), name="trash-purge"),
    path("", include(router.urls)),
]
