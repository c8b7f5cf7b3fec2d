"""django-filter filtersets, one module per resource; the shared filters and the ordering backend live here."""

import copy
from datetime import UTC, date, datetime, time, timedelta
from functools import cache

import django_filters
from django import forms
from django.core.exceptions import FieldDoesNotExist, ImproperlyConfigured
from django.db.models import F
from django.http import QueryDict
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django_filters.filters import QuerySetRequestMixin
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema_field
from rest_framework.exceptions import ValidationError
from rest_framework.filters import OrderingFilter

from crmApp.serializers.fields import MAX_UTC_OFFSET
from crmApp.tenancy import MAX_ID, parse_id

UNASSIGNED = "none"
MINE = "me"


class GivenValueMixin:
    """A parameter that is sent must have a value: `?created_before=` is a 400, not "no filter"."""

    empty_values = (None,)


class GivenIntegerField(GivenValueMixin, forms.IntegerField):
    """An integer query parameter that, once sent, must be one."""


class DateOrDateTimeField(GivenValueMixin, forms.Field):
    """Accepts `YYYY-MM-DD` or an ISO 8601 datetime; returns (value, is_date_only), datetimes in UTC.

    A datetime whose offset or value falls outside what the database stores (years 1-9999 in UTC) is
    invalid, never an error further down.
    """

    default_error_messages = {
        "invalid": "Enter a date (YYYY-MM-DD) or an ISO 8601 date-time.",
        "range": "Enter a moment between the years 1 and 9999 (UTC).",
        "offset": "A UTC offset must be between -15:59 and +15:59.",
    }

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
        if day is not None:
            return day, True
        if moment.utcoffset() is not None and abs(moment.utcoffset()) > MAX_UTC_OFFSET:
            raise forms.ValidationError(self.error_messages["offset"], code="range")
        try:
            moment = moment.replace(tzinfo=UTC) if timezone.is_naive(moment) else moment.astimezone(UTC)
        except OverflowError:
            raise forms.ValidationError(self.error_messages["range"], code="range")
        return moment, False


class MomentBoundFilter(django_filters.Filter):
    """A lower (`…_after`) or upper (`…_before`) bound on a datetime column, both inclusive.

    A date bound covers its whole day: `created_before=2024-03-01` includes all of March 1st.
    """

    field_class = DateOrDateTimeField

    def __init__(self, *, field_name: str, upper: bool, **kwargs):
        self.upper = upper
        super().__init__(field_name=field_name, **kwargs)

    def filter(self, qs, value):
        if value is None:
            return qs
        moment, date_only = value
        lookup = "lte" if self.upper else "gte"
        if date_only:  # a day bound covers the whole day: [day 00:00, next day 00:00)
            if self.upper and moment == date.max:
                return qs  # nothing is stored after the last day there is
            moment = datetime.combine(moment + timedelta(days=1) if self.upper else moment, time.min, tzinfo=UTC)
            lookup = "lt" if self.upper else "gte"
        return qs.filter(**{f"{self.field_name}__{lookup}": moment})


class RecordFilterSet(django_filters.FilterSet):
    """The filters every CRM list has: `created_after` / `created_before` (inclusive) and `updated_after`.

    `updated_after` is for incremental sync: every record changed at or after the moment.

    django-filter deep-copies every filter (choices included) and builds a new form class for each
    request: about a tenth of a filtered list request. Here a filter is copied shallowly (it keeps no
    state but the `model` and `parent` set below), and the form class is built once per filterset,
    its fields shared by every form (see `_form_class`).
    """

    created_after = MomentBoundFilter(field_name="created_at", upper=False)
    created_before = MomentBoundFilter(field_name="created_at", upper=True)
    updated_after = MomentBoundFilter(field_name="updated_at", upper=False)

    def __init__(self, data=None, queryset=None, *, request=None, prefix=None):  # django-filter's, but the copy
        if queryset is None:
            queryset = self._meta.model._default_manager.all()
        self.is_bound = data is not None
        self.data = data or QueryDict()
        self.queryset, self.request, self.form_prefix = queryset, request, prefix
        self.filters = {name: copy.copy(filter_) for name, filter_ in self.base_filters.items()}
        for filter_ in self.filters.values():
            filter_.model, filter_.parent = queryset.model, self

    def get_form_class(self):
        return _form_class(type(self))


class SharedFields(dict):
    """A form class's fields, which its forms share: deep-copying them copies the dict, not the fields.

    A Django form deep-copies its class's fields for each instance, widgets and choices included: a
    third of filtering a request. A filter field holds no per-request state (none reads the request,
    see `_form_class`, and cleaning a value changes no field), so every form may use the same ones.
    """

    def __deepcopy__(self, memo):
        return dict(self)


