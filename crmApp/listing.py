"""The list fast path: a page of records read as plain rows and rendered through a precompiled field plan.

A list through a ModelSerializer builds a model instance per row and walks DRF's field machinery for
every field of every row; at 25 rows that costs more than the page's query. Here a serializer class is
resolved once per process into a plan: for each field, the columns of one `values_list` it reads and
how they become its representation (DRF's own `to_representation`, skipped only where that returns
the database value unchanged). The output is exactly the serializer's, which the tests check field by
field on every list that uses it.

A field that is neither a column nor a foreign key (a method field, a property) must be declared by
the serializer in `row_fields`, whose value is the field's representation; a plan that meets an
undeclared one refuses to compile.

A page lookup that can also be written as SQL over the row is selected with the page itself when the
page skips few rows: one query instead of two. Deeper pages keep the second query, because the page
query evaluates its select list for every row that OFFSET skips.

Building a page's queryset (tenancy, filters, search, ordering) and compiling it cost more than
PostgreSQL takes to run it. A process therefore remembers a page query's SQL under everything it
depends on, read from the request (`page_query_key`): the route and its query string, the caller, their
organization, codes and reach, and the versions of their access and of the organization's data, which
every change to the rows the SQL could read moves on. A request whose key it holds runs that SQL without
building anything.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, getcontext
from functools import cache, cached_property, partial
from types import SimpleNamespace

from django.conf import settings
from django.core.exceptions import EmptyResultSet, FieldDoesNotExist, ImproperlyConfigured
from django.db import connection
from django.db.models.expressions import RawSQL
from django.utils import timezone
from rest_framework import ISO_8601, serializers
from rest_framework.response import Response
from rest_framework.settings import api_settings

# DRF representations that hand a database value of their type back unchanged.
UNCHANGED = frozenset(
    {
        serializers.CharField.to_representation,
        serializers.ChoiceField.to_representation,
        serializers.IntegerField.to_representation,
        serializers.BooleanField.to_representation,
        serializers.PrimaryKeyRelatedField.to_representation,
    }
)
# The most rows a page may skip and still select its lookups inline. They are evaluated for every
# skipped row too (a few microseconds each); measured, inline was still cheaper at 100 rows skipped and
# a second query at 250.
INLINE_MAX_OFFSET = 100
# Stands for the record id while one record's row query is compiled (record_rows).
ONE_RECORD = -(2**62)
# Page queries a process remembers; past this many it starts again. A query string or SQL longer than
# these (a search of many terms) is not remembered, so the store stays under about 40 MB.
MAX_PAGE_QUERIES = 2048
MAX_REMEMBERED_QUERY_STRING = 1024
MAX_REMEMBERED_SQL = 16 * 1024


@dataclass(frozen=True)
class Columns:
    """A field computed from columns of the row (paths as `values_list` takes them): `compute(*values)`."""

    columns: tuple[str, ...]
    compute: Callable | None = None  # None: the one column's value


@dataclass(frozen=True)
class PageLookup:
    """A field read for the whole page in one query: `lookup(ids)` answers {record id: value}; absent is null.

    `inline(table)`, where given: the same value as an SQL expression over one row of `table` (quoted).
    """

    lookup: Callable[[list[int]], dict]
    inline: Callable[[str], str] | None = None


def own_property(prop: property, reads: tuple[str, ...]) -> Columns:
    """A property of the record itself, computed by the model's own code from the columns it reads."""
    return Columns(reads, lambda *values: prop.fget(SimpleNamespace(**dict(zip(reads, values, strict=True)))))


def related_property(relation: str, prop: property, reads: tuple[str, ...]) -> Columns:
    """A property of a related record (`customer.display_name`); null when the relation is."""

    def compute(related_id, *values):
        if related_id is None:
            return None
        return prop.fget(SimpleNamespace(**dict(zip(reads, values, strict=True))))

    return Columns((relation, *(f"{relation}__{name}" for name in reads)), compute)


