"""The append-only record of every change and event of every CRM record: history, timeline, audit log."""

from django.conf import settings
from django.db import models
from django.utils import timezone

from crmApp.constants import ChangeSource


class EntryKind(models.TextChoices):
    CHANGE = "change", "Change"
    EVENT = "event", "Event"


class HistoryEntry(models.Model):
    """One write's field changes (`change`), or one thing that happened to a record (`event`).

    Written in the same transaction as the write it describes, never updated, and kept when the record
    is deleted (the record is named by type, id and code, not by a foreign key).
    """

    organization = models.ForeignKey("crmApp.Organization", on_delete=models.CASCADE, related_name="+", db_index=False)
    record_type = models.CharField(max_length=20)
    record_id = models.BigIntegerField()
    record_code = models.CharField(max_length=20, blank=True)
    kind = models.CharField(max_length=10, choices=EntryKind.choices)
    # For events: created, status_changed, assigned, converted, stage_changed, won, lost, reopened, deleted, …
    event = models.CharField(max_length=20, blank=True)
    # For changes: [{"field", "old", "new"}]; for events: what the event needs (from/to, lost_reason, …).
    changes = models.JSONField(default=list, blank=True)
    data = models.JSONField(default=dict, blank=True)
    # Indexed by history_actor_idx, which also serves the SET NULL when a user is deleted.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    source = models.CharField(max_length=10, choices=ChangeSource.choices, default=ChangeSource.API)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name_plural = "history entries"
        indexes = [
            # A record's history and timeline, newest first.
            models.Index(fields=["organization", "record_type", "record_id", "at", "id"], name="history_record_idx"),
            # The audit log, newest first, and its filters.
            models.Index(fields=["organization", "at", "id"], name="history_org_at_idx"),
            models.Index(fields=["actor", "organization", "at"], name="history_actor_idx"),
            models.Index(fields=["organization", "source", "at"], name="history_org_source_idx"),
        ]

    def __str__(self):
        return f"{self.record_type} {self.record_code or self.record_id}: {self.event or 'change'}"