@cache
def _form_class(filterset_class) -> type[forms.Form]:
    """The form of a filterset class: one field per filter, built once and shared by every form.

    The class's own filters build (and keep) their fields, so the per-request copies share them too:
    a multiple-choice filter reads its field while filtering, and would otherwise build it, choices
    and all, on every request.
    """
    per_request = [name for name, f in filterset_class.base_filters.items() if isinstance(f, QuerySetRequestMixin)]
    if per_request:  # their choices depend on the request, so their field can't be built once
        raise ImproperlyConfigured(f"{filterset_class.__name__} can't share a form: {per_request} read the request.")
    fields = {name: filter_.field for name, filter_ in filterset_class.base_filters.items()}
    form_class = type(f"{filterset_class.__name__}Form", (filterset_class._meta.form,), fields)
    form_class.base_fields = SharedFields(form_class.base_fields)
    return form_class


@extend_schema_field({"type": "integer", "minimum": 1, "maximum": MAX_ID})
class IdFilter(django_filters.NumberFilter):
    """An exact match on a foreign key id; a non-id (text, 0, overflowing) is a 400, a foreign id matches nothing."""

    field_class = GivenIntegerField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(*args, **kwargs)


class CommaSeparatedChoiceField(forms.MultipleChoiceField):
    """A multiple choice that also takes comma-separated values: `?status=new,lost` as `?status=new&status=lost`.

    An empty value (`?status=`) is not a choice, so it is a 400 like any other.
    """

    def to_python(self, value):
        values = super().to_python(value)
        return [part.strip() for item in values for part in item.split(",")]


class MultiChoiceFilter(django_filters.MultipleChoiceFilter):
    """Any of several choices, repeated or comma-separated; filters a plain column, so no DISTINCT."""

    field_class = CommaSeparatedChoiceField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("distinct", False)  # DISTINCT would force a full sort, and there is no join to repeat rows
        super().__init__(*args, **kwargs)


class AssigneeField(GivenValueMixin, forms.CharField):
    """An employee id, `none` or `me`; anything else (text, zero, negative, past a bigint) is invalid."""

    default_error_messages = {"invalid": "Enter an employee id, 'none' or 'me'."}

    def to_python(self, value):
        if value is None:  # not sent
            return None
        value = super().to_python(value)
        if value.lower() in (UNASSIGNED, MINE):
            return value.lower()
        employee_id = parse_id(value)
        if employee_id is None:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        return employee_id


@extend_schema_field(
    {
        "oneOf": [{"type": "integer", "minimum": 1}, {"type": "string", "enum": [UNASSIGNED, MINE]}],
        "description": "An employee id, `none` (unassigned) or `me` (the employee whose user is the caller).",
    }
)
class AssigneeFilter(django_filters.Filter):
    """`assigned_to=<employee id>` (a foreign or missing id matches nothing); `none`: unassigned; `me`: the caller's."""

    field_class = AssigneeField

    def __init__(self, **kwargs):
        kwargs.setdefault("field_name", "assigned_to")
        super().__init__(**kwargs)

    def filter(self, qs, value):
        if value is None:
            return qs
        if value == UNASSIGNED:
            return qs.filter(**{f"{self.field_name}__isnull": True})
        if value == MINE:
            return qs.filter(**{f"{self.field_name}__user": self.parent.request.user})
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
    """`?ordering=<field>` or `-<field>` (one field), then `id` in the same direction, with NULLs last everywhere.

    Rows with equal values keep one order across pages, SQLite and PostgreSQL agree, and
    `-created_at, -id` walks the `(organization, created_at, id)` index backwards.
    """

    def get_ordering(self, request, queryset, view):
        self.check_terms(request, queryset, view)
        ordering = list(super().get_ordering(request, queryset, view) or [])
        if not any(term.lstrip("-") in ("id", "pk") for term in ordering):
            descending = bool(ordering) and ordering[0].startswith("-")
            ordering.append("-id" if descending else "id")
        return ordering

    def check_terms(self, request, queryset, view) -> None:
        """`ordering` must name one allowed field (a 400 on `ordering` otherwise, never silently ignored)."""
        raw = request.query_params.get(self.ordering_param)
        if raw is None:
            return
        allowed = {name for name, _ in self.get_valid_fields(queryset, view, {"request": request})}
        if raw.removeprefix("-") not in allowed:
            choices = ", ".join(sorted(allowed))
            raise ValidationError({self.ordering_param: [f"Order by one of: {choices} (prefix - to reverse)."]})

    def get_schema_operation_parameters(self, view):
        fields = [field if isinstance(field, str) else field[0] for field in getattr(view, "ordering_fields", [])]
        return [
            {
                "name": self.ordering_param,
                "required": False,
                "in": "query",
                "description": "Sort by a field, descending with `-`; ties are broken by id.",
                "schema": {"type": "string", "enum": [term for field in fields for term in (field, f"-{field}")]},
            }
        ]

    def filter_queryset(self, request, queryset, view):
        ordering = self.get_ordering(request, queryset, view)
        return queryset.order_by(*(ordering_term(queryset.model, term) for term in ordering))


class FilterBackend(DjangoFilterBackend):
    """django-filter, skipped when the request sends none of the filterset's parameters (no form to build)."""

    def filter_queryset(self, request, queryset, view):
        filterset_class = self.get_filterset_class(view, queryset)
        if filterset_class is None or not any(name in request.query_params for name in filterset_class.base_filters):
            return queryset
        return super().filter_queryset(request, queryset, view)
