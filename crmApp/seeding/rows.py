"""Row generators: plain tuples in a fixed column order, produced in chunks so a big fill streams.

Every value is a str, an int or None, so the same rows feed PostgreSQL's COPY and a plain INSERT.
The business rules are not re-implemented here: lead scores come from `score_lead`, deal status and
probability from `apply_stage`, expected revenue from `expected_revenue`.
"""

from dataclasses import dataclass, field
from datetime import timedelta
from functools import cache
from random import Random

from crmApp.constants import ActiveStatus, ActivityType, CustomerStatus, CustomerType, LeadSource, LeadStatus
from crmApp.models import Deal, PipelineStage
from crmApp.models.base import format_code
from crmApp.models.deal import expected_revenue
from crmApp.seeding import pools
from crmApp.seeding.pools import DAY, Clock, with_coverage
from crmApp.services.deal_service import apply_stage
from crmApp.services.lead_scoring import score_lead

CHUNK = 20_000
COMMON = ("organization_id", "created_at", "updated_at", "created_by_id", "code")

LEAD_STATUSES = [s.value for s in LeadStatus]
LEAD_STATUS_WEIGHTS = [25, 18, 14, 11, 14, 18]
LEAD_SOURCES = [s.value for s in LeadSource]
LEAD_SOURCE_WEIGHTS = [14, 8, 22, 12, 10, 9, 9, 9, 7]
ESTIMATED_VALUES = [None] + [f"{v}.00" for v in range(1_000, 250_001, 500)]
DEAL_VALUES = [f"{v}.00" for v in range(500, 300_001, 250)]


@dataclass
class FillContext:
    """What every generator of one organization's fill needs to know."""

    organization_id: int
    author_id: int | None
    clock: Clock
    domain: str
    employee_ids: list = field(default_factory=list)
    customer_ids: list = field(default_factory=list)
    lead_ids: list = field(default_factory=list)
    deal_ids: list = field(default_factory=list)
    stages: list = field(default_factory=list)  # PipelineStage rows of the default pipeline, in order
    pipeline_id: int | None = None
    # How many new leads may be converted: one per new customer that can be linked to one.
    conversions: int = 0

    def assignees(self, rng, count: int) -> list:
        """`count` employee ids for assigned_to, about one in eight left unassigned."""
        if not self.employee_ids:
            return [None] * count
        picks = rng.choices(self.employee_ids, k=count)
        return [None if rng.random() < 0.125 else pick for pick in picks]


@cache
def _score(has_email: bool, has_phone: bool, has_company: bool, has_title: bool, source: str, value) -> int:
    # score_lead only asks whether each contact field is present, so presence flags are exact inputs.
    return score_lead(
        email="x" if has_email else "",
        phone="x" if has_phone else "",
        company="x" if has_company else "",
        job_title="x" if has_title else "",
        source=source,
        estimated_value=value,
    )


@cache
def _expected(value: str, probability: int) -> str:
    return str(expected_revenue(value, probability))


def _chunks(count: int):
    for start in range(0, count, CHUNK):
        yield start, min(CHUNK, count - start)


def _phone(rng) -> str:
    return f"+1-555-{rng.randrange(1000):03d}-{rng.randrange(10000):04d}"


def employee_rows(ctx: FillContext, rng, count: int, first_number: int):
    """Employees with a department, a job title and a hire date within the last six years."""
    columns = (
        *COMMON,
        "first_name",
        "last_name",
        "email",
        "phone",
        "department",
        "job_title",
        "hire_date",
        "status",
        "user_id",
    )

    def generate():
        for start, n in _chunks(count):
            rows = []
            for i, tick in enumerate(ctx.clock.sample(rng, n, growth=False)):
                number = first_number + start + i
                first, last = rng.choice(pools.FIRST_NAMES), rng.choice(pools.LAST_NAMES)
                department = rng.choice(pools.DEPARTMENTS)
                hired = ctx.clock.first_day - timedelta(days=rng.randrange(6 * 365))
                status = ActiveStatus.INACTIVE.value if rng.random() < 0.08 else ActiveStatus.ACTIVE.value
                created = ctx.clock.text(tick)
                rows.append(
                    (
                        ctx.organization_id,
                        created,
                        created,
                        ctx.author_id,
                        format_code("EMP", number),
                        first,
                        last,
                        f"{first}.{last}.{number}@{ctx.domain}".lower(),
                        _phone(rng),
                        department,
                        rng.choice(pools.EMPLOYEE_TITLES[department]),
                        hired.isoformat(),
                        status,
                        None,
                    )
                )
            yield rows

    return columns, generate()


