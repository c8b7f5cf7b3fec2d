"""Which query parameters an endpoint takes; any other one is a 400 naming it, never silently ignored.

A typo such as `?stauts=new` would otherwise answer every record as if it were the filtered list.
The schema (crmApp.schema) documents exactly these parameters, from the same declarations:

- the list action, and actions declared `@action(filtered=True)`, take the filter backends' parameters;
- the list action, and actions declared `@action(paginated=True)`, take `page` and `page_size`;
- an action declared `@action(query_serializer=…)` takes that serializer's fields.

In the same spirit, a handler marked `@takes_no_body` refuses a request body (and the schema says it takes
none): `POST …/win/ {"value": "5000"}` would otherwise answer 200 and drop the value.
"""

from collections.abc import Mapping

from django.http import Http404
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema
from rest_framework.exceptions import ValidationError
from rest_framework.filters import OrderingFilter, SearchFilter
from rest_framework.views import APIView

from crmApp.idempotency import AnswersOnlyAfterTheChecks

# DRF's own `?format=json` (the browsable API links to it).
ALWAYS_KNOWN = frozenset({"format"})


def backend_parameters(view, backend) -> set[str]:
    """The query parameters one filter backend reads for `view`."""
    if issubclass(backend, DjangoFilterBackend):
        filterset = getattr(view, "filterset_class", None)
        return set(filterset.base_filters) if filterset else set()
    if issubclass(backend, SearchFilter):
        return {backend.search_param} if getattr(view, "search_fields", None) else set()
    if issubclass(backend, OrderingFilter):
        return {backend.ordering_param} if getattr(view, "ordering_fields", None) else set()
    return set()


class KnownQueryParametersMixin:
    """Refuses unknown query parameters once the caller is authenticated and allowed (see the module)."""

    query_serializer = None
    filtered = False
    paginated = False

    def reads_a_list(self) -> bool:
        request = getattr(self, "request", None)
        return request is not None and request.method in ("GET", "HEAD")

    def takes_filters(self) -> bool:
        return self.reads_a_list() and (getattr(self, "action", None) == "list" or self.filtered)

    def takes_pages(self) -> bool:
        return (
            self.reads_a_list()
            and getattr(self, "pagination_class", None) is not None
            and (getattr(self, "action", None) == "list" or self.paginated)
        )

    def known_query_parameters(self) -> set[str]:
        known = set(ALWAYS_KNOWN)
        if self.takes_filters():
            for backend in getattr(self, "filter_backends", ()):
                known |= backend_parameters(self, backend)
        if self.takes_pages():
            paginator = self.pagination_class
            known |= {paginator.page_query_param, paginator.page_size_query_param}
        if self.query_serializer is not None:
            known |= set(self.query_serializer().fields)
        return known

    def perform_content_negotiation(self, request, force=False):
        try:
            return super().perform_content_negotiation(request, force)
        except Http404:
            # DRF answers a format naming no renderer with a 404. A path suffix (`/leads/1.xml/`) names no
            # page, so that stays a 404; `?format=xml` is a bad query parameter like any other.
            if self.format_kwarg:
                raise
            raise ValidationError({"format": ["This endpoint has no such format."]}) from None

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        if request.method == "OPTIONS":
            return
        unknown = sorted(set(request.query_params) - self.known_query_parameters())
        if unknown:
            raise ValidationError({name: ["This endpoint takes no such query parameter."] for name in unknown})
        if request.method not in ("GET", "HEAD") and self.refuses_a_body() and holds_something(request.data):
            if isinstance(request.data, Mapping):
                raise ValidationError({name: ["This field is not part of this request."] for name in request.data})
            raise ValidationError({"non_field_errors": ["This request takes no body."]})

    def refuses_a_body(self) -> bool:
        return handler_takes_no_body(self, self.request.method)


def handler_takes_no_body(view, method: str) -> bool:
    """Whether the handler `view` runs for the HTTP `method` is marked `@takes_no_body`."""
    action = (getattr(view, "action_map", None) or {}).get(method.lower())
    handler = getattr(view, action or method.lower(), None)
    return getattr(handler, "takes_no_body", False)


def holds_something(body) -> bool:
    """Whether a parsed request body is more than nothing (no body, or `{}`); `0`, `false` and `[]` are values."""
    return body is not None and body != {}


def takes_no_body(handler):
    """Marks a view handler as taking no request body: one sent is a 400 naming its fields (see the module)."""
    handler = extend_schema(request=None)(handler)
    handler.takes_no_body = True
    return handler


class StrictAPIView(KnownQueryParametersMixin, AnswersOnlyAfterTheChecks, APIView):
    """An APIView that refuses unknown query parameters."""
