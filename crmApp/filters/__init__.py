"""django-filter filtersets, one module per resource; the shared base lives here."""
import django_filters


class CreatedRangeFilterSet(django_filters.FilterSet):
    """Adds `created_after` / `created_before` (ISO dates or datetimes, inclusive) to a resource's filters."""

    created_after = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lte")
