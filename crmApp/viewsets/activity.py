"""`/api/activities/`: CRUD, `complete` and `reopen`; and `/api/audit-log/`."""

from drf_spectacular.utils import extend_schema
from rest_framework import mixins
from rest_framework.decorators import action
from rest_framework.response import Response

from crmApp import history
from crmApp.filters import FilterBackend
from crmApp.filters.activity import ActivityFilter
from crmApp.filters.history import AuditLogFilter
from crmApp.mixins import OrganizationScopedModelViewSet, OrganizationScopedViewSet, RecordHistoryMixin
from crmApp.models import Activity, HistoryEntry
from crmApp.query import takes_no_body
from crmApp.serializers.activity import ActivitySerializer
from crmApp.serializers.history import AuditEntrySerializer
from crmApp.services.activity_service import ActivityService
from crmApp.viewsets.export import ExportMixin


class ActivityViewSet(ExportMixin, RecordHistoryMixin, OrganizationScopedModelViewSet):
    """Notes, calls, meetings, tasks and emails about the organization's customers, leads and deals.

    Customer-portal members never see activities.
    """

    queryset = Activity.objects.all()
    cached_counts = True
    serializer_class = ActivitySerializer
    service_class = ActivityService
    permission_resource = "activities"
    business_rules = {
        action: ["the activity names none of customer, lead and deal"]
        for action in ("create", "update", "partial_update")
    }
    filterset_class = ActivityFilter
    search_fields = ["subject", "code"]
    ordering_fields = ["due_at", "created_at", "updated_at"]
    ordering = ["-created_at", "-id"]

    @takes_no_body
    @extend_schema(responses=ActivitySerializer)
    @action(detail=True, methods=["post"], permission_code="activities:update")
    def complete(self, request, pk=None):
        """Mark the activity done (by the caller, now); completing it again keeps the first `done_at`."""
        return Response(self.get_serializer(self.get_service().complete(self.get_object())).data)

    @takes_no_body
    @extend_schema(responses=ActivitySerializer)
    @action(detail=True, methods=["post"], permission_code="activities:update")
    def reopen(self, request, pk=None):
        """Mark the activity not done again."""
        return Response(self.get_serializer(self.get_service().reopen(self.get_object())).data)


class AuditLogViewSet(mixins.ListModelMixin, OrganizationScopedViewSet):
    """`/api/audit-log/`: every change and event of the organization's records, newest first (`audit:view`).

    Entries outlive their records: a deleted record's history stays here.
    """

    queryset = HistoryEntry.objects.all()
    cached_counts = True
    serializer_class = AuditEntrySerializer
    permission_codes = {"list": "audit:view", "metadata": "audit:view"}
    filter_backends = [FilterBackend]
    filterset_class = AuditLogFilter

    def scoped_queryset(self, queryset):
        return history.visible_entries(self.tenant, queryset).select_related("actor").order_by("-at", "-id")
