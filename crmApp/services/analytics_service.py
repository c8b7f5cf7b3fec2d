"""Analytics of one organization (API.md › Analytics), computed in the database.

Conventions shared by every figure:
- a percentage is `part / whole × 100` rounded half-up to one decimal place, and 0.0 when `whole` is 0;
- money is a Decimal quantized to the cent, 0.00 when nothing is summed;
- dates, windows and buckets are in UTC, and weeks start on Monday.
"""

from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.core.exceptions import ValidationError
from django.db.models import Count, Q
from django.db.models.functions import TruncDay, TruncMonth, TruncWeek, TruncYear
from django.utils import timezone

from crmApp import tallies
from crmApp.caching import cached_for_organization
from crmApp.constants import CustomerStatus, DealStatus, LeadStatus
from crmApp.models import Customer, Deal, Employee
from crmApp.tenancy import Tenant

CENT = Decimal("0.01")
TENTH = Decimal("0.1")
ZERO_MONEY = Decimal("0.00")

GROWTH_WINDOW = timedelta(days=30)
PERIODS = {"day": TruncDay, "week": TruncWeek, "month": TruncMonth, "year": TruncYear}
DEFAULT_PERIOD = "month"
DEFAULT_REVENUE_MONTHS = 12
# Day buckets over longer ranges stop being a chart; three years (one of them leap) is the most.
MAX_DAY_RANGE_DAYS = 3 * 365 + 1
DEFAULT_FORECAST_MONTHS = 6
MAX_FORECAST_MONTHS = 24


def percentage(part, whole) -> Decimal:
    """part / whole × 100, rounded half-up to 1 decimal place; 0.0 when whole is 0."""
    if not whole:
        return Decimal("0.0")
    return (Decimal(part) * 100 / Decimal(whole)).quantize(TENTH, rounding=ROUND_HALF_UP)


def mean(total, count) -> Decimal:
    """total / count as an exact Decimal rounded half-up to 1 decimal place; 0.0 when count is 0."""
    if not count:
        return Decimal("0.0")
    return (Decimal(total) / Decimal(count)).quantize(TENTH, rounding=ROUND_HALF_UP)


def money(value) -> Decimal:
    """A summed amount as Decimal cents; None (nothing summed) is 0.00."""
    return ZERO_MONEY if value is None else Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def add_months(day: date, months: int) -> date:
    """The first day of the month `months` after (or before) `day`'s month, kept within date.min..date.max."""
    index = day.year * 12 + day.month - 1 + months
    year = index // 12
    if year < date.min.year:
        return date.min
    if year > date.max.year:
        return date(date.max.year, 12, 1)
    return date(year, index % 12 + 1, 1)


def today_utc() -> date:
    """Today's date in UTC."""
    return timezone.now().astimezone(UTC).date()


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def _by_assignee(groups: list[dict]) -> dict[int, list[dict]]:
    """Groups by `assigned_to_id`, unassigned ones left out."""
    assigned: dict[int, list[dict]] = {}
    for group in groups:
        if group["assigned_to_id"] is not None:
            assigned.setdefault(group["assigned_to_id"], []).append(group)
    return assigned


