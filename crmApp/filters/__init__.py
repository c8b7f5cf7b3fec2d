"""django-filter filtersets, one module per resource; the shared filters and the ordering backend live here."""

from datetime import UTC, datetime, time, timedelta

import django_filters
from django import forms
from django.core.exceptions import FieldDoesNotExist
from django.db.models import F
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework.filters import OrderingFilter

from crmApp.tenancy import MAX_ID, parse_id

UNASSIGNED = "none"


class DateOrDateTimeField(forms.Field):
    """Accepts `YYYY-MM-DD` or an ISO 8601 datetime; returns (value, is_date_only)."""

    default_error_messages = {"invalid": "Enter a date (YYYY-MM-DD) or an ISO 8601 date-time."}

    def to_python(self, value):
        if value in self.empty_values:
            return None
        value = str(value).strip()
        try:
            # parse_datetime also accepts a bare date (as midnight); a day must stay a whole day.
            day = parse_date(value) if len(value) == 10 else None
            moment = None if day else parse_datetime(value)
        except ValueError:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        if moment is None and day is None:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        return (moment, False) if moment else (day, True)


class CreatedBoundFilter(django_filters.Filter):
    """`created_after` includes the whole given day; `created_before` includes it too (up to its end)."""

    field_class = DateOrDateTimeField

    def __init__(self, *, upper: bool, **kwargs):
        self.upper = upper
        super().__init__(field_name="created_at", **kwargs)

    def filter(self, qs, value):
        if value is None:
            return qs
        moment, date_only = value
        lookup = "lte" if self.upper else "gte"
        if date_only:  # a day bound covers the whole day: [day 00:00, next day 00:00)
            moment = datetime.combine(moment + timedelta(days=1) if self.upper else moment, time.min)
            lookup = "lt" if self.upper else "gte"
        if timezone.is_naive(moment):
            moment = timezone.make_aware(moment, UTC)
        return qs.filter(**{f"{self.field_name}__{lookup}": moment})


class CreatedRangeFilterSet(django_filters.FilterSet):
    """Adds `created_after` / `created_before` (dates or date-times, both inclusive) to a resource's filters."""

    created_after = CreatedBoundFilter(upper=False)
    created_before = CreatedBoundFilter(upper=True)


@extend_schema_field(OpenApiTypes.INT)
class IdFilter(django_filters.NumberFilter):
    """An exact match on a foreign key id; a non-id (text, 0, overflowing) is a 400, a foreign id matches nothing."""

    field_class = forms.IntegerField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(*args, **kwargs)


class AssigneeField(forms.CharField):
    """An employee id, or `none`; anything else (text, zero, negative, past a bigint) is invalid."""

    default_error_messages = {"invalid": "Enter an employee id or 'none'."}

    def to_python(self, value):
        value = super().to_python(value)
        if value in self.empty_values:
            return None
        if value.lower() == UNASSIGNED:
            return UNASSIGNED
        employee_id = parse_id(value)
        if employee_id is None:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        return employee_id


@extend_schema_field(OpenApiTypes.STR)
class AssigneeFilter(django_filters.Filter):
    """`assigned_to=<employee id>` (a foreign or missing id matches nothing); `assigned_to=none`: unassigned rows."""

    field_class = AssigneeField

    def __init__(self, **kwargs):
        kwargs.setdefault("field_name", "assigned_to")
        super().__init__(**kwargs)

    def filter(self, qs, value):
        if value is None:
            return qs
        if value == UNASSIGNED:
            return qs.filter(**{f"{self.field_name}__isnull": True})
        return qs.filter(**{f"{self.field_name}_id": value})


def ordering_term(model, term: str):
    """`name` / `-name`, with NULLs last when the column is nullable (SQLite puts them first by default).

    Non-nullable columns keep the plain term: `NULLS LAST` would stop PostgreSQL from reading an
    index backwards, turning a cheap page into a full sort.
    """
    name = term.lstrip("-")
    try:
        nullable = model._meta.get_field(name).null
    except FieldDoesNotExist:
        nullable = False
    if not nullable:
        return term
    return F(name).desc(nulls_last=True) if term.startswith("-") else F(name).asc(nulls_last=True)


class StableOrderingFilter(OrderingFilter):
    """DRF's OrderingFilter ending on `id`, in the first key's direction, with NULLs last everywhere.

    Rows with equal values keep one order across pages, SQLite and PostgreSQL agree, and
    `-created_at, -id` walks the `(organization, created_at, id)` index backwards.
    """

    def get_ordering(self, request, queryset, view):
        ordering = list(super().get_ordering(request, queryset, view) or [])
        if not any(term.lstrip("-") in ("id", "pk") for term in ordering):
            descending = bool(ordering) and ordering[0].startswith("-")
            ordering.append("-id" if descending else "id")
        return ordering

    def filter_queryset(self, request, queryset, view):
        ordering = self.get_ordering(request, queryset, view)
        return queryset.order_by(*(ordering_term(queryset.model, term) for term in ordering))
