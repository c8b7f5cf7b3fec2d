"""Analytics endpoints: read-only reports of the active organization, each needing `analytics:view`."""

from drf_spectacular.utils import extend_schema
from rest_framework.decorators import action
from rest_framework.response import Response

from crmApp.mixins import OrganizationScopedViewSet
from crmApp.serializers.analytics import (
    DashboardSerializer,
    EmployeePerformanceSerializer,
    ForecastQuerySerializer,
    ForecastSerializer,
    RevenueQuerySerializer,
    RevenueSerializer,
    SalesFunnelSerializer,
)
from crmApp.services.analytics_service import MAX_DAY_RANGE_DAYS, AnalyticsService

ANALYTICS_VIEW = "analytics:view"
ROUNDING = (
    "Percentages are rounded half-up to 1 decimal place and are 0.0 when their base is 0; "
    "money is a string with 2 decimals."
)

DASHBOARD = f"""Totals of the active organization.

`customers.growth` compares customers created in [now − 30 days, now) with [now − 60 days, now − 30 days):
(recent − earlier) / earlier × 100, 100.0 when only the earlier window is empty, 0.0 when both are.
`leads.qualified` counts leads with `qualified_at` set; `average_score` is the mean lead score.
`deals.win_rate` is won / (won + lost) × 100. `revenue.total` sums won deal values, `pipeline` open deal
values, `expected` open deals' expected revenue. {ROUNDING}"""
FUNNEL = f"""Leads, qualified leads (`qualified_at` set), deals (every deal) and won deals, each as a count and a
percentage of all leads (deals may pass 100); `conversion_rate` is won / leads × 100. {ROUNDING}"""
REVENUE = f"""Won deals summed per bucket of `closed_at` (UTC; weeks start on Monday), oldest first, empty buckets
left out. A bucket is named by its first day, even when `start` falls inside it. `start` and `end` are inclusive;
`end` defaults to today, `start` to the first day of the month 11 months before `end`'s (the last 12 calendar
months). Day buckets cover at most {MAX_DAY_RANGE_DAYS} days. {ROUNDING}"""
PERFORMANCE = f"""Every employee of the organization, active or inactive, with the leads and deals assigned to them;
`win_rate` is won / (won + lost) × 100, `revenue` sums won deal values, `pipeline` open deal values. Ordered by
revenue, highest first, then by employee id. {ROUNDING}"""
FORECAST = f"""Open deals by the month of `expected_close_date`, from the current month (UTC, all of it) on, one row per
month for `months` months, empty months as zeros. Deals expected earlier, or without a date, are left out. {ROUNDING}"""


class AnalyticsViewSet(OrganizationScopedViewSet):
    """Dashboard, funnel, revenue, employee and forecast reports, computed by AnalyticsService."""

    service_class = AnalyticsService
    business_rules = {"revenue": ["`start` is after `end`", "day buckets would span more than 1,096 days"]}
    # The reports read through the service and have no record list of their own: nothing to
    # paginate or filter, so neither the browsable API nor the schema generator asks the base for
    # a queryset it does not have.
    pagination_class = None
    filter_backends = ()

    @extend_schema(request=None, description=DASHBOARD, responses=DashboardSerializer)
    @action(detail=False, methods=["get"], permission_code=ANALYTICS_VIEW)
    def dashboard(self, request):
        """Customer, lead, deal and revenue totals."""
        return Response(DashboardSerializer(self.get_service().dashboard()).data)

    @extend_schema(request=None, description=FUNNEL, responses=SalesFunnelSerializer)
    @action(detail=False, methods=["get"], url_path="sales-funnel", permission_code=ANALYTICS_VIEW)
    def sales_funnel(self, request):
        """Leads → qualified → deals → won, as counts and percentages of all leads."""
        return Response(SalesFunnelSerializer(self.get_service().sales_funnel()).data)

    @extend_schema(
        request=None,
        description=REVENUE,
        responses=RevenueSerializer,
    )
    @action(detail=False, methods=["get"], permission_code=ANALYTICS_VIEW, query_serializer=RevenueQuerySerializer)
    def revenue(self, request):
        """Won revenue per day, week, month or year of `closed_at`."""
        params = self.validated_query()
        return Response(RevenueSerializer(self.get_service().revenue(**params)).data)

    @extend_schema(request=None, description=PERFORMANCE, responses=EmployeePerformanceSerializer)
    @action(detail=False, methods=["get"], url_path="employee-performance", permission_code=ANALYTICS_VIEW)
    def employee_performance(self, request):
        """Lead and deal figures of every employee, highest revenue first."""
        return Response(EmployeePerformanceSerializer(self.get_service().employee_performance()).data)

    @extend_schema(
        request=None,
        description=FORECAST,
        responses=ForecastSerializer,
    )
    @action(detail=False, methods=["get"], permission_code=ANALYTICS_VIEW, query_serializer=ForecastQuerySerializer)
    def forecast(self, request):
        """Open deals by expected close month, from the current month on."""
        params = self.validated_query()
        return Response(ForecastSerializer(self.get_service().forecast(**params)).data)