def _column_of(model, field: serializers.Field, name: str) -> Columns:
    """The column a model or foreign-key field reads, following dotted sources through relations."""
    path = field.source.split(".")
    current = model
    try:
        for step in path[:-1]:
            current = current._meta.get_field(step).related_model
        target = current._meta.get_field(path[-1])
    except (FieldDoesNotExist, AttributeError):
        target = None
    if target is None or not target.concrete:
        raise ImproperlyConfigured(f"{name!r} is not a column; declare it in the serializer's `row_fields`.")
    return Columns(("__".join(path),))


class ListPlan:
    """How one serializer class renders a page of plain rows; `select` makes the page query.

    `inline`: page lookups that have SQL of their own are selected as columns of the page query.
    """

    def __init__(self, serializer_class, *, inline: bool = False):
        serializer = serializer_class()
        declared = getattr(serializer_class, "row_fields", {})
        table = connection.ops.quote_name(serializer_class.Meta.model._meta.db_table)
        self.columns: list[str] = ["id"]
        self.annotations: dict[str, RawSQL] = {}
        self.lookups: dict[str, PageLookup] = {}
        self.steps: list[tuple] = []  # (name, column index or None, compute, indices, convert)
        self._one_record: dict[type, str] = {}  # model: its one-record SQL, or "" for the ORM (record_rows)
        for name, field in serializer.fields.items():
            if field.write_only:
                continue
            spec = declared.get(name)
            if spec is not None:  # computes the representation itself
                convert = None
            else:
                spec = _column_of(serializer_class.Meta.model, field, name)
                convert = _converter(field)
            if isinstance(spec, PageLookup) and inline and spec.inline is not None:
                alias = f"{name}_inline"  # not the serializer's name, which may be a relation of the model
                self.annotations[alias] = RawSQL(spec.inline(table), ())
                spec = Columns((alias,))
            if isinstance(spec, PageLookup):
                self.lookups[name] = spec
                self.steps.append((name, None, None, (), convert))
                continue
            indices = tuple(self._index(column) for column in spec.columns)
            single = indices[0] if spec.compute is None else None
            self.steps.append((name, single, spec.compute, indices, convert))

    def _index(self, column: str) -> int:
        if column not in self.columns:
            self.columns.append(column)
        return self.columns.index(column)

    def select(self, queryset):
        """The rows of `queryset` that `render` takes."""
        return queryset.annotate(**self.annotations).values_list(*self.columns)

    def record_rows(self, model, ids: list[int]) -> list[tuple]:
        """The rows of the records `ids` of `model`, trashed ones too, in no particular order.

        Writes with webhooks read one record at a time, and building and compiling that query cost three
        times what PostgreSQL takes to run it: on PostgreSQL its SQL is compiled once per process. A row
        whose values Django converts after reading (none of the API's today) is read through the ORM.
        """
        records = model._base_manager
        sql = self._one_record.get(model) if len(ids) == 1 and connection.vendor == "postgresql" else ""
        if sql is None:
            compiled = plain_sql(self.select(records.filter(pk=ONE_RECORD)))
            sql = compiled[0] if compiled is not None and list(compiled[1]) == [ONE_RECORD] else ""
            self._one_record[model] = sql
        if not sql:
            return list(self.select(records.filter(pk__in=ids)))
        with connection.cursor() as cursor:
            cursor.execute(sql, ids)
            return cursor.fetchall()

    def render(self, rows) -> list[dict]:
        """The serializer's representation of each row, in order."""
        zone = timezone.get_current_timezone() if settings.USE_TZ else None  # as DRF's DateTimeField reads it
        rows = list(rows)
        ids = [row[0] for row in rows]
        looked_up = {name: spec.lookup(ids) for name, spec in self.lookups.items()} if rows else {}
        results = []
        for row in rows:
            item = {}
            for name, single, compute, indices, convert in self.steps:
                if single is not None:
                    value = row[single]
                elif compute is not None:
                    value = compute(*[row[index] for index in indices])
                else:
                    value = looked_up[name].get(row[0])
                item[name] = value if value is None or convert is None else convert(value, zone)
            results.append(item)
        return results


