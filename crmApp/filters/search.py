"""`?search=`: DRF's search, looked up in a model's stored search document where it keeps one."""

from django.db.models import Func, TextField, Value
from django.db.models.functions import StrIndex, Upper
from django.db.models.lookups import GreaterThan
from rest_framework.filters import SearchFilter

from crmApp.models.base import SEARCH_SEPARATOR


class Once(Func):
    """A scalar subquery of its expression: computed once per query rather than for every row.

    A prepared statement's generic plan (crmAdmin/settings.py prepares repeated queries) keeps
    `UPPER($1)` as an expression over a parameter and evaluates it again for each row it filters, which
    doubled the page query of a search.
    """

    template = "(SELECT %(expressions)s)"
    output_field = TextField()


class DocumentSearchFilter(SearchFilter):
    """Each term must appear, case-insensitively, in one of the view's `search_fields`.

    A view whose model keeps those fields in a search document (`search_document`, see
    crmApp.models.base) names it in `search_document`: each term is then one substring test on that column,
    which finds exactly what DRF's per-field lookups find, since the document's fields are joined by a
    separator that a term would have to hold to match across two of them. A term that holds it is
    looked up field by field, as DRF does.
    """

    def filter_queryset(self, request, queryset, view):
        document = getattr(view, "search_document", None)
        if document is None:
            return super().filter_queryset(request, queryset, view)
        terms = self.get_search_terms(request)
        if any(SEARCH_SEPARATOR in term for term in terms):
            return super().filter_queryset(request, queryset, view)
        for term in terms:
            # The document is stored in upper case, so the term is upper-cased by the same database function.
            # A plain substring test rather than LIKE: nothing to escape, and PostgreSQL's STRPOS reads the
            # document faster (a search's count reads every live lead's).
            queryset = queryset.filter(GreaterThan(StrIndex(document, Once(Upper(Value(term)))), 0))
        return queryset
