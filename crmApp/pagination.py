"""The standard list envelope {count, next, previous, results}, with counts that don't cost a scan per request.

DRF's page-number paginator runs an exact COUNT(*) on every list request; on an organization with a
million rows that count costs more than the rest of the request. Here the count of a list query is
cached under the organization's data version, and every write to any of the organization's rows moves
that version on, so a cached count is never stale: it stays exact for filtered and unfiltered lists
alike (joins included), and the full count runs once per change instead of once per read.
"""
import hashlib
import uuid
from functools import cached_property

from django.core.cache import cache
from django.core.paginator import Paginator
from django.db import transaction
from rest_framework.pagination import PageNumberPagination

COUNT_TTL_SECONDS = 600  # a safety net only; versions keep cached counts exact


def _version_key(organization_id) -> str:
    return f"crm:data-version:{organization_id}"


def data_version(organization_id) -> str:
    """The current version token of one organization's data."""
    key = _version_key(organization_id)
    version = cache.get(key)
    if version is None:
        version = uuid.uuid4().hex
        cache.add(key, version, timeout=None)
        version = cache.get(key, version)
    return version


def invalidate_counts(organization_id) -> None:
    """Forget the cached list counts of one organization.

    The version moves now (so this transaction's own reads recount) and again at commit (so a count
    taken by another request before the commit is never reused). Saves and deletes call this through
    signals; code that writes with QuerySet.update(), bulk_create() or raw SQL must call it itself.
    """
    key = _version_key(organization_id)
    cache.set(key, uuid.uuid4().hex, timeout=None)
    transaction.on_commit(lambda: cache.set(key, uuid.uuid4().hex, timeout=None))


class VersionedCountPaginator(Paginator):
    """A Django paginator whose `count` comes from the cache while the data version is unchanged."""

    def __init__(self, object_list, per_page, *, organization_id=None, **kwargs):
        super().__init__(object_list, per_page, **kwargs)
        self.organization_id = organization_id

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        if self.organization_id is None or not hasattr(queryset, "query"):
            return super().count
        sql, params = queryset.query.sql_with_params()
        fingerprint = hashlib.sha256(repr((sql, params)).encode()).hexdigest()
        version = data_version(self.organization_id)
        key = f"crm:count:{self.organization_id}:{version}:{fingerprint}"
        count = cache.get(key)
        if count is None:
            count = queryset.count()
            cache.set(key, count, timeout=COUNT_TTL_SECONDS)
        return count


class StandardPagination(PageNumberPagination):
    """`?page=` and `?page_size=` (default 25, at most 100); a page past the end is a 404."""

    page_size = 25
    page_size_query_param = "page_size"
    max_page_size = 100

    def paginate_queryset(self, queryset, request, view=None):
        tenant = getattr(request, "_crm_tenant", None)
        self.organization_id = tenant.organization.id if tenant is not None else None
        return super().paginate_queryset(queryset, request, view)

    def django_paginator_class(self, object_list, per_page):
        return VersionedCountPaginator(object_list, per_page, organization_id=self.organization_id)