def _converter(field: serializers.Field) -> Callable | None:
    """`convert(value, zone)`: the field's representation of a database value; None when it is the value."""
    represent = type(field).to_representation
    if represent in UNCHANGED:
        return None
    if represent is serializers.BigIntegerField.to_representation and not _bigint_as_string(field):
        return None  # an IntegerField's: the integer itself
    if represent is serializers.DateTimeField.to_representation and _iso_format(field):
        return partial(_iso_datetime, field)
    if represent is serializers.DecimalField.to_representation and _plain_decimal(field):
        return partial(_fixed_point, field)
    return lambda value, zone: field.to_representation(value)


def _bigint_as_string(field: serializers.BigIntegerField) -> bool:
    return getattr(field, "coerce_to_string", api_settings.COERCE_BIGINT_TO_STRING)


def _iso_format(field: serializers.DateTimeField) -> bool:
    output = getattr(field, "format", api_settings.DATETIME_FORMAT)
    return isinstance(output, str) and output.lower() == ISO_8601 and not hasattr(field, "timezone")


def _plain_decimal(field: serializers.DecimalField) -> bool:
    coerced = getattr(field, "coerce_to_string", api_settings.COERCE_DECIMAL_TO_STRING)
    return coerced and not field.localize and not field.normalize_output and field.decimal_places is not None


def _fixed_point(field: serializers.DecimalField, value, zone):
    """DRF's text of a decimal that already has the field's places (as a column of that scale reads back).

    Quantizing such a value changes nothing (DRF quantizes within `max_digits`, else the context's
    precision), so it is written as it is; any other goes through DRF.
    """
    if type(value) is Decimal:
        _, digits, exponent = value.as_tuple()
        precision = field.max_digits if field.max_digits is not None else getcontext().prec
        if exponent == -field.decimal_places and len(digits) <= precision:
            return f"{value:f}"
    return field.to_representation(value)


def _iso_datetime(field: serializers.DateTimeField, value, zone):
    """DRF's ISO 8601 rendering of an aware datetime in the current zone (`Z` for UTC), without its overhead."""
    if zone is None or not isinstance(value, datetime) or value.tzinfo is None:
        return field.to_representation(value)
    try:
        text = value.astimezone(zone).isoformat()
    except OverflowError:
        return field.to_representation(value)  # DRF's own error
    return text[:-6] + "Z" if text.endswith("+00:00") else text


@cache
def list_plan(serializer_class, *, inline: bool = False) -> ListPlan:
    """The plan of a serializer class, compiled once per process."""
    return ListPlan(serializer_class, inline=inline)


def plain_sql(queryset) -> tuple[str, tuple] | None:
    """(SQL, parameters) of a `values_list` queryset whose rows need no conversion by Django; else None.

    Running that SQL on a cursor gives exactly the queryset's rows: Django selects the columns in the
    order the rows hold them.
    """
    compiler = queryset.query.get_compiler(connection=connection)
    try:
        sql, params = compiler.as_sql()
    except EmptyResultSet:  # the ORM answers no rows without asking the database
        return None
    selected = compiler.select[: compiler.col_count]
    if compiler.get_converters([column[0] for column in selected]):
        return None
    if compiler.has_extra_select:  # columns only the ordering needs, which Django cuts off the rows
        return None
    return sql, tuple(params)


# Page queries by page_query_key: (slice start, slice stop, SQL, parameters).
_page_queries: dict[tuple, tuple] = {}


