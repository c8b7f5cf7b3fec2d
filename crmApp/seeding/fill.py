"""Top one organization up to a number of employees, vendors, customers, leads and deals, fast."""

import time
from dataclasses import dataclass, field, fields

from django.utils import timezone
from django.utils.text import slugify
from tqdm import tqdm

from crmApp import access, tallies
from crmApp.caching import mark_organization_changed
from crmApp.constants import ChangeSource
from crmApp.history import record_type
from crmApp.models import (
    Activity,
    CodeSequence,
    Customer,
    Deal,
    Employee,
    HistoryEntry,
    Lead,
    Pipeline,
    PipelineStage,
    Vendor,
)
from crmApp.seeding import rows, writer
from crmApp.seeding.pools import Clock
from crmApp.services.organization_service import provision_organization


@dataclass
class Counts:
    """How many rows of each kind an organization should hold (or a fill added)."""

    employees: int = 0
    vendors: int = 0
    customers: int = 0
    leads: int = 0
    deals: int = 0
    activities: int = 0

    def items(self):
        """(kind, count) pairs in fill order."""
        return [(f.name, getattr(self, f.name)) for f in fields(self)]


@dataclass
class Step:
    """One kind of row a fill inserted, and how long that took."""

    kind: str
    target: int
    added: int
    seconds: float

    @property
    def rate(self) -> float:
        """Rows inserted per second."""
        return self.added / self.seconds if self.seconds else 0.0


@dataclass
class FillReport:
    """What a fill did to one organization."""

    organization: object
    steps: list[Step] = field(default_factory=list)
    linked_conversions: int = 0
    link_seconds: float = 0.0
    history: Step | None = None
    indexes_built: int = 0
    index_seconds: float = 0.0
    check_seconds: float = 0.0
    tally_seconds: float = 0.0
    analyze_seconds: float = 0.0
    seconds: float = 0.0

    @property
    def added(self) -> Counts:
        """The rows added, per kind."""
        return Counts(**{step.kind: step.added for step in self.steps})


# kind -> (model, code prefix, row generator)
KINDS = {
    "employees": (Employee, "EMP", rows.employee_rows),
    "vendors": (Vendor, "VEN", rows.vendor_rows),
    "customers": (Customer, "CUST", rows.customer_rows),
    "leads": (Lead, "LEAD", rows.lead_rows),
    "deals": (Deal, "DEAL", rows.deal_rows),
    "activities": (Activity, "ACT", rows.activity_rows),
}
KIND_OF = {model: kind for kind, (model, _, _) in KINDS.items()}
# Lead fields a seeded lead's creation history lists.
LEAD_HISTORY_FIELDS = ("first_name", "last_name", "status", "source", "score")
# A big fill gives a few records a long history (timelines to page through): per this many leads, one
# lead and half a customer get BUSY_HISTORY changes each.
BUSY_EVERY, BUSY_HISTORY = 100_000, 1_000


def _ids(model, organization_id: int) -> list[int]:
    return list(model.objects.filter(organization_id=organization_id).order_by("id").values_list("id", flat=True))


def _default_pipeline(organization) -> Pipeline:
    pipeline = Pipeline.objects.filter(organization=organization, is_default=True).first()
    if pipeline is None:  # an organization made before pipelines were provisioned
        provision_organization(organization)
        pipeline = Pipeline.objects.get(organization=organization, is_default=True)
    return pipeline


def _fill_kind(organization, ctx, kind: str, target: int, rng, progress: bool, deferred) -> Step:
    """Insert the rows of one kind the organization lacks."""
    model, prefix, generator = KINDS[kind]
    org_id = organization.id
    started = time.perf_counter()
    missing = max(target - model.objects.filter(organization_id=org_id).count(), 0)
    if missing and kind == "deals":
        ctx.customer_ids = _ids(Customer, org_id)
        if not ctx.customer_ids:
            raise ValueError("Deals need customers: ask for some customers too.")
        pipeline = _default_pipeline(organization)
        ctx.pipeline_id = pipeline.id
        ctx.stages = list(PipelineStage.objects.filter(pipeline=pipeline).order_by("order", "id"))
    if missing and kind == "activities":
        ctx.lead_ids, ctx.customer_ids, ctx.deal_ids = (_ids(m, org_id) for m in (Lead, Customer, Deal))
        if not (ctx.lead_ids or ctx.customer_ids or ctx.deal_ids):
            raise ValueError("Activities are about leads, customers or deals: ask for some of those too.")
    if missing:
        first = CodeSequence.objects.allocate(organization_id=org_id, prefix=prefix, count=missing)
        columns, chunks = generator(ctx, rng, missing, first)
        deferred.defer(model, missing)
        with tqdm(total=missing, desc=f"{kind:<9}", unit=" rows", unit_scale=True, disable=not progress) as bar:
            writer.insert_rows(model, columns, chunks, on_chunk=bar.update)
    return Step(kind, target, missing, time.perf_counter() - started)


