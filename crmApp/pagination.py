"""The standard list envelope {count, next, previous, results}, with counts that don't cost a scan per request.

DRF's page-number paginator runs an exact COUNT(*) on every list request; on an organization with a
million rows that count costs more than the rest of the request. Here the count of a list query is
cached under the organization's data version (crmApp.caching), which every write to any of its rows
moves on: counts stay exact for filtered and unfiltered lists alike (joins included), and the full
count runs once per change instead of once per read.
"""

from functools import cached_property

from django.core.paginator import Paginator
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import PageNumberPagination

from crmApp.caching import cached_for_organization, query_fingerprint


class VersionedCountPaginator(Paginator):
    """A Django paginator whose `count` comes from the cache while the organization's data is unchanged."""

    def __init__(self, object_list, per_page, *, organization_id=None, **kwargs):
        super().__init__(object_list, per_page, **kwargs)
        self.organization_id = organization_id

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        if self.organization_id is None or not hasattr(queryset, "query"):
            return super().count
        return cached_for_organization(self.organization_id, "count", queryset.count, query_fingerprint(queryset))


class StandardPagination(PageNumberPagination):
    """`?page=` and `?page_size=` (default 25, at most 100); a page past the end is a 404."""

    page_size = 25
    page_size_query_param = "page_size"
    max_page_size = 100

    def get_page_size(self, request):
        """`?page_size=` from 1 to `max_page_size`; anything else is a 400 rather than quietly another size."""
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= self.max_page_size:
            raise ValidationError(
                {self.page_size_query_param: [f"Enter a whole number from 1 to {self.max_page_size}."]}
            )
        return int(raw)

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            parameter["schema"]["minimum"] = 1
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"].update(maximum=self.max_page_size, default=self.page_size)
        return parameters

    def paginate_queryset(self, queryset, request, view=None):
        tenant = getattr(request, "_crm_tenant", None)
        self.organization_id = tenant.organization.id if tenant is not None else None
        return super().paginate_queryset(queryset, request, view)

    def django_paginator_class(self, object_list, per_page):
        return VersionedCountPaginator(object_list, per_page, organization_id=self.organization_id)
