"""django-filter filtersets, one module per resource; the shared base lives here."""
from datetime import UTC, datetime, time, timedelta

import django_filters
from django import forms
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime


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
