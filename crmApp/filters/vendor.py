"""Vendor list filters: `status`, `vendor_type`, `created_after`, `created_before`."""

import django_filters

from crmApp.filters import CreatedRangeFilterSet
from crmApp.models import Vendor


class VendorFilter(CreatedRangeFilterSet):
    """Filters for /api/vendors/; `vendor_type` matches regardless of case."""

    vendor_type = django_filters.CharFilter(lookup_expr="iexact")

    class Meta:
        model = Vendor
        fields = ["status", "vendor_type"]
