"""`?ordering=` that gives every database the same, complete order."""
from django.core.exceptions import FieldDoesNotExist
from django.db.models import F
from rest_framework.filters import OrderingFilter


def ordering_term(model, term: str):
    """`name` / `-name`, with NULLs last when the column is nullable (SQLite puts them first by default).

    Non-nullable columns keep the plain term: `DESC NULLS LAST` would stop PostgreSQL from
    reading an ascending index backwards, turning a cheap page into a full sort.
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
    """DRF's OrderingFilter with `id` appended when the ordering lacks it, and NULLs last everywhere.

    Rows with equal values then keep one order across pages, and SQLite and PostgreSQL agree.
    """

    def get_ordering(self, request, queryset, view):
        ordering = super().get_ordering(request, queryset, view)
        if not ordering:
            return ordering
        ordering = list(ordering)
        if not any(term.lstrip("-") in ("id", "pk") for term in ordering):
            ordering.append("id")
        return ordering

    def filter_queryset(self, request, queryset, view):
        ordering = self.get_ordering(request, queryset, view)
        if not ordering:
            return queryset
        return queryset.order_by(*(ordering_term(queryset.model, term) for term in ordering))
