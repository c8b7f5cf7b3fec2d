"""Leads: every status and source, scored by the rules themselves."""

from functools import cache
from random import Random

from crmApp.constants import LeadSource, LeadStatus
from crmApp.models.base import format_code
from crmApp.seeding import pools
from crmApp.seeding.pools import DAY, with_coverage
from crmApp.seeding.rows.context import COMMON, FillContext, chunks
from crmApp.services.lead_scoring import score_lead

LEAD_STATUSES = [s.value for s in LeadStatus]
LEAD_STATUS_WEIGHTS = [25, 18, 14, 11, 14, 18]
LEAD_SOURCES = [s.value for s in LeadSource]
LEAD_SOURCE_WEIGHTS = [14, 8, 22, 12, 10, 9, 9, 9, 7]
ESTIMATED_VALUES = [None] + [f"{v}.00" for v in range(1_000, 250_001, 500)]


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
        for start, n in chunks(count):
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
