"""`/api/trash/`: trashed customers, leads, deals, activities, employees and vendors; restore and purge.

Each needs `<resource>:delete`, and sees only what the caller's record scope shows.
"""

from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, PolymorphicProxySerializer, extend_schema
from rest_framework.response import Response

from crmApp.mixins import OrganizationScopedViewSet
from crmApp.permissions import INTERNAL_MEMBER
from crmApp.query import takes_no_body
from crmApp.serializers.activity import ActivitySerializer
from crmApp.serializers.customer import CustomerSerializer
from crmApp.serializers.deal import DealSerializer
from crmApp.serializers.employee import EmployeeSerializer
from crmApp.serializers.lead import LeadSerializer
from crmApp.serializers.trash import TrashedRecordSerializer, TrashQuerySerializer
from crmApp.serializers.vendor import VendorSerializer
from crmApp.services.activity_service import ActivityService
from crmApp.services.customer_service import CustomerService
from crmApp.services.deal_service import DealService
from crmApp.services.employee_service import EmployeeService
from crmApp.services.lead_service import LeadService
from crmApp.services.vendor_service import VendorService
from crmApp.tenancy import parse_id

# resource -> (its service, how the API shows a restored record)
RESOURCES = {
    "customers": (CustomerService, CustomerSerializer),
    "leads": (LeadService, LeadSerializer),
    "deals": (DealService, DealSerializer),
    "activities": (ActivityService, ActivitySerializer),
    "employees": (EmployeeService, EmployeeSerializer),
    "vendors": (VendorService, VendorSerializer),
}
RESOURCE_PATH = OpenApiParameter("resource", str, OpenApiParameter.PATH, enum=list(RESOURCES))
RESTORED_RECORD = PolymorphicProxySerializer(
    component_name="RestoredRecord",
    serializers=[serializer for _, serializer in RESOURCES.values()],
    resource_type_field_name=None,
)
ID_PATH = OpenApiParameter("id", int, OpenApiParameter.PATH)


class TrashViewSet(OrganizationScopedViewSet):
    """Deleted records wait here for `TRASH_RETENTION_DAYS`, then `purge_trash` removes them."""

    # Each action reads through the resource's service, so no queryset here; the code an action needs
    # depends on the resource it names and is checked in the action.
    permission_codes = {
        "list": INTERNAL_MEMBER,
        "restore": INTERNAL_MEMBER,
        "purge": INTERNAL_MEMBER,
        "metadata": INTERNAL_MEMBER,
    }
    filter_backends = ()
    versioned_records = True  # restore and purge take `If-Match` (crmApp.schema documents the 412)

    @property
    def query_serializer(self):
        """Only the list takes `?resource=`; restore and purge name the resource in their path."""
        return TrashQuerySerializer if self.action == "list" else None

    def get_serializer_class(self):
        """What the list answers; OPTIONS describes it (restore and purge take no body)."""
        return TrashedRecordSerializer

    def resource_service(self, resource: str):
        """The resource's service, once the caller is known to hold `<resource>:delete` (404 for no resource)."""
        if resource not in RESOURCES:
            raise Http404
        self.require_codes(f"{resource}:delete")
        # Restore and purge write one record: `If-Match` names the version they may write.
        return RESOURCES[resource][0](self.tenant, expected_versions=self.if_match())

    def trashed_record(self, service, pk):
        record = service.trashed.filter(pk=parse_id(pk) or 0).first()
        if record is None:
            raise Http404
        return record

    @extend_schema(parameters=[TrashQuerySerializer], responses=TrashedRecordSerializer(many=True))
    def list(self, request):
        """Trashed records of one resource, most recently deleted first."""
        resource = self.validated_query()["resource"]
        rows = self.resource_service(resource).trashed.select_related(None).order_by("-deleted_at", "-id")
        page = self.paginate_queryset(rows)
        context = {"resource": resource}
        return self.get_paginated_response(TrashedRecordSerializer(page, many=True, context=context).data)

    @takes_no_body
    @extend_schema(parameters=[RESOURCE_PATH, ID_PATH], responses=RESTORED_RECORD)
    def restore(self, request, resource=None, pk=None):
        """Bring the record back, with its code and relations; the answer is the record."""
        service = self.resource_service(resource)
        record = service.restore(self.trashed_record(service, pk))
        return Response(RESOURCES[resource][1](record, context=self.get_serializer_context()).data)

    @takes_no_body
    @extend_schema(parameters=[RESOURCE_PATH, ID_PATH], responses={204: None})
    def purge(self, request, resource=None, pk=None):
        """Delete the record for good; its history stays."""
        service = self.resource_service(resource)
        service.purge(self.trashed_record(service, pk))
        return Response(status=204)
