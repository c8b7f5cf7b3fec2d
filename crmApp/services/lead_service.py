"""Leads: scoring on every write, the status workflow, assignment, conversion and statistics."""

from decimal import ROUND_HALF_UP, Decimal

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from crmApp import tallies
from crmApp.caching import cached_for_organization, query_fingerprint
from crmApp.constants import LONG_NAME_MAX, NAME_MAX, CustomerType, LeadSource, LeadStatus
from crmApp.exceptions import BusinessRuleViolation, InvalidTransition
from crmApp.models import Customer, Deal, Employee, Lead, Pipeline
from crmApp.services.base import OrganizationService, snapshot
from crmApp.services.customer_service import CustomerService
from crmApp.services.deal_service import DealService
from crmApp.services.lead_scoring import score_lead
from crmApp.services.merging import MergeMixin

# API.md › Business rules › Lead workflow. `converted` is reached only through LeadService.convert.
TRANSITIONS: dict[str, frozenset[str]] = {
    LeadStatus.NEW: frozenset({LeadStatus.CONTACTED, LeadStatus.QUALIFIED, LeadStatus.UNQUALIFIED, LeadStatus.LOST}),
    LeadStatus.CONTACTED: frozenset({LeadStatus.QUALIFIED, LeadStatus.UNQUALIFIED, LeadStatus.LOST}),
    LeadStatus.QUALIFIED: frozenset({LeadStatus.LOST, LeadStatus.CONVERTED}),
    LeadStatus.UNQUALIFIED: frozenset({LeadStatus.CONTACTED, LeadStatus.LOST}),
    LeadStatus.CONVERTED: frozenset(),
    LeadStatus.LOST: frozenset(),
}
# A lead may be created (e.g. imported) in any state that is not final.
START_STATUSES = frozenset(status for status, targets in TRANSITIONS.items() if targets)
DEAL_TITLE_SUFFIX = " deal"
ONE_DECIMAL = Decimal("0.1")


def compute_score(lead: Lead) -> int:
    """The API.md lead score of the lead's current field values."""
    return score_lead(
        email=lead.email,
        phone=lead.phone,
        company=lead.company,
        job_title=lead.job_title,
        source=lead.source,
        estimated_value=lead.estimated_value,
    )


