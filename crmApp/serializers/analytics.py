"""Analytics: the query parameters each report accepts and the shapes it answers with."""

from rest_framework import serializers

from crmApp.services.analytics_service import DEFAULT_FORECAST_MONTHS, DEFAULT_PERIOD, MAX_FORECAST_MONTHS, PERIODS


class MoneyField(serializers.DecimalField):
    """A read-only amount rendered as a string with 2 decimal places, however large the sum."""

    def __init__(self, **kwargs):
        super().__init__(max_digits=None, decimal_places=2, coerce_to_string=True, read_only=True, **kwargs)


class PercentField(serializers.FloatField):
    """A read-only percentage (or mean), already rounded to 1 decimal place."""

    def __init__(self, **kwargs):
        super().__init__(read_only=True, **kwargs)


# --- query parameters -------------------------------------------------------------------------------
class RevenueQuerySerializer(serializers.Serializer):
    """`?period=day|week|month|year&start=YYYY-MM-DD&end=YYYY-MM-DD`; both dates inclusive, in UTC."""

    period = serializers.ChoiceField(choices=list(PERIODS), default=DEFAULT_PERIOD)
    start = serializers.DateField(
        required=False,
        input_formats=["%Y-%m-%d"],
        help_text="First day included (UTC). Default: the first day of the month 11 months before `end`'s.",
    )
    end = serializers.DateField(
        required=False, input_formats=["%Y-%m-%d"], help_text="Last day included (UTC). Default: today."
    )


class ForecastQuerySerializer(serializers.Serializer):
    """`?months=N`: how many months, from the current one on, the forecast lists."""

    months = serializers.IntegerField(min_value=1, max_value=MAX_FORECAST_MONTHS, default=DEFAULT_FORECAST_MONTHS)


# --- dashboard --------------------------------------------------------------------------------------
class CustomerFiguresSerializer(serializers.Serializer):
    """Customer totals; `growth` compares the last 30 days with the 30 before, in percent."""

    total = serializers.IntegerField(read_only=True)
    active = serializers.IntegerField(read_only=True)
    growth = PercentField()


class LeadFiguresSerializer(serializers.Serializer):
    """Lead totals and the mean lead score."""

    total = serializers.IntegerField(read_only=True)
    qualified = serializers.IntegerField(read_only=True)
    converted = serializers.IntegerField(read_only=True)
    average_score = PercentField()


class DealFiguresSerializer(serializers.Serializer):
    """Deal totals by status and won / (won + lost) in percent."""

    total = serializers.IntegerField(read_only=True)
    open = serializers.IntegerField(read_only=True)
    won = serializers.IntegerField(read_only=True)
    lost = serializers.IntegerField(read_only=True)
    win_rate = PercentField()


class RevenueFiguresSerializer(serializers.Serializer):
    """Won revenue, open pipeline value and the open deals' expected revenue."""

    total = MoneyField()
    pipeline = MoneyField()
    expected = MoneyField()


class DashboardSerializer(serializers.Serializer):
    """`GET /api/analytics/dashboard/`."""

    customers = CustomerFiguresSerializer(read_only=True)
    leads = LeadFiguresSerializer(read_only=True)
    deals = DealFiguresSerializer(read_only=True)
    revenue = RevenueFiguresSerializer(read_only=True)


# --- sales funnel -----------------------------------------------------------------------------------
class FunnelStageSerializer(serializers.Serializer):
    """One funnel step: its count and its share of all leads, in percent."""

    name = serializers.CharField(read_only=True, help_text="`leads`, `qualified`, `deals` or `won`, in that order.")
    count = serializers.IntegerField(read_only=True)
    percentage = PercentField()


class SalesFunnelSerializer(serializers.Serializer):
    """`GET /api/analytics/sales-funnel/`."""

    stages = FunnelStageSerializer(many=True, read_only=True)
    conversion_rate = PercentField()


# --- revenue ----------------------------------------------------------------------------------------
class RevenueBucketSerializer(serializers.Serializer):
    """Won deals closed within one bucket, which is named by its first day."""

    period = serializers.DateField(read_only=True)
    revenue = MoneyField()
    deals = serializers.IntegerField(read_only=True)


class RevenueSerializer(serializers.Serializer):
    """`GET /api/analytics/revenue/`: non-empty buckets, oldest first."""

    period = serializers.ChoiceField(choices=list(PERIODS), read_only=True)
    results = RevenueBucketSerializer(many=True, read_only=True)


# --- employee performance ---------------------------------------------------------------------------
class EmployeeRefSerializer(serializers.Serializer):
    """The employee a row is about."""

    id = serializers.IntegerField(read_only=True)
    name = serializers.CharField(read_only=True)


class EmployeePerformanceRowSerializer(serializers.Serializer):
    """One employee's lead and deal figures."""

    employee = EmployeeRefSerializer(read_only=True)
    leads_assigned = serializers.IntegerField(read_only=True)
    leads_converted = serializers.IntegerField(read_only=True)
    deals_won = serializers.IntegerField(read_only=True)
    deals_lost = serializers.IntegerField(read_only=True)
    win_rate = PercentField()
    revenue = MoneyField()
    pipeline = MoneyField()


class EmployeePerformanceSerializer(serializers.Serializer):
    """`GET /api/analytics/employee-performance/`: every employee, highest revenue first."""

    results = EmployeePerformanceRowSerializer(many=True, read_only=True)


# --- forecast ---------------------------------------------------------------------------------------
class ForecastMonthSerializer(serializers.Serializer):
    """Open deals expected to close within one month (`YYYY-MM`)."""

    month = serializers.RegexField(r"^\d{4}-\d{2}$", read_only=True)
    deals = serializers.IntegerField(read_only=True)
    pipeline = MoneyField()
    expected_revenue = MoneyField()


class ForecastSerializer(serializers.Serializer):
    """`GET /api/analytics/forecast/`: one row per month, empty months as zeros."""

    results = ForecastMonthSerializer(many=True, read_only=True)