def vendor_rows(ctx: FillContext, rng, count: int, first_number: int):
    """Suppliers of assorted kinds, most of them active."""
    columns = (
        *COMMON,
        "name",
        "email",
        "phone",
        "contact_person",
        "vendor_type",
        "status",
        "address",
        "user_id",
        "notes",
    )

    def generate():
        for start, n in _chunks(count):
            rows = []
            for i, tick in enumerate(ctx.clock.sample(rng, n, growth=False)):
                number = first_number + start + i
                name = rng.choice(pools.COMPANIES)
                created = ctx.clock.text(tick)
                status = ActiveStatus.INACTIVE.value if rng.random() < 0.15 else ActiveStatus.ACTIVE.value
                rows.append(
                    (
                        ctx.organization_id,
                        created,
                        created,
                        ctx.author_id,
                        format_code("VEN", number),
                        name,
                        f"sales.{number}@vendor.example",
                        _phone(rng),
                        f"{rng.choice(pools.FIRST_NAMES)} {rng.choice(pools.LAST_NAMES)}",
                        rng.choice(pools.VENDOR_TYPES),
                        status,
                        f"{rng.randrange(1, 999)} {rng.choice(pools.STREETS)}",
                        None,
                        rng.choice(pools.NOTES),
                    )
                )
            yield rows

    return columns, generate()


def customer_rows(ctx: FillContext, rng, count: int, first_number: int):
    """Individuals and businesses, created with a rising rate so that recent growth shows."""
    columns = (
        *COMMON,
        "customer_type",
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
        "status",
        "source",
        "assigned_to_id",
        "user_id",
        "notes",
        "converted_from_lead_id",
    )
    statuses = [s.value for s in CustomerStatus]

    def generate():
        all_ticks = ctx.clock.sample(rng, count, ordered=True)
        for start, n in _chunks(count):
            rows = []
            ticks = all_ticks[start : start + n]
            assignees = ctx.assignees(rng, n)
            kinds = with_coverage(
                rng.choices([CustomerType.INDIVIDUAL.value, CustomerType.BUSINESS.value], [60, 40], k=n),
                [CustomerType.INDIVIDUAL.value, CustomerType.BUSINESS.value] if start == 0 else [],
            )
            for i in range(n):
                number = first_number + start + i
                first, last = rng.choice(pools.FIRST_NAMES), rng.choice(pools.LAST_NAMES)
                city, country = rng.choice(pools.CITIES)
                created = ctx.clock.text(ticks[i])
                if kinds[i] == CustomerType.BUSINESS:
                    company, industry, contact = (
                        rng.choice(pools.COMPANIES),
                        rng.choice(pools.INDUSTRIES),
                        f"{first} {last}",
                    )
                    email, first, last = f"contact.{number}@{company.split()[0].lower()}.example", "", ""
                else:
                    company = industry = contact = ""
                    email = f"{first}.{last}.{number}@mail.example".lower()
                rows.append(
                    (
                        ctx.organization_id,
                        created,
                        created,
                        ctx.author_id,
                        format_code("CUST", number),
                        kinds[i],
                        first,
                        last,
                        company,
                        industry,
                        contact,
                        email,
                        _phone(rng),
                        f"{rng.randrange(1, 999)} {rng.choice(pools.STREETS)}",
                        city,
                        country,
                        rng.choices(statuses, [70, 12, 18])[0],
                        rng.choice(LEAD_SOURCES),
                        assignees[i],
                        None,
                        rng.choice(pools.NOTES),
                        None,
                    )
                )
            yield rows

    return columns, generate()


def _with_blanks(pool, present: float) -> list:
    """The pool padded with blanks, so a uniform pick is non-blank with probability `present`."""
    return [*pool, *[""] * round(len(pool) * (1 - present) / present)]


_PHONE_RNG = Random(86_400)
PHONES = [f"+1-555-{_PHONE_RNG.randrange(1000):03d}-{_PHONE_RNG.randrange(10000):04d}" for _ in range(5000)]
LEAD_PHONES = _with_blanks(PHONES, 0.7)
LEAD_COMPANIES = _with_blanks(pools.COMPANIES, 0.6)
LEAD_TITLES = _with_blanks(pools.JOB_TITLES, 0.5)
NAME_PAIRS = [(first, last, f"{first}.{last}.".lower()) for first in pools.FIRST_NAMES for last in pools.LAST_NAMES]


