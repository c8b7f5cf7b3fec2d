"""Webhooks, their delivery log, and API keys."""

from rest_framework import serializers

from crmApp.constants import ALL_EVENTS, ALL_PERMISSION_CODES, LONG_NAME_MAX, WEBHOOK_EVENTS
from crmApp.models import ApiKey, Webhook, WebhookDelivery
from crmApp.serializers.fields import (
    InputSerializer,
    MomentField,
    StrictCharField,
    StrictModelSerializer,
    StrictURLField,
)

URL_MAX = 2000


class WebhookEventsField(serializers.ListField):
    """`["*"]` or event names, each once; `*` may not be mixed with names."""

    def __init__(self, **kwargs):
        super().__init__(
            child=serializers.ChoiceField(choices=[ALL_EVENTS, *WEBHOOK_EVENTS]),
            allow_empty=False,
            max_length=len(WEBHOOK_EVENTS) + 1,
            **kwargs,
        )

    def to_internal_value(self, data):
        events = list(dict.fromkeys(super().to_internal_value(data)))
        if ALL_EVENTS in events and len(events) > 1:
            raise serializers.ValidationError('Use "*" alone, or name the events.')
        return events


class WebhookSecretSerializer(serializers.Serializer):
    secret = serializers.CharField(read_only=True, help_text="The new secret; the old one signs too for 24 hours.")


class WebhookSerializer(StrictModelSerializer):
    """A webhook; its secret is shown once, when it is created or rotated."""

    answered_by = (WebhookSecretSerializer,)  # the create answer's `secret`, sent back by a form, is ignored

    url = StrictURLField(max_length=URL_MAX)
    events = WebhookEventsField(required=False, default=[ALL_EVENTS])
    description = StrictCharField(max_length=LONG_NAME_MAX, required=False, allow_blank=True)

    class Meta:
        model = Webhook
        fields = [
            "id",
            "url",
            "events",
            "is_active",
            "description",
            "created_at",
            "failure_count",
            "disabled_reason",
            "version",
        ]
        read_only_fields = ["id", "created_at", "failure_count", "disabled_reason", "version"]


class WebhookCreatedSerializer(WebhookSerializer):
    """The answer to creating a webhook: the webhook and, this once, its secret."""

    secret = serializers.CharField(read_only=True)

    class Meta(WebhookSerializer.Meta):
        fields = [*WebhookSerializer.Meta.fields, "secret"]


class WebhookDeliverySerializer(serializers.ModelSerializer):
    """One attempt at delivering one event."""

    event = serializers.UUIDField(source="event.uuid", read_only=True, help_text="The event's `id`.")
    event_type = serializers.CharField(source="event.type", read_only=True)

    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "delivery_id",
            "event",
            "event_type",
            "attempt",
            "status",
            "response_status",
            "duration_ms",
            "error",
            "next_attempt_at",
            "created_at",
        ]
        read_only_fields = fields


class ApiKeySerializer(serializers.ModelSerializer):
    """An API key as it is listed: never the key itself."""

    class Meta:
        model = ApiKey
        fields = [
            "id",
            "name",
            "prefix",
            "scopes",
            "created_by",
            "created_at",
            "expires_at",
            "last_used_at",
            "revoked_at",
        ]
        read_only_fields = fields


class ApiKeyCreateSerializer(InputSerializer):
    """Body of creating a key: its name, the codes it may use, and when it stops working (optional)."""

    answered_by = (ApiKeySerializer,)

    name = StrictCharField(max_length=LONG_NAME_MAX)
    scopes = serializers.ListField(
        child=serializers.ChoiceField(choices=sorted(ALL_PERMISSION_CODES)),
        allow_empty=False,
        max_length=len(ALL_PERMISSION_CODES),
    )
    expires_at = MomentField(required=False, allow_null=True)


class ApiKeyCreatedSerializer(ApiKeySerializer):
    """The answer to creating a key: the key, shown this once, and its record."""

    key = serializers.CharField(
        read_only=True,
        allow_null=True,
        help_text="The key itself: shown only in this answer; null in its replay (Idempotency-Key).",
    )

    class Meta(ApiKeySerializer.Meta):
        fields = [*ApiKeySerializer.Meta.fields, "key"]
        read_only_fields = fields
