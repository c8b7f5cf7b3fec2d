"""Vendors: suppliers and partners an organization buys from."""

from django.conf import settings
from django.db import models

from crmApp.constants import EMAIL_MAX, LONG_NAME_MAX, NAME_MAX, NOTES_MAX, PHONE_MAX, ActiveStatus
from crmApp.models.base import CodedRecord


class Vendor(CodedRecord):
    """A supplier; may be linked to a vendor-profile user of the same organization."""

    CODE_PREFIX = "VEN"

    name = models.CharField(max_length=LONG_NAME_MAX)
    email = models.EmailField(max_length=EMAIL_MAX, blank=True)
    phone = models.CharField(max_length=PHONE_MAX, blank=True)
    contact_person = models.CharField(max_length=NAME_MAX, blank=True)
    vendor_type = models.CharField(max_length=NAME_MAX, blank=True)
    status = models.CharField(max_length=20, choices=ActiveStatus.choices, default=ActiveStatus.ACTIVE)
    address = models.TextField(max_length=1000, blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="vendor_records"
    )
    notes = models.TextField(max_length=NOTES_MAX, blank=True)

    class Meta(CodedRecord.Meta):
        ordering = ["name", "id"]
        indexes = [
            *CodedRecord.Meta.indexes,
            models.Index(fields=["organization", "status"], name="vendor_org_status_idx"),
            models.Index(fields=["organization", "name"], name="vendor_org_name_idx"),
        ]

    def __str__(self):
        return self.name
