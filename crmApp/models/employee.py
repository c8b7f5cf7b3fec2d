"""Employees: the people of an organization who own leads, customers and deals."""

from django.conf import settings
from django.db import models

from crmApp.constants import EMAIL_MAX, LONG_NAME_MAX, NAME_MAX, PHONE_MAX, ActiveStatus
from crmApp.models.base import CodedRecord


class Employee(CodedRecord):
    """A member of staff; may be linked to a user account of the same organization."""

    CODE_PREFIX = "EMP"

    first_name = models.CharField(max_length=NAME_MAX)
    last_name = models.CharField(max_length=NAME_MAX)
    email = models.EmailField(max_length=EMAIL_MAX, blank=True)
    phone = models.CharField(max_length=PHONE_MAX, blank=True)
    department = models.CharField(max_length=NAME_MAX, blank=True)
    job_title = models.CharField(max_length=LONG_NAME_MAX, blank=True)
    hire_date = models.DateField(null=True, blank=True)
    status = models.CharField(max_length=20, choices=ActiveStatus.choices, default=ActiveStatus.ACTIVE)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="employee_records"
    )

    class Meta(CodedRecord.Meta):
        ordering = ["last_name", "first_name", "id"]
        constraints = [
            *CodedRecord.Meta.constraints,
            models.UniqueConstraint(
                fields=["organization", "user"],
                condition=models.Q(user__isnull=False),
                name="employee_unique_user_per_org",
            ),
        ]
        indexes = [
            *CodedRecord.Meta.indexes,
            models.Index(fields=["organization", "status"], name="employee_org_status_idx"),
            models.Index(fields=["organization", "last_name", "first_name"], name="employee_org_name_idx"),
        ]

    def __str__(self):
        return self.full_name

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()
