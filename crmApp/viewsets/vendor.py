"""/api/vendors/: CRUD on the organization's vendors."""

from crmApp.filters.vendor import VendorFilter
from crmApp.mixins import OrganizationScopedModelViewSet, RecordHistoryMixin
from crmApp.models import Vendor
from crmApp.serializers.vendor import VendorSerializer
from crmApp.services.vendor_service import VendorService


class VendorViewSet(RecordHistoryMixin, OrganizationScopedModelViewSet):
    """Vendors of the active organization."""

    queryset = Vendor.objects.all()
    cached_counts = True
    serializer_class = VendorSerializer
    service_class = VendorService
    permission_resource = "vendors"
    filterset_class = VendorFilter
    search_fields = ["name", "email", "contact_person", "code"]
    ordering_fields = ["created_at", "updated_at", "code", "name", "vendor_type", "status"]
    ordering = ["name", "id"]
