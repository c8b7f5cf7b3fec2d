"""Integrations: webhooks, the outbox of their events, the log of delivery attempts, and API keys."""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from crmApp.constants import LONG_NAME_MAX, DeliveryStatus


class Webhook(models.Model):
    """An organization's endpoint that receives the events it subscribes to, signed with its secret."""

    organization = models.ForeignKey("crmApp.Organization", on_delete=models.CASCADE, related_name="+")
    url = models.URLField(max_length=2000)
    # ["*"] or event type names.
    events = models.JSONField(default=list)
    is_active = models.BooleanField(default=True)
    description = models.CharField(max_length=LONG_NAME_MAX, blank=True)
    secret = models.CharField(max_length=100)
    # After a rotation the old secret signs too, until `previous_secret_expires_at`.
    previous_secret = models.CharField(max_length=100, blank=True)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    # Failed attempts since the last success, and when that run of failures began.
    failure_count = models.PositiveIntegerField(default=0)
    failing_since = models.DateTimeField(null=True, blank=True)
    disabled_reason = models.CharField(max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)
    version = models.PositiveIntegerField(default=1, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["organization", "is_active"], name="webhook_org_active_idx")]

    def __str__(self):
        return self.url


class OutboxEvent(models.Model):
    """One event, written in the transaction of the change it describes; its id is the delivered `sequence`.

    Ids only grow, so they order one organization's events (with gaps where other organizations'
    events fall between).
    """

    id = models.BigAutoField(primary_key=True)
    organization = models.ForeignKey("crmApp.Organization", on_delete=models.CASCADE, related_name="+")
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    type = models.CharField(max_length=40)
    # `lead:12`: deliveries of one record's events go out in order; "" for a ping.
    record_key = models.CharField(max_length=60, blank=True)
    data = models.JSONField(default=dict)
    changes = models.JSONField(default=list)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["created_at"], name="outbox_created_idx")]

    def __str__(self):
        return f"{self.type} #{self.id}"


class WebhookDelivery(models.Model):
    """One attempt at delivering one event to one webhook; every attempt at that event shares `delivery_id`.

    A pending attempt waits for `next_attempt_at`, then one worker claims and sends it.
    """

    organization = models.ForeignKey("crmApp.Organization", on_delete=models.CASCADE, related_name="+")
    # No index of its own: delivery_webhook_idx leads with it, and every write with webhooks inserts rows here.
    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries", db_index=False)
    event = models.ForeignKey(OutboxEvent, on_delete=models.CASCADE, related_name="deliveries")
    delivery_id = models.UUIDField(default=uuid.uuid4, editable=False)
    # Copied from the event, so the order check is one index lookup.
    record_key = models.CharField(max_length=60, blank=True)
    attempt = models.PositiveIntegerField(default=1)
    status = models.CharField(max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # The wait before this attempt (the next one waits at most twice as long).
    backoff_seconds = models.PositiveIntegerField(default=0)
    # When the first attempt of this chain was due: retries stop 3 days after it.
    first_attempt_at = models.DateTimeField(default=timezone.now)
    # A worker's claim on a pending attempt while it sends it; one that dies leaves it to the others
    # once `locked_until` has passed.
    lease = models.UUIDField(null=True, blank=True)
    locked_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["webhook", "created_at", "id"], name="delivery_webhook_idx"),
            models.Index(
                fields=["next_attempt_at"], condition=Q(status=DeliveryStatus.PENDING), name="delivery_due_idx"
            ),
            # "Is an earlier event of this record still waiting for this webhook?"
            models.Index(
                fields=["webhook", "record_key", "event"],
                condition=Q(status=DeliveryStatus.PENDING),
                name="delivery_record_order_idx",
            ),
            models.Index(fields=["created_at"], name="delivery_created_idx"),
        ]
        verbose_name_plural = "webhook deliveries"

    def __str__(self):
        return f"{self.delivery_id} attempt {self.attempt}"


class ApiKey(models.Model):
    """A key a service uses instead of a user: its organization only, its scopes only, shown once."""

    organization = models.ForeignKey("crmApp.Organization", on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=LONG_NAME_MAX)
    prefix = models.CharField(max_length=12)
    # SHA-256 of the whole key: the key itself is never stored.
    key_hash = models.CharField(max_length=64, unique=True)
    scopes = models.JSONField(default=list)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["organization", "created_at"], name="api_key_org_created_idx")]
        verbose_name = "API key"

    def __str__(self):
        return f"{self.name} ({self.prefix}…)"
