"""OrganizationScopedViewSet, the base of every CRM viewset: tenancy and RBAC are enforced here once."""

from typing import ClassVar

from django.core.exceptions import ImproperlyConfigured
from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import APIException, PermissionDenied
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.settings import api_settings

from crmApp.authentication import ApiKeyAuthentication
from crmApp.conditional import etag, if_match_versions, if_none_match_hits
from crmApp.idempotency import AnswersOnlyAfterTheChecks
from crmApp.permissions import ACTION_VERBS, HasOrganizationPermission, permitted_methods
from crmApp.query import KnownQueryParametersMixin
from crmApp.serializers.history import (
    HistoryChangeSerializer,
    TimelineQuerySerializer,
    timeline_entries_schema,
    timeline_entry,
)
from crmApp.services.timeline_service import TimelineService
from crmApp.tenancy import Tenant, get_tenant, parse_id

SEALED_METHODS = ("get_queryset", "get_object", "get_permissions")


class CountedRefusalsMixin:
    """A signed-in caller's refusal counts against their rate limit and says where they stand, as every
    answer does; past the limit it is the 429. (DRF checks permissions before throttles.)"""

    def check_permissions(self, request):
        try:
            super().check_permissions(request)
        except APIException:
            # Whatever refused it: a missing code, or the organization (a header naming one the caller
            # can't act in, a URL of one they don't belong to) found while the permission resolves it.
            if request.successful_authenticator is not None:
                self.check_throttles(request)
            raise


