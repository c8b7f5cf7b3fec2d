"""The standard list envelope {count, next, previous, results}, with counts that don't cost a scan per request.

DRF's page-number paginator runs an exact COUNT(*) on every list request; on an organization with a
million rows that count costs more than the rest of the request. Here the count of a list of records
(a view with `cached_counts`: customers, leads, deals, activities, employees, vendors, the audit log)
is cached under the organization's data version (crmApp.caching), which every write of those moves
through the services' log: counts stay exact for filtered and unfiltered lists alike (joins included),
and the full count runs once per change instead of once per read. The count's key comes from the request
(route, filters, caller), not from the compiled SQL. Other lists (roles, teams, keys, webhooks, imports,
the trash) are small, or written outside the log, and count on every request.
"""

import hashlib
from functools import cached_property

from django.core.paginator import Paginator
from django.db.models import QuerySet
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import PageNumberPagination

from crmApp import tallies
from crmApp.caching import cached_for_organization, figure_keys
from crmApp.listing import PageRows

# Parameters that change which page is shown or its order, never how many rows there are.
NOT_COUNTED = frozenset({"page", "page_size", "ordering", "format"})


def narrows(request) -> bool:
    """Whether the request sends a parameter that may leave rows out (a filter or a search)."""
    return any(name not in NOT_COUNTED for name in request.query_params)


def whole_list_tally(request, view) -> tallies.Tallied | None:
    """The tally of the records a list shows, when it shows every live record of the organization; else None.

    A view names its model's tally (`tallied`) when its plain list narrows nothing beyond the organization.
    """
    kind = getattr(view, "tallied", None)
    tenant = getattr(request, "_crm_tenant", None)
    if kind is None or not tallies.kept() or tenant is None or tenant.visibility is not None:
        return None
    if getattr(view, "action", None) != "list" or view.kwargs or getattr(view, "portal_access", False):
        return None
    return None if narrows(request) else kind


def reads_the_clock(request, view) -> bool:
    """Whether a filter the request sends compares with the current time (`overdue`)."""
    filterset = getattr(view, "filterset_class", None)
    filters = filterset.base_filters if filterset is not None else {}
    return any(getattr(filters.get(name), "reads_the_clock", False) for name in request.query_params)


def count_key(request, view) -> str | None:
    """What a list's count depends on, from the request itself (compiling the SQL to say it costs more).

    The route and its arguments, the filtering parameters, and who asks with which record scope. None
    (count every time) when a filter reads the clock: its count moves without any write.
    """
    if reads_the_clock(request, view):
        return None
    tenant = getattr(request, "_crm_tenant", None)
    scope_key = tenant.scope_key if tenant is not None else None
    user_id = getattr(request.user, "pk", None)
    if tenant is not None and user_id is not None:
        _remember_scope(user_id, tenant.organization.id, scope_key)
    return _count_key(request, view, user_id, scope_key)


def _count_key(request, view, user_id, scope_key) -> str:
    parameters = sorted(
        (name, value) for name, values in request.query_params.lists() if name not in NOT_COUNTED for value in values
    )
    parts = (type(view).__name__, getattr(view, "action", None), sorted(view.kwargs.items()), parameters)
    parts += (user_id, getattr(view, "portal_access", False), scope_key)
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:32]


# The record scope each caller last listed with, per organization, in this process: what lets a count's
# keys be read with the caller's access, before the scope itself is known (see `count_keys_ahead`).
_last_scopes: dict[tuple, str | None] = {}
MAX_REMEMBERED_SCOPES = 10_000


def _remember_scope(user_id, organization_id, scope_key) -> None:
    if len(_last_scopes) >= MAX_REMEMBERED_SCOPES:
        _last_scopes.clear()
    _last_scopes[user_id, organization_id] = scope_key


def count_keys_ahead(request, view, user_id, organization_id) -> tuple[str, ...]:
    """The cache keys of the count a list request will read, if its caller lists with the scope they last had.

    Read with the caller's access (one round trip instead of two). A guess, never trusted: the paginator
    uses what was read only when its own key, from the scope the request really has, is among these.
    """
    if not getattr(view, "cached_counts", False) or user_id is None or organization_id is None:
        return ()
    if getattr(view, "action", None) != "list":
        return ()
    if getattr(view, "paginator", None) is None:
        return ()
    remembered = (user_id, organization_id)
    if remembered not in _last_scopes or reads_the_clock(request, view):
        return ()
    key = _count_key(request, view, user_id, _last_scopes[remembered])
    return figure_keys(organization_id, "count", key)


class VersionedCountPaginator(Paginator):
    """A Django paginator whose `count` comes from the cache while the organization's data is unchanged."""

    def __init__(self, object_list, per_page, *, organization_id=None, key=None, tally=None, ahead=None, **kwargs):
        super().__init__(object_list, per_page, **kwargs)
        self.organization_id = organization_id
        self.key = key
        self.tally = tally
        self.ahead = ahead

    @cached_property
    def count(self) -> int:
        if self.organization_id is None or self.key is None or not isinstance(self.object_list, QuerySet | PageRows):
            return super().count
        return cached_for_organization(self.organization_id, "count", self._count, self.key, ahead=self.ahead)

    def _count(self) -> int:
        rows = self.object_list.queryset if isinstance(self.object_list, PageRows) else self.object_list
        if self.tally is None:
            return rows.count()
        groups = tallies.totals(self.tally, rows, (), organization_id=self.organization_id, whole=True)
        return tallies.count(groups)


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
        self.count_key = count_key(request, view) if getattr(view, "cached_counts", False) else None
        self.tally = whole_list_tally(request, view) if view is not None else None
        self.ahead = getattr(request, "crm_access_ahead", None)
        return super().paginate_queryset(queryset, request, view)

    def django_paginator_class(self, object_list, per_page):
        return VersionedCountPaginator(
            object_list,
            per_page,
            organization_id=self.organization_id,
            key=self.count_key,
            tally=self.tally,
            ahead=self.ahead,
        )
