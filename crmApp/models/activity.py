"""Activities: the notes, calls, meetings, tasks and emails around customers, leads and deals."""

from django.conf import settings
from django.db import models

from crmApp.constants import LONG_NAME_MAX, NOTES_MAX, ActivityType
from crmApp.models.base import LIVE, CodedRecord


class Activity(CodedRecord):
    """Something done, or to do, about a customer, a lead and/or a deal (at least one of them)."""

    CODE_PREFIX = "ACT"

    type = models.CharField(max_length=10, choices=ActivityType.choices, default=ActivityType.NOTE)
    subject = models.CharField(max_length=LONG_NAME_MAX)
    body = models.TextField(max_length=NOTES_MAX, blank=True)
    due_at = models.DateTimeField(null=True, blank=True)
    assigned_to = models.ForeignKey(
        "crmApp.Employee", null=True, blank=True, on_delete=models.SET_NULL, related_name="activities"
    )
    # SET_NULL: purging one record never takes the activity from the others it is about.
    customer = models.ForeignKey(
        "crmApp.Customer", null=True, blank=True, on_delete=models.SET_NULL, related_name="activities"
    )
    lead = models.ForeignKey("crmApp.Lead", null=True, blank=True, on_delete=models.SET_NULL, related_name="activities")
    deal = models.ForeignKey("crmApp.Deal", null=True, blank=True, on_delete=models.SET_NULL, related_name="activities")
    is_done = models.BooleanField(default=False, editable=False)
    done_at = models.DateTimeField(null=True, blank=True, editable=False)
    done_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )

    class Meta(CodedRecord.Meta):
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "activities"
        indexes = [
            *CodedRecord.Meta.indexes,
            models.Index(fields=["organization", "created_at", "id"], name="activity_org_created_idx"),
            models.Index(fields=["organization", "due_at", "id"], name="activity_org_due_idx"),
            # "My open activities" and "overdue": the open ones by due date, per assignee or for everyone. Live
            # rows only, so their counts are read from the index alone.
            models.Index(
                fields=["organization", "assigned_to", "is_done", "due_at"],
                name="activity_org_mine_idx",
                condition=LIVE,
            ),
            models.Index(
                fields=["organization", "is_done", "due_at"], name="activity_org_open_due_idx", condition=LIVE
            ),
            # A record's timeline reads its activities newest first.
            models.Index(fields=["customer", "created_at", "id"], name="activity_customer_idx"),
            models.Index(fields=["lead", "created_at", "id"], name="activity_lead_idx"),
            models.Index(fields=["deal", "created_at", "id"], name="activity_deal_idx"),
        ]

    def __str__(self):
        return f"{self.code} {self.subject}"
