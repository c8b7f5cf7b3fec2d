"""Employees, vendors and customers."""

from datetime import timedelta

from crmApp.constants import ActiveStatus, CustomerStatus, CustomerType
from crmApp.models.base import format_code
from crmApp.seeding import pools
from crmApp.seeding.pools import with_coverage
from crmApp.seeding.rows.context import COMMON, FillContext, chunks, random_phone
from crmApp.seeding.rows.leads import LEAD_SOURCES


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
        for start, n in chunks(count):
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
                        random_phone(rng),
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
        for start, n in chunks(count):
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
                        random_phone(rng),
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
        for start, n in chunks(count):
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
                        random_phone(rng),
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