class OrganizationScopedViewSet(
    CountedRefusalsMixin, KnownQueryParametersMixin, AnswersOnlyAfterTheChecks, viewsets.GenericViewSet
):
    """Every query runs inside the active organization and record scope; every action needs an RBAC code.

    Subclasses customise the queryset through `scoped_queryset(qs)`; overriding `get_queryset`,
    `get_object` or `get_permissions` is refused when the class is defined.
    """

    permission_resource: ClassVar[str] = ""
    # action -> code (or permissions.ANY_MEMBER), for actions whose code isn't `<resource>:<verb>`.
    permission_codes: ClassVar[dict[str, str]] = {}
    # Set per route by @action(permission_code=...).
    permission_code: str | None = None
    # ORM path from the record to its portal user (e.g. "user" on customers); None: no portal access.
    portal_lookup: ClassVar[str | None] = None
    portal_access = False
    uses_organization_header = True
    # An explicit `Api-Key` header is read before a browser session (only scoped routes accept keys).
    authentication_classes = [
        *api_settings.DEFAULT_AUTHENTICATION_CLASSES[:1],
        ApiKeyAuthentication,
        *api_settings.DEFAULT_AUTHENTICATION_CLASSES[1:],
    ]
    lookup_value_regex = r"[0-9]+"
    service_class: ClassVar[type | None] = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        for name in SEALED_METHODS:
            if name in cls.__dict__:
                raise ImproperlyConfigured(
                    f"{cls.__name__} overrides {name}; customise scoped_queryset() instead, so tenancy stays enforced."
                )
        for extra in cls.get_extra_actions():
            declared = "permission_code" in extra.kwargs or extra.__name__ in cls.permission_codes
            if not declared and extra.__name__ not in ACTION_VERBS:
                raise ImproperlyConfigured(f"{cls.__name__}.{extra.__name__} must declare its permission_code.")

    # --- tenancy --------------------------------------------------------------------------------
    @property
    def tenant(self) -> Tenant:
        return get_tenant(self.request)

    @property
    def organization(self):
        return self.tenant.organization

    def get_service(self):
        """The resource's service, bound to the tenant; on a record's write, bound to `If-Match` too."""
        return self.service_class(self.tenant, expected_versions=self.if_match() if self.detail else None)

    def if_match(self) -> frozenset[int] | None:
        """The versions `If-Match` lets this request write; None on a read, or when it sets no precondition."""
        if self.request.method in ("GET", "HEAD", "OPTIONS"):
            return None
        return if_match_versions(self.request.headers.get("If-Match"))

    def validated(self, serializer_class, data) -> dict:
        """An action's body or query validated by `serializer_class` in this request's context (400 when invalid)."""
        serializer = serializer_class(data=data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data

    def validated_query(self) -> dict:
        """The action's own query parameters validated by its `query_serializer` (400 when invalid).

        The others (filters, pages) are its too; which parameters a route takes at all is checked once,
        by KnownQueryParametersMixin.
        """
        params = self.request.query_params
        own = {name: params[name] for name in self.query_serializer().fields if name in params}
        return self.validated(self.query_serializer, own)

    def require_codes(self, *codes: str) -> None:
        """403 unless the caller also holds every one of `codes` (for actions that write more than one resource)."""
        if not all(self.tenant.has(code) for code in codes):
            raise PermissionDenied()

    def get_permissions(self):
        return [IsAuthenticated(), HasOrganizationPermission()]

    def permitted_methods(self) -> list[str]:
        """The methods of this route the caller may use."""
        return permitted_methods(self, self.request)

    def options(self, request, *args, **kwargs):
        """The metadata, with `Allow` naming only the methods the caller may use here."""
        response = super().options(request, *args, **kwargs)
        self.headers["Allow"] = ", ".join(self.permitted_methods())
        return response

    def finalize_response(self, request, response, *args, **kwargs):
        """A single versioned record in the answer gets its ETag, unless the answer is a preview of a write."""
        response = super().finalize_response(request, response, *args, **kwargs)
        data = getattr(response, "data", None)
        is_record = isinstance(data, dict) and "version" in data and "id" in data
        if 200 <= response.status_code < 300 and is_record and not getattr(response, "is_preview", False):
            response["ETag"] = etag(data["version"])
        return response

    def get_queryset(self):
        if self.queryset is None:
            # Report views read through their service; they set pagination_class = None and
            # filter_backends = () so nothing asks them for rows.
            raise ImproperlyConfigured(f"{type(self).__name__} declares no queryset and has no rows to list.")
        if getattr(self, "swagger_fake_view", False):  # schema generation has no tenant
            return self.queryset.none()
        queryset = self.tenant.visible(self.queryset.filter(organization=self.organization))
        if self.portal_access:
            queryset = queryset.filter(**{self.portal_lookup: self.request.user})
        return self.scoped_queryset(queryset)

    def scoped_queryset(self, queryset):
        """Hook for select_related, annotations and per-view narrowing; already organization-scoped."""
        return queryset

    def get_object(self):
        # A non-numeric or overflowing id is a missing record, never a database error.
        lookup = self.lookup_url_kwarg or self.lookup_field
        if parse_id(self.kwargs.get(lookup)) is None:
            raise Http404
        return super().get_object()


class OrganizationScopedModelViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    OrganizationScopedViewSet,
):
    """CRUD on the scoped base; writes go through the resource's service.

    The service must offer `create(**fields)`, `update(instance, **fields)` and `delete(instance)`.
    """

    http_method_names = ["get", "post", "patch", "put", "delete", "head", "options"]

    def retrieve(self, request, *args, **kwargs):
        """The record; a 304 without a body when `If-None-Match` names its current ETag."""
        instance = self.get_object()
        version = getattr(instance, "version", None)
        if version is not None and if_none_match_hits(request.headers.get("If-None-Match"), etag(version)):
            return Response(status=304, headers={"ETag": etag(version)})
        return Response(self.get_serializer(instance).data)

    def perform_create(self, serializer):
        serializer.instance = self.get_service().create(**serializer.validated_data)

    def perform_update(self, serializer):
        serializer.instance = self.get_service().update(serializer.instance, **serializer.validated_data)

    def perform_destroy(self, instance):
        self.get_service().delete(instance)


class RecordHistoryMixin:
    """`GET …/{id}/history/`: the field changes of one record, newest first (needs the resource's view code)."""

    @extend_schema(responses=HistoryChangeSerializer(many=True))
    @action(detail=True, methods=["get"], paginated=True)
    def history(self, request, pk=None):
        """The field changes of this record, newest first; one write is one entry."""
        entries = TimelineService(self.tenant).history_of(self.get_object())
        return self.get_paginated_response(HistoryChangeSerializer(self.paginate_queryset(entries), many=True).data)


class TimelineMixin:
    """`GET …/{id}/timeline/`: the record's changes, events and activities, newest first."""

    @extend_schema(responses=timeline_entries_schema())
    @action(detail=True, methods=["get"], paginated=True, query_serializer=TimelineQuerySerializer)
    def timeline(self, request, pk=None):
        """Changes, events and activities (with `activities:view`) of this record, newest first.

        A customer's timeline also holds its deals' entries and those of the lead it came from.
        """
        entries = TimelineService(self.tenant).timeline(
            self.get_object(),
            kind=self.validated_query().get("kind"),
            with_activities=self.tenant.has("activities:view"),
        )
        context = self.get_serializer_context()
        return self.get_paginated_response([timeline_entry(item, context) for item in self.paginate_queryset(entries)])
