"""`/api/webhooks/` (with their delivery log, ping, redeliver and secret rotation) and `/api/api-keys/`."""

from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.response import Response

from crmApp.conditional import etag
from crmApp.mixins import OrganizationScopedModelViewSet, OrganizationScopedViewSet
from crmApp.models import ApiKey, Webhook
from crmApp.query import takes_no_body
from crmApp.serializers.integration import (
    ApiKeyCreatedSerializer,
    ApiKeyCreateSerializer,
    ApiKeySerializer,
    WebhookCreatedSerializer,
    WebhookDeliverySerializer,
    WebhookSecretSerializer,
    WebhookSerializer,
)
from crmApp.services.integration_service import ApiKeyService, WebhookService
from crmApp.tenancy import parse_id

WEBHOOKS_MANAGE = "webhooks:manage"
API_KEYS_MANAGE = "api_keys:manage"
STANDARD_ACTIONS = ("list", "retrieve", "create", "update", "partial_update", "destroy", "metadata")


class WebhookViewSet(OrganizationScopedModelViewSet):
    """The organization's webhooks (`webhooks:manage`): signed POSTs of its records' events."""

    queryset = Webhook.objects.all()
    serializer_class = WebhookSerializer
    service_class = WebhookService
    permission_codes = dict.fromkeys(STANDARD_ACTIONS, WEBHOOKS_MANAGE)
    business_rules = {
        action: [
            "the URL is not https:// (http:// only with WEBHOOK_ALLOW_HTTP), or its host resolves to a loopback, "
            "private, link-local or metadata address (unless WEBHOOK_ALLOW_PRIVATE)"
        ]
        for action in ("create", "update", "partial_update")
    }
    filter_backends = ()

    def scoped_queryset(self, queryset):
        return queryset.order_by("-created_at", "-id")

    def get_serializer_class(self):
        return WebhookCreatedSerializer if self.action == "create" else WebhookSerializer

    @takes_no_body
    @extend_schema(responses=WebhookSecretSerializer)
    @action(detail=True, methods=["post"], url_path="rotate-secret", permission_code=WEBHOOKS_MANAGE)
    def rotate_secret(self, request, pk=None):
        """A new secret; the old one keeps signing, as a second `v1=`, for 24 hours. The ETag is the new version's."""
        webhook = self.get_service().rotate_secret(self.get_object())
        return Response({"secret": webhook.secret}, headers={"ETag": etag(webhook.version)})

    @takes_no_body
    @extend_schema(responses={202: WebhookDeliverySerializer})
    @action(detail=True, methods=["post"], permission_code=WEBHOOKS_MANAGE)
    def ping(self, request, pk=None):
        """Send a `ping` event now (409 when the webhook is disabled)."""
        attempt = self.get_service().ping(self.get_object())
        return Response(WebhookDeliverySerializer(attempt).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(responses=WebhookDeliverySerializer(many=True))
    @action(detail=True, methods=["get"], paginated=True, permission_code=WEBHOOKS_MANAGE)
    def deliveries(self, request, pk=None):
        """Every attempt at delivering the webhook's events, newest first."""
        attempts = self.get_service().deliveries(self.get_object())
        return self.get_paginated_response(WebhookDeliverySerializer(self.paginate_queryset(attempts), many=True).data)

    @takes_no_body
    @extend_schema(
        responses={202: WebhookDeliverySerializer},
        parameters=[OpenApiParameter("attempt_id", int, OpenApiParameter.PATH, description="Any attempt's `id`.")],
    )
    @action(
        detail=True,
        methods=["post"],
        url_path=r"deliveries/(?P<attempt_id>[0-9]+)/redeliver",
        permission_code=WEBHOOKS_MANAGE,
    )
    def redeliver(self, request, pk=None, attempt_id=None):
        """Send that attempt's event again now, as a new attempt (409 when the webhook is disabled)."""
        webhook = self.get_object()
        service = self.get_service()
        attempt = service.deliveries(webhook).filter(pk=parse_id(attempt_id) or 0).first()
        if attempt is None:
            raise Http404
        return Response(WebhookDeliverySerializer(service.redeliver(webhook, attempt)).data, status=202)


class ApiKeyViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    OrganizationScopedViewSet,
):
    """The organization's API keys (`api_keys:manage`); `DELETE` revokes one."""

    queryset = ApiKey.objects.all()
    serializer_class = ApiKeySerializer
    service_class = ApiKeyService
    permission_codes = dict.fromkeys(STANDARD_ACTIONS, API_KEYS_MANAGE)
    business_rules = {
        "create": [
            "a scope is a code you don't hold, or one a key never holds (api_keys:manage, webhooks:manage, "
            "roles:manage, members:manage)",
            "expires_at is in the past",
        ]
    }
    filter_backends = ()

    def scoped_queryset(self, queryset):
        return queryset.order_by("-created_at", "-id")

    @extend_schema(request=ApiKeyCreateSerializer, responses={201: ApiKeyCreatedSerializer})
    def create(self, request):
        """Issue a key; the answer alone carries it (`key`), it is stored hashed."""
        record, key = self.get_service().create(**self.validated(ApiKeyCreateSerializer, request.data))
        record.key = key
        response = Response(ApiKeyCreatedSerializer(record).data, status=status.HTTP_201_CREATED)
        response.secret_fields = ("key",)  # never stored, a replay included (crmApp.idempotency)
        return response

    def perform_destroy(self, instance):
        self.get_service().revoke(instance)