def lead_rows(ctx: FillContext, rng, count: int, first_number: int):
    """Leads over every status and source; qualified/converted (and some lost) ones carry their dates.

    Written column by column with `choices`, since this loop runs a million times for a big fill.
    """
    columns = (
        *COMMON,
        "first_name",
        "last_name",
        "email",
        "phone",
        "company",
        "job_title",
        "source",
        "estimated_value",
        "status",
        "score",
        "assigned_to_id",
        "notes",
        "qualified_at",
        "converted_at",
    )
    qualified, converted, lost = LeadStatus.QUALIFIED.value, LeadStatus.CONVERTED.value, LeadStatus.LOST.value
    clock, org_id, author_id, domain = ctx.clock, ctx.organization_id, ctx.author_id, ctx.domain
    text, top = clock.text, clock.max_tick

    def generate():
        all_ticks = clock.sample(rng, count, ordered=True)
        conversions_left = ctx.conversions
        for start, n in _chunks(count):
            cover = start == 0
            statuses = with_coverage(
                rng.choices(LEAD_STATUSES, LEAD_STATUS_WEIGHTS, k=n), LEAD_STATUSES if cover else []
            )
            sources = with_coverage(rng.choices(LEAD_SOURCES, LEAD_SOURCE_WEIGHTS, k=n), LEAD_SOURCES if cover else [])
            names = rng.choices(NAME_PAIRS, k=n)
            emailed = rng.choices((True, True, True, True, True, True, True, True, True, False), k=n)
            phones = rng.choices(LEAD_PHONES, k=n)
            companies = rng.choices(LEAD_COMPANIES, k=n)
            titles = rng.choices(LEAD_TITLES, k=n)
            values = rng.choices(ESTIMATED_VALUES, k=n)
            assignees = ctx.assignees(rng, n)
            rnd = rng.random
            rows = []
            append = rows.append
            for i, tick in enumerate(all_ticks[start : start + n]):
                number = first_number + start + i
                first, last, handle = names[i]
                status, source, value, phone, company, title = (
                    statuses[i],
                    sources[i],
                    values[i],
                    phones[i],
                    companies[i],
                    titles[i],
                )
                email = f"{handle}{number}@{domain}" if emailed[i] else ""
                created = updated = text(tick)
                qualified_at = converted_at = None
                if status == converted:  # past the customers to link, a converted lead stays qualified
                    if conversions_left:
                        conversions_left -= 1
                    else:
                        status = qualified
                if status in (qualified, converted) or (status == lost and rnd() < 0.4):
                    tick = min(tick + int(DAY * (1 + 29 * rnd())), top)
                    qualified_at = updated = text(tick)
                    if status == converted:
                        converted_at = updated = text(min(tick + int(DAY * (1 + 19 * rnd())), top))
                append(
                    (
                        org_id,
                        created,
                        updated,
                        author_id,
                        format_code("LEAD", number),
                        first,
                        last,
                        email,
                        phone,
                        company,
                        title,
                        source,
                        value,
                        status,
                        _score(emailed[i], phone != "", company != "", title != "", source, value),
                        assignees[i],
                        "",
                        qualified_at,
                        converted_at,
                    )
                )
            yield rows

    return columns, generate()


def stage_templates(stages: list[PipelineStage]) -> list[tuple]:
    """(stage, status, probability) per stage, as `apply_stage` sets them on a deal entering it."""
    templates = []
    for stage in stages:
        deal = Deal()
        apply_stage(deal, stage)
        templates.append((stage, deal.status, deal.probability))
    return templates


def _stage_weight(stage: PipelineStage, open_rank: int) -> int:
    if stage.is_won:
        return 22
    if stage.is_lost:
        return 14
    return max(22 - 4 * open_rank, 4)  # fewer deals the further along the pipeline


def deal_rows(ctx: FillContext, rng, count: int, first_number: int):
    """Deals over every stage: closed ones closed within the last year, open ones due in the next six months."""
    columns = (
        *COMMON,
        "title",
        "customer_id",
        "pipeline_id",
        "stage_id",
        "value",
        "probability",
        "expected_revenue",
        "status",
        "expected_close_date",
        "closed_at",
        "assigned_to_id",
        "lead_id",
        "lost_reason",
    )
    templates = stage_templates(ctx.stages)
    open_ranks = iter(range(len(templates)))
    weights = [
        _stage_weight(stage, 0 if stage.is_won or stage.is_lost else next(open_ranks)) for stage, _, _ in templates
    ]
    clock = ctx.clock

    def generate():
        all_ticks = clock.sample(rng, count, ordered=True)
        for start, n in _chunks(count):
            rows = []
            picks = with_coverage(rng.choices(templates, weights, k=n), templates if start == 0 else [])
            customers = rng.choices(ctx.customer_ids, k=n)
            values = rng.choices(DEAL_VALUES, k=n)
            ticks = all_ticks[start : start + n]
            assignees = ctx.assignees(rng, n)
            for i in range(n):
                number = first_number + start + i
                (stage, status, probability), tick, value = picks[i], ticks[i], values[i]
                closed = None
                lost_reason = ""
                if stage.is_won or stage.is_lost:
                    closed_tick = clock.later(rng, tick, min_days=3, max_days=60)
                    closed, close_date = clock.text(closed_tick), clock.date_text(closed_tick)
                    updated = closed
                    if stage.is_lost:
                        lost_reason = rng.choice(pools.LOST_REASONS)
                else:
                    close_date = clock.future_date_text(rng.randrange(0, 183))
                    updated = clock.text(tick)
                rows.append(
                    (
                        ctx.organization_id,
                        clock.text(tick),
                        updated,
                        ctx.author_id,
                        format_code("DEAL", number),
                        f"{rng.choice(pools.PRODUCTS)} #{number}",
                        customers[i],
                        ctx.pipeline_id,
                        stage.id,
                        value,
                        probability,
                        _expected(value, probability),
                        status,
                        close_date,
                        closed,
                        assignees[i],
                        None,
                        lost_reason,
                    )
                )
            yield rows

    return columns, generate()


