"""Dashboard and sales funnel figures, rounding, empty organizations, RBAC and query counts."""

from datetime import timedelta
from decimal import Decimal

import pytest

from crmApp.constants import CustomerStatus, LeadStatus, ProfileType
from crmApp.services.analytics_service import AnalyticsService, mean, percentage
from crmApp.tenancy import Tenant
from crmApp.tests.analytics_data import (
    ENDPOINTS,
    NOW,
    at,
    customer,
    deal,
    freeze,
    lead,
    lost,
    member_with_role,
    url,
    won,
)
from crmApp.tests.conftest import make_client
from crmApp.tests.factories import EmployeeFactory

pytestmark = pytest.mark.django_db
RECENT_FROM = NOW - timedelta(days=30)
EARLIER_FROM = NOW - timedelta(days=60)
TICK = timedelta(microseconds=1)


@pytest.mark.parametrize(
    "part, whole, expected",
    [
        (0, 0, "0.0"),
        (5, 0, "0.0"),
        (2, 3, "66.7"),
        (1, 3, "33.3"),
        (1, 16, "6.3"),  # 6.25: half-up, where banker's rounding (and float round()) would give 6.2
        (3, 16, "18.8"),
        (1, 32, "3.1"),  # 3.125
        (3, 2, "150.0"),
        (-1, 8, "-12.5"),
    ],
)
def test_percentage_rounds_half_up_to_one_decimal(part, whole, expected):
    assert percentage(part, whole) == Decimal(expected)


@pytest.mark.parametrize("total, count, expected", [(25, 4, "6.3"), (0, 0, "0.0"), (145, 2, "72.5"), (200, 3, "66.7")])
def test_mean_is_exact_then_rounded_half_up(total, count, expected):
    assert mean(total, count) == Decimal(expected)


def build_dashboard_data(org):
    """Customers on both growth windows' edges, scored and qualified leads, deals in every status."""
    buyer = customer(org, status=CustomerStatus.INACTIVE)  # created long ago: in neither window
    customer(org, created_at=NOW - TICK)  # recent
    customer(org, created_at=RECENT_FROM, status=CustomerStatus.PROSPECT)  # recent (window start is inclusive)
    customer(org, created_at=at(2024, 3, 1))  # recent
    customer(org, created_at=RECENT_FROM - TICK)  # earlier
    customer(org, created_at=EARLIER_FROM, status=CustomerStatus.INACTIVE)  # earlier (inclusive)
    customer(org, created_at=EARLIER_FROM - TICK)  # before both windows
    customer(org, created_at=NOW)  # the window ends before now
    lead(org, score=10, status=LeadStatus.CONVERTED, qualified=True)
    lead(org, score=15, status=LeadStatus.LOST, qualified=True)  # qualified once, lost later: still qualified
    lead(org, score=0, status=LeadStatus.QUALIFIED)  # status alone (no qualified_at) does not count
    lead(org, score=0)
    deal(org, "Prospecting", "1000.00", customer=buyer)  # expected 100.00
    deal(org, "Proposal", "2500.50", customer=buyer)  # expected 1250.25
    deal(org, "Negotiation", "333.33", customer=buyer)  # expected 249.9975 -> 250.00
    won(org, "5000.00", customer=buyer)
    won(org, "1234.56", customer=buyer)
    lost(org, "700.00", customer=buyer)


def test_dashboard_figures_match_the_hand_built_dataset(frozen, noise, organization, owner_client):
    build_dashboard_data(organization)

    response = owner_client.get(url("dashboard"))

    assert response.status_code == 200
    assert response.json() == {
        "customers": {"total": 8, "active": 5, "growth": 50.0},  # 3 recent against 2 earlier
        "leads": {"total": 4, "qualified": 2, "converted": 1, "average_score": 6.3},  # 25 / 4 = 6.25
        "deals": {"total": 6, "open": 3, "won": 2, "lost": 1, "win_rate": 66.7},
        "revenue": {"total": "6234.56", "pipeline": "3833.83", "expected": "1600.25"},
    }


@pytest.mark.parametrize(
    "recent, earlier, growth",
    [
        (0, 0, 0.0),
        (2, 0, 100.0),
        (0, 2, -100.0),
        (1, 3, -66.7),
        (4, 3, 33.3),
        (3, 3, 0.0),
        (5, 2, 150.0),
    ],
)
def test_customer_growth_compares_the_last_30_days_with_the_30_before(
    frozen, noise, organization, owner_client, recent, earlier, growth
):
    for index in range(recent):
        customer(organization, created_at=NOW - timedelta(days=index, seconds=1))
    for index in range(earlier):
        customer(organization, created_at=RECENT_FROM - timedelta(days=index, seconds=1))

    figures = owner_client.get(url("dashboard")).json()["customers"]

    assert figures == {"total": recent + earlier, "active": recent + earlier, "growth": growth}


