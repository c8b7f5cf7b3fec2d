"""Deals: CRUD, stage moves (`move-stage`, `win`, `lose`) and the kanban `board`."""

from drf_spectacular.utils import extend_schema
from rest_framework.decorators import action
from rest_framework.response import Response

from crmApp import tallies
from crmApp.filters.deal import DealFilterSet
from crmApp.listing import RowListMixin
from crmApp.mixins import OrganizationScopedModelViewSet, RecordHistoryMixin, TimelineMixin
from crmApp.models import Deal
from crmApp.query import takes_no_body
from crmApp.serializers.deal import (
    BoardColumnSerializer,
    BoardQuerySerializer,
    DealSerializer,
    LoseSerializer,
    MoveStageSerializer,
)
from crmApp.services.deal_service import DealService
from crmApp.viewsets.export import ExportMixin


class DealViewSet(RowListMixin, ExportMixin, RecordHistoryMixin, TimelineMixin, OrganizationScopedModelViewSet):
    """Deals of the active organization; customer-portal members read the deals of their own customer record."""

    business_rules = {
        **{
            action: [
                "the stage is not one of the deal's pipeline",
                "the pipeline has no open stage to start in",
            ]
            for action in ("create", "update", "partial_update", "move_stage")
        },
        "win": ["the deal's pipeline has no won stage"],
        "lose": ["the deal's pipeline has no lost stage"],
    }
    queryset = Deal.objects.all()
    cached_counts = True
    tallied = tallies.DEALS
    serializer_class = DealSerializer
    permission_resource = "deals"
    portal_lookup = "customer__user"
    service_class = DealService
    filterset_class = DealFilterSet
    search_fields = ["title", "code", "customer__first_name", "customer__last_name", "customer__company_name"]
    ordering_fields = ["created_at", "updated_at", "value", "expected_close_date", "expected_revenue", "closed_at"]
    ordering = ["-created_at", "-id"]

    def scoped_queryset(self, queryset):
        """Everything the deal payload names, in the same query."""
        return queryset.select_related("customer", "stage", "pipeline", "assigned_to")

    @extend_schema(request=MoveStageSerializer, responses=DealSerializer)
    @action(detail=True, methods=["post"], url_path="move-stage", permission_code="deals:update")
    def move_stage(self, request, pk=None):
        """Move the deal to another stage of its pipeline; won/lost stages close it, open ones reopen it."""
        deal = self.get_object()
        deal = self.get_service().move_stage(deal, **self.validated(MoveStageSerializer, request.data))
        return Response(self.get_serializer(deal).data)

    @takes_no_body
    @extend_schema(responses=DealSerializer)
    @action(detail=True, methods=["post"], permission_code="deals:update")
    def win(self, request, pk=None):
        """Move the deal to its pipeline's won stage."""
        deal = self.get_service().win(self.get_object())
        return Response(self.get_serializer(deal).data)

    @extend_schema(request=LoseSerializer, responses=DealSerializer)
    @action(detail=True, methods=["post"], permission_code="deals:update")
    def lose(self, request, pk=None):
        """Move the deal to its pipeline's lost stage, recording the reason."""
        deal = self.get_object()
        deal = self.get_service().lose(deal, **self.validated(LoseSerializer, request.data))
        return Response(self.get_serializer(deal).data)

    @extend_schema(responses=BoardColumnSerializer(many=True))
    @action(
        detail=False,
        methods=["get"],
        permission_code="deals:view",
        pagination_class=None,
        filtered=True,
        query_serializer=BoardQuerySerializer,
    )
    def board(self, request):
        """The kanban of one pipeline: a column per stage in order, honouring the deal filters."""
        query = self.validated_query()
        deals = self.filter_queryset(self.get_queryset())
        columns = self.get_service().board(deals, pipeline=query.get("pipeline"))
        return Response(BoardColumnSerializer(columns, many=True).data)