class AnalyticsService:
    """Read-only figures of one organization; every query is filtered by that organization."""

    def __init__(self, tenant: Tenant, **_):
        self.tenant = tenant
        self.organization = tenant.organization

    # --- scoped querysets ---------------------------------------------------------------------
    def _customers(self):
        return self.tenant.visible(Customer.objects.filter(organization=self.organization)).order_by()

    def _deals(self):
        return self.tenant.visible(Deal.objects.filter(organization=self.organization)).order_by()

    def _cached(self, name: str, compute, *key_parts):
        """A figure that depends only on the organization's data (and `key_parts`), kept until that data changes."""
        return cached_for_organization(
            self.organization.id, f"analytics-{name}", compute, self.tenant.scope_key, *key_parts
        )

    # --- dashboard ----------------------------------------------------------------------------
    def dashboard(self) -> dict:
        """Customer, lead, deal and revenue totals (three queries).

        Growth compares customers created in [now − 30 days, now) with [now − 60 days, now − 30 days).
        """
        now = timezone.now()
        recent_from, earlier_from = now - GROWTH_WINDOW, now - 2 * GROWTH_WINDOW
        # Totals don't depend on the clock, so they are kept until the data changes; the growth windows
        # move with it, and are counted on the (organization, created_at) index over 60 days only.
        customers = self._cached(
            "dashboard-customer-groups", lambda: tallies.visible_totals(self.tenant, tallies.CUSTOMERS, ("status",))
        )
        windows = (
            self._customers()
            .filter(created_at__gte=earlier_from, created_at__lt=now)
            .aggregate(
                recent=Count("id", filter=Q(created_at__gte=recent_from)),
                earlier=Count("id", filter=Q(created_at__lt=recent_from)),
            )
        )
        leads = self._cached(
            "dashboard-lead-groups", lambda: tallies.visible_totals(self.tenant, tallies.LEADS, ("status", "qualified"))
        )
        deals = self._cached(
            "dashboard-deal-groups", lambda: tallies.visible_totals(self.tenant, tallies.DEALS, ("status",))
        )
        won, lost = tallies.count(deals, status=DealStatus.WON), tallies.count(deals, status=DealStatus.LOST)
        return {
            "customers": {
                "total": tallies.count(customers),
                "active": tallies.count(customers, status=CustomerStatus.ACTIVE),
                "growth": self._growth(windows["recent"], windows["earlier"]),
            },
            "leads": {
                "total": tallies.count(leads),
                "qualified": tallies.count(leads, qualified=True),
                "converted": tallies.count(leads, status=LeadStatus.CONVERTED),
                # Summed in the database, divided here as Decimal, so rounding applies to the exact mean.
                "average_score": mean(tallies.summed(leads, "score_sum"), tallies.count(leads)),
            },
            "deals": {
                "total": tallies.count(deals),
                "open": tallies.count(deals, status=DealStatus.OPEN),
                "won": won,
                "lost": lost,
                "win_rate": percentage(won, won + lost),
            },
            "revenue": {
                "total": money(tallies.summed(deals, "value_sum", status=DealStatus.WON)),
                "pipeline": money(tallies.summed(deals, "value_sum", status=DealStatus.OPEN)),
                "expected": money(tallies.summed(deals, "expected_sum", status=DealStatus.OPEN)),
            },
        }

    @staticmethod
    def _growth(recent: int, earlier: int) -> Decimal:
        if earlier == 0:
            return Decimal("100.0") if recent else Decimal("0.0")
        return percentage(recent - earlier, earlier)

    # --- sales funnel -------------------------------------------------------------------------
    def sales_funnel(self) -> dict:
        """Leads → qualified → deals → won, each as a count and a percentage of all leads (two queries)."""
        return self._cached("sales-funnel", self._compute_sales_funnel)

    def _compute_sales_funnel(self) -> dict:
        leads = tallies.visible_totals(self.tenant, tallies.LEADS, ("qualified",))
        deals = tallies.visible_totals(self.tenant, tallies.DEALS, ("status",))
        total, won = tallies.count(leads), tallies.count(deals, status=DealStatus.WON)
        counts = (
            ("leads", total),
            ("qualified", tallies.count(leads, qualified=True)),
            ("deals", tallies.count(deals)),
            ("won", won),
        )
        return {
            "stages": [
                {"name": name, "count": count, "percentage": percentage(count, total)} for name, count in counts
            ],
            "conversion_rate": percentage(won, total),
        }

    # --- revenue ------------------------------------------------------------------------------
    def revenue_range(self, *, period: str, start: date | None = None, end: date | None = None) -> tuple[date, date]:
        """The inclusive [start, end] dates a revenue report covers; raises ValidationError when unusable.

        `end` defaults to today (UTC); `start` to the first day of the month 11 months before `end`'s,
        so the default is the last 12 calendar months, the current one included.
        """
        if period not in PERIODS:
            raise ValidationError({"period": [f"Must be one of: {', '.join(PERIODS)}."]})
        given_end, end = end, end or today_utc()
        start = start or add_months(end, 1 - DEFAULT_REVENUE_MONTHS)
        if start > end:
            today = "" if given_end else f" (today, {end.isoformat()}, when end is left out)"
            raise ValidationError({"start": [f"Must not be after end{today}."]})
        if period == "day" and (end - start).days + 1 > MAX_DAY_RANGE_DAYS:
            raise ValidationError(
                {"period": [f"Day buckets cover at most {MAX_DAY_RANGE_DAYS} days; use week, month or year."]}
            )
        return start, end

    def revenue(self, *, period: str = DEFAULT_PERIOD, start: date | None = None, end: date | None = None) -> dict:
        """Won deals closed within [start, end], summed per bucket, oldest first, empty buckets left out (one query).

        A bucket is labelled by its first day (a Monday for weeks), even when the range begins inside it.
        """
        start, end = self.revenue_range(period=period, start=start, end=end)
        return self._cached("revenue", lambda: self._compute_revenue(period, start, end), period, start, end)

    def _compute_revenue(self, period: str, start: date, end: date) -> dict:
        deals = self._deals().filter(status=DealStatus.WON, closed_at__gte=_midnight(start))
        if end < date.max:  # the last representable day has no next midnight to stop before
            deals = deals.filter(closed_at__lt=_midnight(end + timedelta(days=1)))
        rows = (
            deals.annotate(bucket=PERIODS[period]("closed_at", tzinfo=UTC))
            .values("bucket")
            .annotate(revenue=tallies.MoneySum("value"), deals=Count("id"))
            .order_by("bucket")
        )
        return {
            "period": period,
            "results": [
                {
                    "period": row["bucket"].astimezone(UTC).date(),
                    "revenue": money(row["revenue"]),
                    "deals": row["deals"],
                }
                for row in rows
            ],
        }

    # --- employee performance -----------------------------------------------------------------
    def employee_performance(self) -> dict:
        """Every employee (active or not) with lead and deal figures, highest revenue first, ties by id.

        Leads and deals are grouped in separate queries merged by employee id, so neither multiplies
        the other's counts (three queries whatever the number of employees).
        """
        return self._cached("employee-performance", self._compute_employee_performance)

    def _compute_employee_performance(self) -> dict:
        employees = (
            Employee.objects.filter(organization=self.organization)
            .order_by()
            .values_list("id", "first_name", "last_name")
        )
        leads = _by_assignee(tallies.visible_totals(self.tenant, tallies.LEADS, ("assigned_to_id", "status")))
        deals = _by_assignee(tallies.visible_totals(self.tenant, tallies.DEALS, ("assigned_to_id", "status")))
        results = []
        for employee_id, first_name, last_name in employees:
            assigned_leads, assigned_deals = leads.get(employee_id, []), deals.get(employee_id, [])
            won = tallies.count(assigned_deals, status=DealStatus.WON)
            lost = tallies.count(assigned_deals, status=DealStatus.LOST)
            results.append(
                {
                    "employee": {"id": employee_id, "name": f"{first_name} {last_name}".strip()},
                    "leads_assigned": tallies.count(assigned_leads),
                    "leads_converted": tallies.count(assigned_leads, status=LeadStatus.CONVERTED),
                    "deals_won": won,
                    "deals_lost": lost,
                    "win_rate": percentage(won, won + lost),
                    "revenue": money(tallies.summed(assigned_deals, "value_sum", status=DealStatus.WON)),
                    "pipeline": money(tallies.summed(assigned_deals, "value_sum", status=DealStatus.OPEN)),
                }
            )
        results.sort(key=lambda row: (-row["revenue"], row["employee"]["id"]))
        return {"results": results}

    # --- forecast -----------------------------------------------------------------------------
    def forecast(self, *, months: int = DEFAULT_FORECAST_MONTHS) -> dict:
        """Open deals by the month of `expected_close_date`, from the current month (whole) on (one query).

        Every one of the `months` months is listed, empty ones as zeros; deals expected before the
        current month, or without a date, are left out.
        """
        if not 1 <= months <= MAX_FORECAST_MONTHS:
            raise ValidationError({"months": [f"Must be between 1 and {MAX_FORECAST_MONTHS}."]})
        first = add_months(today_utc(), 0)
        # Kept until the data changes or the month turns (the window starts at the current month).
        return self._cached("forecast", lambda: self._compute_forecast(first, months), first, months)

    def _compute_forecast(self, first: date, months: int) -> dict:
        after = add_months(first, months)
        rows = (
            self._deals()
            .filter(status=DealStatus.OPEN, expected_close_date__gte=first, expected_close_date__lt=after)
            .annotate(month=TruncMonth("expected_close_date"))
            .values("month")
            .annotate(
                deals=Count("id"), pipeline=tallies.MoneySum("value"), expected=tallies.MoneySum("expected_revenue")
            )
        )
        by_month = {row["month"].strftime("%Y-%m"): row for row in rows}
        results = []
        for offset in range(months):
            key = add_months(first, offset).strftime("%Y-%m")
            row = by_month.get(key, {})
            results.append(
                {
                    "month": key,
                    "deals": row.get("deals", 0),
                    "pipeline": money(row.get("pipeline")),
                    "expected_revenue": money(row.get("expected")),
                }
            )
        return {"results": results}