def test_growth_windows_follow_the_clock(monkeypatch, organization, owner_client):
    customer(organization, created_at=at(2024, 3, 1))
    freeze(monkeypatch, at(2024, 3, 20))
    assert owner_client.get(url("dashboard")).json()["customers"]["growth"] == 100.0
    freeze(monkeypatch, at(2024, 4, 15))  # 2024-03-01 now sits in the earlier window
    assert owner_client.get(url("dashboard")).json()["customers"]["growth"] == -100.0
    freeze(monkeypatch, at(2024, 5, 1))  # and now in neither
    assert owner_client.get(url("dashboard")).json()["customers"]["growth"] == 0.0


def test_win_rate_rounds_half_up(frozen, noise, organization, owner_client):
    buyer = customer(organization)
    won(organization, "10.00", customer=buyer)
    for _ in range(15):
        lost(organization, customer=buyer)

    assert owner_client.get(url("dashboard")).json()["deals"]["win_rate"] == 6.3  # 1 / 16 = 6.25 %


# Past 15 significant digits a sum read as a float (SQLite) loses its cents.
HUGE_SUMS = [
    (3, {"total": "2999999999999.97", "pipeline": "2999999999999.97", "expected": "2249999999999.97"}),
    (11, {"total": "10999999999999.89", "pipeline": "10999999999999.89", "expected": "8249999999999.89"}),
]


@pytest.mark.parametrize("deals, expected", HUGE_SUMS)
def test_dashboard_sums_huge_values_exactly(frozen, organization, owner_client, deals, expected):
    buyer = customer(organization)
    for _ in range(deals):
        won(organization, "999999999999.99", customer=buyer)
        deal(organization, "Negotiation", "999999999999.99", customer=buyer)

    revenue = owner_client.get(url("dashboard")).json()["revenue"]

    assert revenue == expected


@pytest.mark.parametrize(
    "path, stage, read",
    [
        ("/api/analytics/revenue/?period=year", "Closed Won", lambda body: body["results"][0]["revenue"]),
        ("/api/analytics/employee-performance/", "Closed Won", lambda body: body["results"][0]["revenue"]),
        ("/api/analytics/forecast/?months=1", "Negotiation", lambda body: body["results"][0]["pipeline"]),
        ("/api/customers/top/", "Closed Won", lambda body: body[0]["revenue"]),
        ("/api/deals/board/", "Negotiation", lambda body: body[3]["value"]),
    ],
)
def test_every_money_report_sums_huge_values_exactly(frozen, organization, owner_client, path, stage, read):
    seller, buyer = EmployeeFactory(organization=organization), customer(organization)
    for _ in range(11):
        deal(
            organization,
            stage,
            "999999999999.99",
            closed_at=NOW - timedelta(days=1) if stage == "Closed Won" else None,
            customer=buyer,
            assigned_to=seller,
            expected_close_date=NOW.date(),
        )

    assert read(owner_client.get(path).json()) == "10999999999999.89"


def test_sales_funnel_counts_and_percentages_of_leads(frozen, noise, organization, owner_client):
    build_dashboard_data(organization)

    response = owner_client.get(url("sales-funnel"))

    assert response.status_code == 200
    assert response.json() == {
        "stages": [
            {"name": "leads", "count": 4, "percentage": 100.0},
            {"name": "qualified", "count": 2, "percentage": 50.0},
            {"name": "deals", "count": 6, "percentage": 150.0},
            {"name": "won", "count": 2, "percentage": 50.0},
        ],
        "conversion_rate": 50.0,
    }


def test_sales_funnel_rounds_thirds(frozen, noise, organization, owner_client):
    lead(organization, qualified=True)
    lead(organization)
    lead(organization)
    buyer = customer(organization)
    won(organization, "1.00", customer=buyer)
    for _ in range(3):
        deal(organization, customer=buyer)

    body = owner_client.get(url("sales-funnel")).json()

    assert [stage["percentage"] for stage in body["stages"]] == [100.0, 33.3, 133.3, 33.3]
    assert body["conversion_rate"] == 33.3


def test_sales_funnel_without_leads_is_all_zero_percent(frozen, noise, organization, owner_client):
    won(organization, "1.00")

    body = owner_client.get(url("sales-funnel")).json()

    assert body["stages"][2:] == [
        {"name": "deals", "count": 1, "percentage": 0.0},
        {"name": "won", "count": 1, "percentage": 0.0},
    ]
    assert body["conversion_rate"] == 0.0


