"""Activities: about at least one customer, lead or deal; completed and reopened by whoever works them."""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from crmApp.models import Activity
from crmApp.services.base import OrganizationService, snapshot

SUBJECTS = ("customer", "lead", "deal")


class ActivityService(OrganizationService):
    """The activity rules of API.md › Activities."""

    model = Activity

    @staticmethod
    def _check_subject(record: Activity) -> None:
        """An activity is about a customer, a lead or a deal; raises ValidationError otherwise."""
        if not any(getattr(record, f"{name}_id") for name in SUBJECTS):
            raise ValidationError("An activity is about a customer, a lead or a deal: name at least one.")

    def prepare_create(self, record: Activity) -> None:
        self._check_subject(record)

    def apply_update(self, record: Activity, fields: dict) -> None:
        super().apply_update(record, fields)
        self._check_subject(record)

    @transaction.atomic
    def complete(self, activity: Activity) -> Activity:
        """Mark the activity done by the actor; completing it again keeps the first `done_at`."""
        record = self.lock(activity)
        if record.is_done:
            return record
        before = snapshot(record)
        record.is_done, record.done_at, record.done_by = True, timezone.now(), self.actor
        return self.save_record(record, before, events=[("completed", {})])

    @transaction.atomic
    def reopen(self, activity: Activity) -> Activity:
        """Mark the activity not done again."""
        record = self.lock(activity)
        if not record.is_done:
            return record
        before = snapshot(record)
        record.is_done, record.done_at, record.done_by = False, None, None
        return self.save_record(record, before, events=[("reopened", {})])
