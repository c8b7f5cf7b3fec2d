"""Customers: individuals and businesses an organization sells to."""

from django.conf import settings
from django.db import models
from django.db.models import F
from django.db.models.functions import Lower

from crmApp.constants import (
    EMAIL_MAX,
    LONG_NAME_MAX,
    NAME_MAX,
    NOTES_MAX,
    PHONE_MAX,
    CustomerStatus,
    CustomerType,
)
from crmApp.models.base import LIVE, CodedRecord, set_only_index


class Customer(CodedRecord):
    """An individual (first/last name) or a business (company name) customer."""

    CODE_PREFIX = "CUST"

    customer_type = models.CharField(max_length=20, choices=CustomerType.choices, default=CustomerType.INDIVIDUAL)
    first_name = models.CharField(max_length=NAME_MAX, blank=True)
    last_name = models.CharField(max_length=NAME_MAX, blank=True)
    company_name = models.CharField(max_length=LONG_NAME_MAX, blank=True)
    industry = models.CharField(max_length=LONG_NAME_MAX, blank=True)
    contact_person = models.CharField(max_length=NAME_MAX, blank=True)
    email = models.EmailField(max_length=EMAIL_MAX, blank=True)
    phone = models.CharField(max_length=PHONE_MAX, blank=True)
    address = models.TextField(max_length=1000, blank=True)
    city = models.CharField(max_length=NAME_MAX, blank=True)
    country = models.CharField(max_length=NAME_MAX, blank=True)
    status = models.CharField(max_length=20, choices=CustomerStatus.choices, default=CustomerStatus.ACTIVE)
    source = models.CharField(max_length=NAME_MAX, blank=True)
    assigned_to = models.ForeignKey(
        "crmApp.Employee", null=True, blank=True, on_delete=models.SET_NULL, related_name="customers"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="customer_records"
    )
    notes = models.TextField(max_length=NOTES_MAX, blank=True)
    # One-to-one: the database itself refuses a second customer for the same lead.
    converted_from_lead = models.OneToOneField(
        "crmApp.Lead", null=True, blank=True, on_delete=models.SET_NULL, related_name="converted_customer"
    )

    # Set when the record was merged into another and went to the trash.
    merged_into = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False, db_index=False
    )

    class Meta(CodedRecord.Meta):
        ordering = ["-created_at", "-id"]
        indexes = [
            *CodedRecord.Meta.indexes,
            set_only_index("merged_into", name="customer_merged_into_idx"),
            # Duplicate emails (imports, the duplicates report) compare lower-cased addresses of live records.
            models.Index(F("organization"), Lower("email"), name="customer_org_email_idx", condition=LIVE),
            # Live rows only: the default list order, and the dashboard's growth windows as a range scan.
            models.Index(fields=["organization", "created_at", "id"], name="customer_org_created_idx", condition=LIVE),
            # Covering (PostgreSQL): customer stats and the dashboard read only this index.
            models.Index(
                fields=["organization", "status"],
                include=["id", "customer_type", "created_at"],
                name="customer_org_status_cover_idx",
                condition=LIVE,
            ),
            models.Index(fields=["organization", "customer_type"], name="customer_org_type_idx"),
            models.Index(fields=["organization", "last_name", "id"], name="customer_org_last_name_idx"),
            models.Index(fields=["organization", "company_name", "id"], name="customer_org_company_idx"),
            models.Index(fields=["organization", "updated_at", "id"], name="customer_org_updated_idx"),
        ]

    def __str__(self):
        return self.display_name

    # The columns `display_name` reads (list pages compute it from these alone).
    DISPLAY_NAME_READS = ("customer_type", "company_name", "first_name", "last_name")

    @property
    def display_name(self) -> str:
        if self.customer_type == CustomerType.BUSINESS:
            return self.company_name
        return f"{self.first_name} {self.last_name}".strip()