def page_query_key(request, view, plan) -> tuple | None:
    """Everything a list page's SQL depends on, from the request; None: build and compile it as usual.

    Only PostgreSQL runs remembered SQL (SQLite's rows need converting). The versions are those this
    request read with the caller's access (crmApp.access), so a key only exists with the shared cache;
    a filter that reads the clock makes SQL that no key describes.
    """
    from crmApp.caching import version_key  # (imported here: crmApp.caching reads the models' apps)
    from crmApp.pagination import reads_the_clock

    ahead = getattr(request, "crm_access_ahead", None)
    tenant = getattr(request, "_crm_tenant", None)
    if ahead is None or tenant is None or connection.vendor != "postgresql":
        return None
    user_id, organization_id = getattr(request.user, "pk", None), tenant.organization.id
    if not ahead.serves(user_id, organization_id):
        return None  # access read ahead for another caller or organization
    versions = ahead.access_versions()
    data_version = ahead.found.get(version_key(organization_id))
    query_string = request.META.get("QUERY_STRING", "")
    if versions is None or data_version is None or len(query_string) > MAX_REMEMBERED_QUERY_STRING:
        return None
    if reads_the_clock(request, view):
        return None
    return (
        type(view),
        view.action,
        tuple(sorted(view.kwargs.items())),
        query_string,
        id(plan),
        organization_id,
        user_id,
        view.portal_access,
        tenant.codes,
        tenant.record_scope,
        tenant.reach,
        timezone.get_current_timezone_name(),
        versions,
        data_version,
    )


class PageRows:
    """A list's rows as the paginator reads them (a count and one slice), from remembered SQL when there is.

    `build()` makes the list's queryset; it runs only when something needs it: a count that isn't
    cached, or a slice whose SQL isn't remembered.
    """

    def __init__(self, build: Callable, key: tuple | None):
        self._build, self.key = build, key
        if key is None or key not in _page_queries:
            self.queryset  # noqa: B018 - built now, so a bad filter is refused before anything else

    @cached_property
    def queryset(self):
        return self._build()

    def count(self) -> int:
        return self.queryset.count()

    def __len__(self) -> int:
        return self.count()

    def __getitem__(self, index):
        if not isinstance(index, slice) or self.key is None:
            return self.queryset[index]
        entry = _page_queries.get(self.key)
        if entry is None or entry[:2] != (index.start, index.stop):
            compiled = plain_sql(self.queryset[index])
            if compiled is None:
                return list(self.queryset[index])
            entry = (index.start, index.stop, *compiled)
            if len(compiled[0]) + sum(len(str(value)) for value in compiled[1]) <= MAX_REMEMBERED_SQL:
                if len(_page_queries) >= MAX_PAGE_QUERIES:
                    _page_queries.clear()
                _page_queries[self.key] = entry
        with connection.cursor() as cursor:
            cursor.execute(entry[2], entry[3])
            return cursor.fetchall()


class RowListMixin:
    """`list` read as rows and rendered through the serializer's plan, not through model instances."""

    def list(self, request, *args, **kwargs):
        plan = list_plan(self.get_serializer_class(), inline=self.skips_few_rows(request))
        rows = PageRows(
            lambda: plan.select(self.filter_queryset(self.get_queryset()).prefetch_related(None)),
            page_query_key(request, self, plan) if self.paginator is not None else None,
        )
        page = self.paginate_queryset(rows)
        if page is None:
            return Response(plan.render(rows.queryset))
        return self.get_paginated_response(plan.render(page))

    def skips_few_rows(self, request) -> bool:
        """Whether the page asked for skips at most INLINE_MAX_OFFSET rows (unpaginated lists skip none)."""
        paginator = self.paginator
        if paginator is None:
            return True
        number = request.query_params.get(paginator.page_query_param) or "1"  # as DRF reads it
        if not (number.isascii() and number.isdigit()) or len(number) > 6:
            return False  # `last`, or what the paginator will refuse
        return (int(number) - 1) * paginator.get_page_size(request) <= INLINE_MAX_OFFSET