ACTIVITY_TYPES = [t.value for t in ActivityType]
ACTIVITY_TYPE_WEIGHTS = [20, 30, 15, 25, 10]
# Share of activities about a lead, a customer and a deal.
SUBJECT_WEIGHTS = [70, 20, 10]


def activity_rows(ctx: FillContext, rng, count: int, first_number: int):
    """Activities about leads, customers and deals; calls, meetings and tasks carry a due date, past or coming."""
    columns = (
        *COMMON,
        "type",
        "subject",
        "body",
        "due_at",
        "assigned_to_id",
        "customer_id",
        "lead_id",
        "deal_id",
        "is_done",
        "done_at",
        "done_by_id",
    )
    clock, rnd = ctx.clock, rng.random
    pools_by_kind = (ctx.lead_ids, ctx.customer_ids, ctx.deal_ids)

    def generate():
        all_ticks = clock.sample(rng, count, ordered=True)
        for start, n in _chunks(count):
            rows = []
            types = with_coverage(
                rng.choices(ACTIVITY_TYPES, ACTIVITY_TYPE_WEIGHTS, k=n), ACTIVITY_TYPES if not start else []
            )
            subjects = rng.choices(range(3), SUBJECT_WEIGHTS, k=n)
            assignees = ctx.assignees(rng, n)
            for i in range(n):
                number = first_number + start + i
                kind, tick = types[i], all_ticks[start + i]
                links = [None, None, None]  # lead, customer, deal
                pool = pools_by_kind[subjects[i]] or ctx.lead_ids or ctx.customer_ids
                links[subjects[i] if pools_by_kind[subjects[i]] else 0] = rng.choice(pool)
                due = done_at = None
                done = False
                if kind in ("call", "meeting", "task"):
                    if rnd() < 0.5:  # due in the past: mostly done, the rest overdue
                        due_tick = clock.later(rng, tick, min_days=0.5, max_days=20)
                        due = clock.text(due_tick)
                        done = rnd() < 0.7
                        done_at = clock.text(due_tick) if done else None
                    else:
                        due = f"{clock.future_date_text(rng.randrange(1, 60))} 09:00:00"
                created = clock.text(tick)
                rows.append(
                    (
                        ctx.organization_id,
                        created,
                        done_at or created,
                        ctx.author_id,
                        format_code("ACT", number),
                        kind,
                        f"{pools.ACTIVITY_SUBJECTS[kind]} #{number}",
                        "",
                        due,
                        assignees[i],
                        links[1],
                        links[0],
                        links[2],
                        done,
                        done_at,
                        ctx.author_id if done else None,
                    )
                )
            yield rows

    return columns, generate()


def busy_history_rows(ctx: FillContext, records: list[tuple[str, int, str]], per_record: int):
    """`per_record` field changes of each (type, id, code) record, spread over the year: timelines to page through."""
    columns = (
        "organization_id",
        "record_type",
        "record_id",
        "record_code",
        "kind",
        "event",
        "changes",
        "data",
        "actor_id",
        "source",
        "at",
    )
    clock = ctx.clock

    def generate():
        for record_type, record_id, code in records:
            step = max(1, clock.max_tick // per_record)
            rows = []
            for n in range(per_record):
                changes = f'[{{"field": "notes", "old": "revision {n}", "new": "revision {n + 1}"}}]'
                rows.append(
                    (
                        ctx.organization_id,
                        record_type,
                        record_id,
                        code,
                        "change",
                        "",
                        changes,
                        "{}",
                        ctx.author_id,
                        "api",
                        clock.text(n * step),
                    )
                )
            yield rows

    return columns, generate()
