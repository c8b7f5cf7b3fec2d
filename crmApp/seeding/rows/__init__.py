"""Row generators: plain tuples in a fixed column order, produced in chunks so a big fill streams.

Every value is a str, an int or None, so the same rows feed PostgreSQL's COPY and a plain INSERT.
The business rules are not re-implemented here: lead scores come from `score_lead`, deal status and
probability from `apply_stage`, expected revenue from `expected_revenue`.
"""

from crmApp.seeding.rows.activities import activity_rows, busy_history_rows
from crmApp.seeding.rows.context import FillContext
from crmApp.seeding.rows.deals import deal_rows
from crmApp.seeding.rows.leads import lead_rows
from crmApp.seeding.rows.people import customer_rows, employee_rows, vendor_rows

__all__ = [
    "FillContext",
    "activity_rows",
    "busy_history_rows",
    "customer_rows",
    "deal_rows",
    "employee_rows",
    "lead_rows",
    "vendor_rows",
]
