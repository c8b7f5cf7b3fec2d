"""Aggregates kept under the organization's data version are never stale: every kind of write shows at once."""

from datetime import date
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from crmApp.services import analytics_service
from crmApp.tests.factories import (
    CustomerFactory,
    DealFactory,
    LeadFactory,
    default_stage,
)

DASHBOARD = "/api/analytics/dashboard/"
FUNNEL = "/api/analytics/sales-funnel/"
PERFORMANCE = "/api/analytics/employee-performance/"
LEAD_STATS = "/api/leads/stats/"
BOARD = "/api/deals/board/"
REVENUE = "/api/analytics/revenue/"
FORECAST = "/api/analytics/forecast/"


def queries_of(client, url) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


@pytest.fixture
def data(organization):
    customer = CustomerFactory(organization=organization)
    deal = DealFactory(organization=organization, customer=customer, value=Decimal("1000.00"))
    lead = LeadFactory(organization=organization)
    return {"customer": customer, "deal": deal, "lead": lead}


@pytest.mark.django_db
@pytest.mark.parametrize("url", [DASHBOARD, FUNNEL, PERFORMANCE, LEAD_STATS, BOARD, REVENUE, FORECAST])
def test_unchanged_data_is_answered_with_fewer_queries(owner_client, data, url):
    cold = queries_of(owner_client, url)
    assert queries_of(owner_client, url) < cold


@pytest.mark.django_db
def test_a_won_deal_shows_in_the_dashboard_and_funnel_at_once(owner_client, organization, data):
    assert owner_client.get(DASHBOARD).json()["revenue"]["total"] == "0.00"
    owner_client.get(FUNNEL)
    response = owner_client.post(f"/api/deals/{data['deal'].id}/win/", {}, format="json")
    assert response.status_code == 200
    assert owner_client.get(DASHBOARD).json()["revenue"]["total"] == "1000.00"
    assert owner_client.get(FUNNEL).json()["stages"][3] == {"name": "won", "count": 1, "percentage": 100.0}


@pytest.mark.django_db
def test_a_stage_probability_change_moves_expected_revenue_and_the_board(owner_client, organization, data):
    assert owner_client.get(DASHBOARD).json()["revenue"]["expected"] == "100.00"  # Prospecting, 10 %
    assert owner_client.get(BOARD).json()[0]["expected_revenue"] == "100.00"
    stage = default_stage(organization)
    response = owner_client.patch(f"/api/pipeline-stages/{stage.id}/", {"probability": 30}, format="json")
    assert response.status_code == 200  # the deals are rewritten with a bulk update, which sends no signal
    assert owner_client.get(DASHBOARD).json()["revenue"]["expected"] == "300.00"
    assert owner_client.get(BOARD).json()[0]["expected_revenue"] == "300.00"


@pytest.mark.django_db
def test_a_lead_status_change_shows_in_the_stats_and_a_filtered_stats_keeps_its_own_figures(owner_client, data):
    assert owner_client.get(LEAD_STATS).json()["by_status"]["contacted"] == 0
    assert owner_client.get(LEAD_STATS, {"status": "contacted"}).json()["total"] == 0
    response = owner_client.patch(f"/api/leads/{data['lead'].id}/", {"status": "contacted"}, format="json")
    assert response.status_code == 200
    assert owner_client.get(LEAD_STATS).json()["by_status"]["contacted"] == 1
    assert owner_client.get(LEAD_STATS, {"status": "contacted"}).json()["total"] == 1
    assert owner_client.get(LEAD_STATS, {"status": "new"}).json()["total"] == 0


@pytest.mark.django_db
def test_deleting_an_employee_refreshes_employee_performance(owner_client, organization, data):
    employee = owner_client.post("/api/employees/", {"first_name": "Eve", "last_name": "Lee"}, format="json").json()
    assert [row["employee"]["id"] for row in owner_client.get(PERFORMANCE).json()["results"]] == [employee["id"]]
    assert owner_client.delete(f"/api/employees/{employee['id']}/").status_code == 204
    assert owner_client.get(PERFORMANCE).json()["results"] == []


@pytest.mark.django_db
def test_another_organizations_write_neither_shows_nor_recomputes_our_figures(
    owner_client, other_client, organization, other_organization, data
):
    owner_client.get(DASHBOARD)
    DealFactory(
        organization=other_organization, value=Decimal("5.00"), stage=default_stage(other_organization, "Closed Won")
    )
    assert owner_client.get(DASHBOARD).json()["revenue"]["total"] == "0.00"
    assert other_client.get(DASHBOARD).json()["revenue"]["total"] == "5.00"


@pytest.mark.django_db
def test_the_forecast_moves_with_a_write_and_with_the_month(owner_client, data, monkeypatch):
    monkeypatch.setattr(analytics_service, "today_utc", lambda: date(2031, 1, 15))
    deal = f"/api/deals/{data['deal'].id}/"
    assert owner_client.patch(deal, {"expected_close_date": "2031-02-10"}, format="json").status_code == 200
    assert [row["deals"] for row in owner_client.get(FORECAST, {"months": 2}).json()["results"]] == [0, 1]

    assert owner_client.patch(deal, {"expected_close_date": "2031-01-20"}, format="json").status_code == 200
    assert [row["deals"] for row in owner_client.get(FORECAST, {"months": 2}).json()["results"]] == [1, 0]

    monkeypatch.setattr(analytics_service, "today_utc", lambda: date(2031, 2, 1))
    shown = owner_client.get(FORECAST, {"months": 2}).json()["results"]
    assert [(row["month"], row["deals"]) for row in shown] == [("2031-02", 0), ("2031-03", 0)]


@pytest.mark.django_db
def test_each_revenue_range_keeps_its_own_figures_and_a_win_shows_at_once(owner_client, data):
    this_year = {"period": "year", "start": f"{date.today().year}-01-01"}
    last_year = {"period": "year", "start": f"{date.today().year - 1}-01-01", "end": f"{date.today().year - 1}-12-31"}
    assert owner_client.get(REVENUE, this_year).json()["results"] == []
    assert owner_client.post(f"/api/deals/{data['deal'].id}/win/", {}, format="json").status_code == 200
    assert [row["revenue"] for row in owner_client.get(REVENUE, this_year).json()["results"]] == ["1000.00"]
    assert owner_client.get(REVENUE, last_year).json()["results"] == []