def _write_history(ctx, org_id: int, floors: dict, leads_added: int, deferred) -> Step:
    """The history of a fill: one creation change per new lead, and a long one for a few busy records."""
    started = time.perf_counter()
    deferred.defer(HistoryEntry, leads_added)
    written = writer.write_creation_history(
        Lead, organization_id=org_id, after_id=floors["leads"], fields=LEAD_HISTORY_FIELDS, source=ChangeSource.SYSTEM
    )
    busy = leads_added // BUSY_EVERY
    if busy:
        records = [
            (record_type(model), record_id, code)
            for model, count in ((Lead, busy), (Customer, (busy + 1) // 2))
            for record_id, code in model.objects.filter(organization_id=org_id, id__gt=floors[KIND_OF[model]])
            .order_by("id")
            .values_list("id", "code")[:count]
        ]
        columns, chunks = rows.busy_history_rows(ctx, records, BUSY_HISTORY)
        written += writer.insert_rows(HistoryEntry, columns, chunks)
    return Step("history", 0, written, time.perf_counter() - started)


def _conversions(org_id: int, customers_before: int) -> int:
    """How many of the new customers came from converted leads: about half; the rest were won directly."""
    return (Customer.objects.filter(organization_id=org_id, id__gt=customers_before).count() + 1) // 2


def fill_organization(organization, *, targets: Counts, rng, author=None, progress: bool = False) -> FillReport:
    """Insert what is missing for the organization to hold at least `targets` rows of each kind.

    Run it inside a transaction: codes are reserved from the organization's counters in one block
    per kind, so they are unique and a record made later through the API gets the next number.
    Raises ValueError when deals are asked for and the organization has no customer to give them.
    """
    started = time.perf_counter()
    report = FillReport(organization=organization)
    org_id = organization.id
    ctx = rows.FillContext(
        organization_id=org_id,
        author_id=getattr(author, "id", None),
        clock=Clock(timezone.now()),
        domain=f"{slugify(organization.name)[:40] or 'organization'}.example",
        employee_ids=_ids(Employee, org_id),
    )
    floors = {kind: writer.max_id(KINDS[kind][0], org_id) for kind, _ in targets.items()}
    deferred = writer.DeferredIndexes()
    skipped_checks = writer.skip_row_reference_checks()
    try:
        for kind, target in targets.items():
            if kind == "leads":
                ctx.conversions = _conversions(org_id, floors["customers"])
            report.steps.append(_fill_kind(organization, ctx, kind, target, rng, progress, deferred))
            if kind == "employees":
                ctx.employee_ids = _ids(Employee, org_id)
            if kind == "leads":
                linking = time.perf_counter()
                report.linked_conversions = writer.link_converted_leads(
                    organization_id=org_id, customers_after_id=floors["customers"], limit=ctx.conversions
                )
                report.history = _write_history(ctx, org_id, floors, report.steps[-1].added, deferred)
                report.link_seconds = time.perf_counter() - linking
        building = time.perf_counter()
        report.indexes_built = deferred.build()
        report.index_seconds = time.perf_counter() - building
        if any(step.added for step in report.steps):
            # COPY sends no signals: cached reads of this organization, and the access its members'
            # record scopes reach (new employee records), must be recomputed.
            mark_organization_changed(org_id)
            access.organization_changed(org_id)
            # Statistics for the planner: the API's queries and the checks below want the new row counts.
            analyzing = time.perf_counter()
            analyze()
            report.analyze_seconds = time.perf_counter() - analyzing
            if skipped_checks:
                # Nor did the tally triggers fire (replica mode): count the tallies from the records.
                counting = time.perf_counter()
                tallies.rebuild(org_id)
                report.tally_seconds = time.perf_counter() - counting
                checking = time.perf_counter()
                for step in report.steps:
                    if step.added:
                        writer.check_references(KINDS[step.kind][0], organization_id=org_id, after_id=floors[step.kind])
                report.check_seconds = time.perf_counter() - checking
    finally:
        if skipped_checks:
            writer.restore_row_reference_checks()
    report.seconds = time.perf_counter() - started
    return report


def vacuum() -> None:
    """After the fill commits: mark the new pages all-visible, so aggregates can be index-only scans."""
    writer.vacuum([*(model for model, _, _ in KINDS.values()), HistoryEntry])


def analyze() -> None:
    """Refresh the planner statistics of the tables a fill writes (PostgreSQL; a no-op elsewhere)."""
    writer.analyze([*(model for model, _, _ in KINDS.values()), HistoryEntry])
