"""`/api/leads/`: CRUD, `stats`, `assign` and `convert`."""

from django.db.models import Prefetch
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.response import Response

from crmApp import tallies
from crmApp.filters.lead import LeadFilter
from crmApp.listing import RowListMixin
from crmApp.mixins import OrganizationScopedModelViewSet, RecordHistoryMixin, TimelineMixin
from crmApp.models import Customer, Lead
from crmApp.pagination import narrows
from crmApp.serializers.lead import (
    LeadAssignSerializer,
    LeadConversionSerializer,
    LeadConvertSerializer,
    LeadSerializer,
    LeadStatsSerializer,
)
from crmApp.services.lead_service import LeadService
from crmApp.viewsets.export import ExportMixin
from crmApp.viewsets.merging import MERGE_RULES, DuplicatesMergeMixin, merge_codes


class LeadViewSet(
    RowListMixin, ExportMixin, DuplicatesMergeMixin, RecordHistoryMixin, TimelineMixin, OrganizationScopedModelViewSet
):
    """Leads of the active organization; status changes go through PATCH, conversion through `convert`."""

    business_rules = {
        "merge": MERGE_RULES,
        "create": ["the lead would start in a final status, `converted` or `lost` (`invalid_transition`)"],
        **{
            action: ["the status change breaks the lead workflow (`invalid_transition`)"]
            for action in ("update", "partial_update")
        },
        "convert": [
            "the lead is not `qualified` (`invalid_transition`)",
            "the lead has neither a company nor a last name (`incomplete_lead`)",
            "the pipeline has no open stage",
        ],
    }
    queryset = Lead.objects.all()
    cached_counts = True
    serializer_class = LeadSerializer
    service_class = LeadService
    permission_resource = "leads"
    permission_codes = merge_codes("leads")
    filterset_class = LeadFilter
    search_fields = list(Lead.SEARCHED_FIELDS)
    search_document = "search_text"
    tallied = tallies.LEADS
    ordering_fields = ["created_at", "updated_at", "score", "estimated_value", "last_name", "status"]
    ordering = ["-created_at"]

    def scoped_queryset(self, queryset):
        # The converted customer's id comes in one extra query for the whole page; a join would make
        # a deep page's OFFSET join every skipped row too.
        return queryset.prefetch_related(
            Prefetch("converted_customer", queryset=Customer.objects.only("id", "converted_from_lead_id", "deleted_at"))
        )

    def export_queryset(self, queryset):
        # One statement (one snapshot) for the whole file; there is no OFFSET to pay for here.
        return queryset.prefetch_related(None).select_related("converted_customer")

    @extend_schema(responses=LeadStatsSerializer)
    @action(detail=False, methods=["get"], permission_code="leads:view", filtered=True)
    def stats(self, request):
        """Totals by status and source and the average score, over the leads the list filters select."""
        leads = self.filter_queryset(self.get_queryset()) if narrows(request) else None
        return Response(LeadStatsSerializer(self.get_service().stats(queryset=leads)).data)

    @extend_schema(request=LeadAssignSerializer, responses=LeadSerializer)
    @action(detail=True, methods=["post"], permission_code="leads:update")
    def assign(self, request, pk=None):
        """Assign the lead to an employee of the organization (`null` unassigns it)."""
        lead = self.get_object()
        body = self.validated(LeadAssignSerializer, request.data)
        lead = self.get_service().assign(lead, body["employee"])
        return Response(self.get_serializer(lead).data)

    @extend_schema(request=LeadConvertSerializer, responses={201: LeadConversionSerializer})
    @action(detail=True, methods=["post"], permission_code="leads:update")
    def convert(self, request, pk=None):
        """Convert a qualified lead into a customer, and a deal when `create_deal` is true.

        Besides `leads:update` the caller needs `customers:create`, and `deals:create` for a deal,
        since conversion creates those records.
        """
        lead = self.get_object()
        self.require_codes("customers:create")
        body = self.validated(LeadConvertSerializer, request.data)
        if body["create_deal"]:
            self.require_codes("deals:create")
        customer, deal = self.get_service().convert(lead, **body)
        return Response(
            LeadConversionSerializer({"customer": customer, "deal": deal}).data, status=status.HTTP_201_CREATED
        )
