"""Vendor list filters: `status`, `vendor_type` and the record ranges."""

import django_filters

from crmApp.constants import ActiveStatus
from crmApp.filters import MultiChoiceFilter, RecordFilterSet
from crmApp.models import Vendor


class VendorFilter(RecordFilterSet):
    """Filters for /api/vendors/; `vendor_type` matches regardless of case."""

    status = MultiChoiceFilter(choices=ActiveStatus.choices)
    vendor_type = django_filters.CharFilter(lookup_expr="iexact")

    class Meta:
        model = Vendor
        fields = ["status", "vendor_type"]
