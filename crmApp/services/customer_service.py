"""Customers: the names each type needs, protected deletion, statistics, ranking and bulk changes."""

from collections.abc import Iterable
from datetime import UTC

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from crmApp import tallies
from crmApp.constants import ChangeSource, CustomerStatus, CustomerType, DealStatus
from crmApp.exceptions import BusinessRuleViolation, Protected
from crmApp.models import Customer, Deal, Employee
from crmApp.services.base import OrganizationService, check_linked_user, links_another_user
from crmApp.services.merging import MergeMixin

# The names a customer of each type cannot do without (blank strings count as missing).
REQUIRED_NAMES = {
    CustomerType.INDIVIDUAL: ("first_name", "last_name"),
    CustomerType.BUSINESS: ("company_name",),
}
# "a business customer", "an individual customer": how a missing-name error names the type.
TYPE_NAMES = {CustomerType.INDIVIDUAL: "an individual", CustomerType.BUSINESS: "a business"}
NAME_FIELDS = ("customer_type", "first_name", "last_name", "company_name")
# The only fields a bulk update may set.
BULK_UPDATE_FIELDS = frozenset({"status", "assigned_to"})


def month_start_utc():
    """Midnight UTC on the first day of the current month."""
    return timezone.now().astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


class CustomerService(MergeMixin, OrganizationService):
    """The customer rules of API.md › CRM records."""

    model = Customer
    fill_fields = (
        "first_name",
        "last_name",
        "company_name",
        "industry",
        "contact_person",
        "email",
        "phone",
        "address",
        "city",
        "country",
        "source",
        "assigned_to",
        # The portal account: its deals move to the target, so the account must follow them.
        "user",
        "notes",
    )
    company_field = "company_name"
    moved_relations = (("deal", "customer"), ("activity", "customer"))

    def fill_links(self, sources: list[Customer], target: Customer) -> None:
        """The lead a source was converted from moves to a target that has none (one lead, one customer)."""
        donor = next((source for source in sources if source.converted_from_lead_id), None)
        if target.converted_from_lead_id is not None or donor is None:
            return
        target.converted_from_lead_id, donor.converted_from_lead = donor.converted_from_lead_id, None

    @staticmethod
    def _check_names(customer: Customer) -> None:
        """Raise a validation error naming each name field the customer's type lacks."""
        required = REQUIRED_NAMES.get(customer.customer_type, ())
        missing = [name for name in required if not (getattr(customer, name) or "").strip()]
        if missing:
            raise DjangoValidationError(
                dict.fromkeys(missing, f"This field is required for {TYPE_NAMES[customer.customer_type]} customer.")
            )

    def prepare_create(self, record: Customer) -> None:
        """A new customer needs the names of its type, and its user an active membership; raises ValidationError."""
        check_linked_user(self.organization, record.user)
        self._check_names(record)

    def apply_update(self, record: Customer, fields: dict) -> None:
        """The names are checked against the record as it is after the change; raises ValidationError."""
        if links_another_user(record, fields):
            check_linked_user(self.organization, fields["user"])
        super().apply_update(record, fields)
        self._check_names(record)

    def check_delete(self, record: Customer) -> None:
        """Raises Protected (409) while deals point at the customer."""
        if record.deals.exists():
            raise Protected("This customer has deals and cannot be deleted.")
        # Deal.customer is RESTRICT, so a deal added meanwhile still stops the delete (also a 409).

    def check_purge(self, record: Customer) -> None:
        """Raises Protected (409) while deals in the trash still point at the customer."""
        if Deal.with_trashed.filter(customer=record).exists():
            raise Protected("Deals in the trash still belong to this customer; purge them first.")

    def stats(self) -> dict[str, int]:
        """Counts by status and type, and how many were created this month (UTC): two queries.

        The counts come from the tally for a caller who sees every customer.
        """
        groups = tallies.visible_totals(self.tenant, tallies.CUSTOMERS, ("status", "customer_type"))
        return {
            "total": tallies.count(groups),
            **{status: tallies.count(groups, status=status) for status in CustomerStatus.values},
            **{kind: tallies.count(groups, customer_type=kind) for kind in CustomerType.values},
            "new_this_month": self.records.filter(created_at__gte=month_start_utc()).count(),
        }

    def top(self, *, limit: int = 10) -> list[Customer]:
        """The `limit` customers with the most won-deal revenue, highest first (ties by id): one query.

        Each carries `revenue` (sum of its won deals' values) and `deals_won`; customers without a
        won deal are left out because the filter on the deal join comes before the annotation.
        """
        # Only the won deals the caller may see count, and none in the trash.
        won = self.tenant.visible(Deal.objects.filter(organization=self.organization, status=DealStatus.WON))
        return list(
            self.records.filter(deals__in=won)
            .annotate(revenue=tallies.MoneySum("deals__value"), deals_won=Count("deals"))
            .only(*NAME_FIELDS, "code")
            .order_by("-revenue", "id")[:limit]
        )

    @transaction.atomic
    def bulk_delete(self, *, ids: Iterable[int]) -> int:
        """Move the customers among `ids` to the trash and return how many.

        Ids outside the organization or the record scope, or of missing rows, are skipped. If any of the
        customers has live deals, raises Protected naming them and trashes nothing.
        """
        targets = self.locked_rows(ids)
        protected = sorted(
            self.records.filter(
                pk__in=[customer.pk for customer in targets], deals__isnull=False, deals__deleted_at__isnull=True
            )
            .values_list("id", flat=True)
            .distinct()
        )
        if protected:
            listed = ", ".join(str(pk) for pk in protected)
            raise Protected(f"Customers with deals cannot be deleted (ids: {listed}); nothing was deleted.")
        self.trash_rows(targets, source=ChangeSource.BULK)
        return len(targets)

    @transaction.atomic
    def bulk_update(self, *, ids: Iterable[int], **changes) -> int:
        """Set `status` and/or `assigned_to` on the organization's customers among `ids`; returns how many there are.

        Only the rows whose values really change are written (and get a new version).
        """
        unknown = set(changes) - BULK_UPDATE_FIELDS
        if unknown:
            raise BusinessRuleViolation(f"These fields cannot be set in bulk: {', '.join(sorted(unknown))}.")
        assignee: Employee | None = changes.get("assigned_to")
        if assignee is not None and assignee.organization_id != self.organization.id:
            raise BusinessRuleViolation("The employee belongs to another organization.")
        # Counted once locked: a customer trashed meanwhile drops out here, as it does from the update.
        # The lock is the one the update takes (not FOR UPDATE, which would wait for writes pointing at them).
        locked = self.records.filter(id__in=list(ids)).select_for_update(no_key=True).order_by("pk")
        matched = list(locked.values_list("pk", flat=True))
        self.update_rows(self.records.filter(pk__in=matched), source=ChangeSource.BULK, **changes)
        return len(matched)