def test_empty_organization_gets_zeros_not_errors(frozen, noise, owner_client):
    dashboard = owner_client.get(url("dashboard")).json()
    funnel = owner_client.get(url("sales-funnel")).json()

    assert dashboard == {
        "customers": {"total": 0, "active": 0, "growth": 0.0},
        "leads": {"total": 0, "qualified": 0, "converted": 0, "average_score": 0.0},
        "deals": {"total": 0, "open": 0, "won": 0, "lost": 0, "win_rate": 0.0},
        "revenue": {"total": "0.00", "pipeline": "0.00", "expected": "0.00"},
    }
    assert funnel == {
        "stages": [{"name": name, "count": 0, "percentage": 0.0} for name in ("leads", "qualified", "deals", "won")],
        "conversion_rate": 0.0,
    }


def test_the_other_organization_sees_only_its_own_figures(frozen, organization, other_organization, other_client):
    build_dashboard_data(organization)
    won(other_organization, "42.00")

    body = other_client.get(url("dashboard")).json()

    assert body["deals"] == {"total": 1, "open": 0, "won": 1, "lost": 0, "win_rate": 100.0}
    assert body["revenue"]["total"] == "42.00"
    assert body["leads"]["total"] == 0


def test_service_is_bound_to_its_organization(frozen, noise, organization):
    build_dashboard_data(organization)

    assert AnalyticsService(Tenant.system(noise)).dashboard()["deals"]["won"] == 5
    assert AnalyticsService(Tenant.system(organization)).dashboard()["deals"]["won"] == 2


# --- access ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("role, status", [("Sales Manager", 200), ("Viewer", 200), ("Sales Rep", 403)])
def test_default_roles_and_analytics_access(organization, endpoint, role, status):
    response = member_with_role(organization, role).get(url(endpoint))

    assert response.status_code == status
    if status == 403:
        assert response.json()["code"] == "permission_denied"


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_member_without_analytics_code_is_403(member_client, endpoint):
    client = member_client(["customers:view", "leads:view", "deals:view", "employees:view"])

    assert client.get(url(endpoint)).status_code == 403


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_analytics_view_code_alone_is_enough(member_client, endpoint):
    assert member_client(["analytics:view"]).get(url(endpoint)).status_code == 200


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_customer_portal_member_is_403(member_client, endpoint):
    assert member_client(profile_type=ProfileType.CUSTOMER).get(url(endpoint)).status_code == 403


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_anonymous_is_401(api_client, endpoint):
    assert api_client.get(url(endpoint)).status_code == 401


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_foreign_organization_header_is_403(owner, other_organization, endpoint):
    assert make_client(owner, other_organization).get(url(endpoint)).status_code == 403


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_reports_are_read_only(owner_client, endpoint):
    assert owner_client.post(url(endpoint), {}, format="json").status_code == 405
    assert owner_client.delete(url(endpoint)).status_code == 405


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_head_and_options_work_without_a_queryset(owner_client, endpoint):
    assert owner_client.head(url(endpoint)).status_code == 200
    assert owner_client.options(url(endpoint)).status_code == 200


def test_there_is_no_analytics_index(owner_client):
    assert owner_client.get("/api/analytics/").status_code == 404


def test_growth_moves_with_the_clock_while_the_cached_totals_stay(frozen, organization, owner_client, monkeypatch):
    customer(organization, created_at=NOW - timedelta(days=29))
    assert owner_client.get(url("dashboard")).json()["customers"]["growth"] == 100.0

    freeze(monkeypatch, NOW + timedelta(days=2))  # no write: the customer is now in the earlier window

    assert owner_client.get(url("dashboard")).json()["customers"] == {"total": 1, "active": 1, "growth": -100.0}


# --- query counts ------------------------------------------------------------------------------------
@pytest.mark.parametrize("size", [1, 12])
def test_dashboard_and_funnel_query_counts_do_not_grow_with_data(
    frozen, organization, owner_client, django_assert_max_num_queries, size
):
    buyer = customer(organization)
    for _ in range(size):
        lead(organization, qualified=True)
        won(organization, "5.00", customer=buyer)
        deal(organization, customer=buyer)

    # Authentication and the membership: 2; the dashboard: 4 aggregates; the funnel: 2. Once cached, the
    # dashboard counts only the customers of its two growth windows, which move with the clock.
    with django_assert_max_num_queries(6):
        assert owner_client.get(url("dashboard")).status_code == 200
    with django_assert_max_num_queries(1):
        assert owner_client.get(url("dashboard")).status_code == 200
    with django_assert_max_num_queries(4):
        assert owner_client.get(url("sales-funnel")).status_code == 200
