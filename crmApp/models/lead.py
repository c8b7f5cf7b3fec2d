"""Leads: prospects that are scored, qualified and converted into customers."""

from django.db import models
from django.db.models import F
from django.db.models.functions import Lower

from crmApp.constants import (
    EMAIL_MAX,
    LONG_NAME_MAX,
    MONEY_DIGITS,
    MONEY_PLACES,
    NAME_MAX,
    NOTES_MAX,
    PHONE_MAX,
    LeadSource,
    LeadStatus,
)
from crmApp.models.base import LIVE, CodedRecord, search_document, set_only_index


class Lead(CodedRecord):
    """A prospect. `score` and the workflow fields are owned by LeadService."""

    CODE_PREFIX = "LEAD"
    SEARCHED_FIELDS = ("first_name", "last_name", "email", "company", "code")

    first_name = models.CharField(max_length=NAME_MAX)
    last_name = models.CharField(max_length=NAME_MAX, blank=True)
    email = models.EmailField(max_length=EMAIL_MAX, blank=True)
    phone = models.CharField(max_length=PHONE_MAX, blank=True)
    company = models.CharField(max_length=LONG_NAME_MAX, blank=True)
    job_title = models.CharField(max_length=LONG_NAME_MAX, blank=True)
    source = models.CharField(max_length=20, choices=LeadSource.choices, default=LeadSource.OTHER)
    estimated_value = models.DecimalField(max_digits=MONEY_DIGITS, decimal_places=MONEY_PLACES, null=True, blank=True)
    status = models.CharField(max_length=20, choices=LeadStatus.choices, default=LeadStatus.NEW)
    score = models.PositiveSmallIntegerField(default=0, editable=False)
    assigned_to = models.ForeignKey(
        "crmApp.Employee", null=True, blank=True, on_delete=models.SET_NULL, related_name="leads"
    )
    notes = models.TextField(max_length=NOTES_MAX, blank=True)
    qualified_at = models.DateTimeField(null=True, blank=True, editable=False)
    converted_at = models.DateTimeField(null=True, blank=True, editable=False)

    # Set when the record was merged into another and went to the trash.
    merged_into = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False, db_index=False
    )
    # What `?search=` looks in: a million-row walk costs one LIKE per row instead of five UPPER and LIKE.
    search_text = search_document(*SEARCHED_FIELDS)

    class Meta(CodedRecord.Meta):
        ordering = ["-created_at", "-id"]
        constraints = [
            *CodedRecord.Meta.constraints,
            models.CheckConstraint(condition=models.Q(score__lte=100), name="lead_score_at_most_100"),
            models.CheckConstraint(
                condition=models.Q(estimated_value__isnull=True) | models.Q(estimated_value__gte=0),
                name="lead_estimated_value_not_negative",
            ),
        ]
        # Foreign keys (assigned_to) keep their own single-column index: an employee belongs to one
        # organization, so it is as selective as a composite, and it serves the SET NULL cascade too.
        indexes = [
            *CodedRecord.Meta.indexes,
            set_only_index("merged_into", name="lead_merged_into_idx"),
            # Duplicate emails (imports, the duplicates report) compare lower-cased addresses of live records.
            models.Index(F("organization"), Lower("email"), name="lead_org_email_idx", condition=LIVE),
            models.Index(fields=["organization", "created_at", "id"], name="lead_org_created_idx"),
            models.Index(fields=["organization", "score", "id"], name="lead_org_score_idx"),
            models.Index(fields=["organization", "last_name", "id"], name="lead_org_last_name_idx"),
            models.Index(fields=["organization", "estimated_value", "id"], name="lead_org_estimated_value_idx"),
            # Covering (PostgreSQL): stats, dashboard, funnel and per-employee figures read only this index
            # (`id` too, since the aggregates are COUNT(id)); it also serves `?ordering=status`.
            models.Index(
                fields=["organization", "status", "id"],
                include=["source", "score", "qualified_at", "assigned_to"],
                name="lead_org_status_cover_idx",
                condition=LIVE,
            ),
            models.Index(fields=["organization", "source"], name="lead_org_source_idx"),
            # Covering (PostgreSQL): a search's count reads the search document of the organization's
            # live leads from this index, about a third of the table's bytes, instead of the table.
            models.Index(
                fields=["organization"], include=["search_text"], name="lead_org_search_cover_idx", condition=LIVE
            ),
        ]

    def __str__(self):
        return f"{self.code} {self.full_name}"

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()