class LeadService(MergeMixin, OrganizationService):
    """The lead rules of API.md › Business rules › Lead score and Lead workflow."""

    model = Lead
    fill_fields = (
        "first_name",
        "last_name",
        "email",
        "phone",
        "company",
        "job_title",
        "source",
        "estimated_value",
        "assigned_to",
        "notes",
    )
    company_field = "company"
    moved_relations = (("deal", "lead"), ("activity", "lead"))

    def check_merge_source(self, source: Lead) -> None:
        """A converted lead stays with its customer: it can't be merged into another."""
        if source.status == LeadStatus.CONVERTED:
            raise DjangoValidationError({"source_ids": f"{source.code} is converted and can't be merged away."})

    # --- writes -------------------------------------------------------------------------------------
    def prepare_create(self, record: Lead) -> None:
        """A lead starts in a non-final status (InvalidTransition otherwise) and is scored."""
        if record.status not in START_STATUSES:
            raise InvalidTransition(
                f"A lead cannot start as '{record.status}'; it starts as one of: {', '.join(sorted(START_STATUSES))}."
            )
        self._check_employee(record.assigned_to)
        if record.status == LeadStatus.QUALIFIED:
            record.qualified_at = timezone.now()
        record.score = compute_score(record)

    def apply_update(self, record: Lead, fields: dict) -> None:
        """Apply field changes, move the status when it differs (InvalidTransition if illegal), rescore."""
        status = fields.pop("status", None)
        self._check_employee(fields.get("assigned_to"))
        super().apply_update(record, fields)
        if status is not None and status != record.status:
            self._move(record, status)
        record.score = compute_score(record)

    @transaction.atomic
    def change_status(self, lead: Lead, status: str) -> Lead:
        """Move the lead along the workflow; the same status is a no-op; raises InvalidTransition."""
        return self.update(lead, status=status)

    @transaction.atomic
    def assign(self, lead: Lead, employee: Employee | None) -> Lead:
        """Make `employee` (of this organization) the lead's owner; None unassigns it."""
        return self.update(lead, assigned_to=employee)

    @transaction.atomic
    def convert(
        self,
        lead: Lead,
        *,
        create_deal: bool = False,
        deal_title: str | None = None,
        deal_value: Decimal | None = None,
        pipeline: Pipeline | None = None,
    ) -> tuple[Customer, Deal | None]:
        """Turn a qualified lead into a customer (and optionally a deal) exactly once.

        The lead row is locked first, so of two simultaneous conversions the second sees `converted`
        and fails. Raises InvalidTransition when the lead is not qualified, BusinessRuleViolation when
        the pipeline is another organization's or has no open stage.
        """
        lead = self.lock(lead)
        before = snapshot(lead)
        if lead.status != LeadStatus.QUALIFIED:
            if lead.status == LeadStatus.CONVERTED:
                raise InvalidTransition("This lead has already been converted.")
            raise InvalidTransition(f"Only a qualified lead can be converted; this one is '{lead.status}'.")
        if pipeline is not None and pipeline.organization_id != self.organization.id:
            raise BusinessRuleViolation("The pipeline belongs to another organization.")

        customer = self._create_customer(lead)
        deal = None
        if create_deal:
            if deal_value is None:
                deal_value = lead.estimated_value or Decimal("0")
            deal = DealService(self.tenant).create(
                title=deal_title or self._default_deal_title(lead),
                customer=customer,
                value=deal_value,
                pipeline=pipeline,
                lead=lead,
                assigned_to=self._live_assignee(lead),
            )
        lead.status = LeadStatus.CONVERTED
        lead.converted_at = timezone.now()
        converted = {"customer": customer.pk, "deal": deal.pk if deal else None}
        self.save_record(lead, before, events=[("converted", converted)])
        return customer, deal

    # --- reads --------------------------------------------------------------------------------------
    def stats(self, *, queryset: QuerySet | None = None) -> dict:
        """Totals by status and by source plus the average score.

        `queryset` narrows the leads counted (e.g. the list filters); it is always cut to this organization.
        None: every lead the caller sees, which for a caller who sees them all the tally answers.
        The result is kept until the organization's data changes.
        """
        whole = queryset is None and self.tenant.visibility is None
        leads = (self.records if queryset is None else queryset.filter(organization=self.organization)).order_by()
        groups = cached_for_organization(
            self.organization.id,
            "lead-stat-groups",
            # At most |statuses| × |sources| rows, whatever the number of leads.
            lambda: tallies.totals(
                tallies.LEADS, leads, ("status", "source"), organization_id=self.organization.id, whole=whole
            ),
            "whole" if whole else query_fingerprint(leads),
        )
        by_status = dict.fromkeys(LeadStatus.values, 0)
        by_source = dict.fromkeys(LeadSource.values, 0)
        for group in groups:
            by_status[group["status"]] += group["records"]
            by_source[group["source"]] += group["records"]
        total = sum(by_status.values())
        score_sum = tallies.summed(groups, "score_sum") or 0
        average = (Decimal(score_sum) / total).quantize(ONE_DECIMAL, rounding=ROUND_HALF_UP) if total else Decimal(0)
        return {"total": total, "by_status": by_status, "by_source": by_source, "average_score": float(average)}

    # --- internals ----------------------------------------------------------------------------------
    @staticmethod
    def _move(lead: Lead, status: str) -> None:
        """Set a new status if the workflow allows it; entering `qualified` stamps `qualified_at`."""
        if status == LeadStatus.CONVERTED:
            raise InvalidTransition("A lead becomes converted only through the convert action.")
        if status not in TRANSITIONS.get(lead.status, ()):
            raise InvalidTransition(f"A lead cannot go from '{lead.status}' to '{status}'.")
        lead.status = status
        if status == LeadStatus.QUALIFIED:
            lead.qualified_at = timezone.now()

    def _check_employee(self, employee: Employee | None) -> None:
        if employee is not None and employee.organization_id != self.organization.id:
            raise BusinessRuleViolation("The employee belongs to another organization.")

    def _create_customer(self, lead: Lead) -> Customer:
        """The customer a lead becomes; its names must satisfy the customer rules like any other."""
        try:
            return CustomerService(self.tenant).create(**self._customer_fields(lead))
        except DjangoValidationError as refused:
            if "assigned_to" in getattr(refused, "error_dict", {}):
                raise  # its employee went to the trash meanwhile (a race), not a missing name
            raise BusinessRuleViolation(
                "A lead without a company becomes an individual customer, which needs a first and a last name; "
                "add the lead's last name (or company) and convert again.",
                code="incomplete_lead",
            )

    @staticmethod
    def _live_assignee(lead: Lead) -> Employee | None:
        """The lead's employee, unless in the trash: a lead restored by an earlier version may still name one."""
        assignee = lead.assigned_to
        return assignee if assignee is not None and assignee.deleted_at is None else None

    @classmethod
    def _customer_fields(cls, lead: Lead) -> dict:
        """The new customer's fields: a business when the lead names a company, else an individual."""
        common = {
            "email": lead.email,
            "phone": lead.phone,
            "assigned_to": cls._live_assignee(lead),
            "source": lead.source,
            "notes": lead.notes,
            "converted_from_lead": lead,
        }
        if lead.company.strip():
            return {
                **common,
                "customer_type": CustomerType.BUSINESS,
                "company_name": lead.company,
                # Two 100-character names plus a space would overflow contact_person.
                "contact_person": lead.full_name[:NAME_MAX],
            }
        return {
            **common,
            "customer_type": CustomerType.INDIVIDUAL,
            "first_name": lead.first_name,
            "last_name": lead.last_name,
        }

    @staticmethod
    def _default_deal_title(lead: Lead) -> str:
        """'<company or name> deal', cut so it fits the deal title's 200 characters."""
        base = lead.company.strip() or lead.full_name
        return base[: LONG_NAME_MAX - len(DEAL_TITLE_SUFFIX)] + DEAL_TITLE_SUFFIX
