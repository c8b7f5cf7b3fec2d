"""/api/customers/: CRUD, statistics, the top customers and bulk changes."""

from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework.decorators import action
from rest_framework.response import Response

from crmApp import tallies
from crmApp.filters.customer import CustomerFilter
from crmApp.listing import RowListMixin
from crmApp.mixins import OrganizationScopedModelViewSet, RecordHistoryMixin, TimelineMixin
from crmApp.models import Customer
from crmApp.serializers.customer import (
    CustomerBulkDeleteResultSerializer,
    CustomerBulkDeleteSerializer,
    CustomerBulkUpdateResultSerializer,
    CustomerBulkUpdateSerializer,
    CustomerSerializer,
    CustomerStatsSerializer,
    TopCustomerSerializer,
    TopCustomersQuerySerializer,
)
from crmApp.serializers.errors import ErrorSerializer
from crmApp.services.customer_service import CustomerService
from crmApp.viewsets.export import ExportMixin
from crmApp.viewsets.merging import MERGE_RULES, DuplicatesMergeMixin, merge_codes

PROTECTED_RESPONSE = OpenApiResponse(
    response=ErrorSerializer,
    description="The customer has deals (`code: protected`); nothing was deleted.",
)
# The list actions return one object or a plain array: no pagination, no list filters.
PLAIN = {"detail": False, "pagination_class": None, "filter_backends": []}


@extend_schema_view(destroy=extend_schema(responses={204: None, 409: PROTECTED_RESPONSE}))
class CustomerViewSet(
    RowListMixin, ExportMixin, DuplicatesMergeMixin, RecordHistoryMixin, TimelineMixin, OrganizationScopedModelViewSet
):
    """Customers; a customer-portal member may read the customer records linked to them."""

    business_rules = {
        "merge": MERGE_RULES,
        **{
            action: ["a name the customer type needs is blank (an individual's first and last name, a company name)"]
            for action in ("create", "update", "partial_update")
        },
        "bulk_update": ["`data` sets no field"],
    }
    queryset = Customer.objects.all()
    cached_counts = True
    tallied = tallies.CUSTOMERS
    serializer_class = CustomerSerializer
    service_class = CustomerService
    permission_resource = "customers"
    permission_codes = merge_codes("customers")
    portal_lookup = "user"
    filterset_class = CustomerFilter
    search_fields = ["first_name", "last_name", "company_name", "contact_person", "email", "code"]
    ordering_fields = [
        "created_at",
        "updated_at",
        "code",
        "first_name",
        "last_name",
        "company_name",
        "customer_type",
        "status",
    ]
    ordering = ["-created_at", "-id"]

    @extend_schema(responses=CustomerStatsSerializer)
    @action(methods=["get"], permission_code="customers:view", **PLAIN)
    def stats(self, request):
        """Counts of the organization's customers by status and type, and the new ones this month."""
        return Response(CustomerStatsSerializer(self.get_service().stats()).data)

    @extend_schema(responses=TopCustomerSerializer(many=True))
    @action(methods=["get"], permission_code="customers:view", query_serializer=TopCustomersQuerySerializer, **PLAIN)
    def top(self, request):
        """The customers with the most won-deal revenue, highest first."""
        query = self.validated_query()
        return Response(TopCustomerSerializer(self.get_service().top(limit=query["limit"]), many=True).data)

    @extend_schema(
        request=CustomerBulkDeleteSerializer,
        responses={200: CustomerBulkDeleteResultSerializer, 409: PROTECTED_RESPONSE},
    )
    @action(methods=["post"], url_path="bulk-delete", permission_code="customers:delete", **PLAIN)
    def bulk_delete(self, request):
        """Delete the listed customers of the organization; refused whole if any has deals."""
        body = self.validated(CustomerBulkDeleteSerializer, request.data)
        deleted = self.get_service().bulk_delete(ids=body["ids"])
        return Response(CustomerBulkDeleteResultSerializer({"deleted": deleted}).data)

    @extend_schema(request=CustomerBulkUpdateSerializer, responses=CustomerBulkUpdateResultSerializer)
    @action(methods=["post"], url_path="bulk-update", permission_code="customers:update", **PLAIN)
    def bulk_update(self, request):
        """Set the status and/or assignee of the listed customers of the organization."""
        body = self.validated(CustomerBulkUpdateSerializer, request.data)
        updated = self.get_service().bulk_update(ids=body["ids"], **body["data"])
        return Response(CustomerBulkUpdateResultSerializer({"updated": updated}).data)
