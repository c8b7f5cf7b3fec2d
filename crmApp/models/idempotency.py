"""Remembered answers of POSTs sent with an `Idempotency-Key`, so a retry replays instead of redoing."""

from django.db import models
from django.utils import timezone


class IdempotencyKey(models.Model):
    """One key of one caller in one organization; `status_code` is NULL while the first request runs."""

    # `user:<id>` or `api-key:<id>`: whoever sent the request.
    principal = models.CharField(max_length=64)
    # The X-Organization-ID the request named ("" for the caller's default organization).
    scope = models.CharField(max_length=32, blank=True)
    key = models.CharField(max_length=255)
    # SHA-256 of the method, the path with its query and the body.
    fingerprint = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    content_type = models.CharField(max_length=100, blank=True)
    etag = models.CharField(max_length=40, blank=True)
    body = models.BinaryField(default=b"")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["principal", "scope", "key"], name="idempotency_key_unique"),
        ]

    def __str__(self):
        return f"{self.principal} {self.key}"
