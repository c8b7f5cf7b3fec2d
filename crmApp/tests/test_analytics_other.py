"""Employee performance and forecast reports: figures, ordering, months, bad parameters and query counts."""

from datetime import date, timedelta

import pytest

from crmApp.constants import ActiveStatus, LeadStatus
from crmApp.models import Deal, Employee, Lead
from crmApp.tests.analytics_data import (
    NOW,
    at,
    customer,
    deal,
    freeze,
    lead,
    lost,
    url,
    won,
)
from crmApp.tests.factories import EmployeeFactory

pytestmark = pytest.mark.django_db


def row(employee, **figures):
    """The expected row of `employee`: zeros unless given."""
    base = {
        "leads_assigned": 0,
        "leads_converted": 0,
        "deals_won": 0,
        "deals_lost": 0,
        "win_rate": 0.0,
        "revenue": "0.00",
        "pipeline": "0.00",
    }
    return {"employee": {"id": employee.id, "name": f"{employee.first_name} {employee.last_name}"}, **base, **figures}


# --- employee performance ----------------------------------------------------------------------------
def test_employee_performance_figures_and_order(frozen, noise, organization, other_organization, owner_client):
    alice = EmployeeFactory(organization=organization, first_name="Alice", last_name="Zeller")
    bob = EmployeeFactory(organization=organization, first_name="Bob", last_name="Byrne")
    carol = EmployeeFactory(
        organization=organization, first_name="Carol", last_name="Cole", status=ActiveStatus.INACTIVE
    )
    dave = EmployeeFactory(organization=organization, first_name="Dave", last_name="Diaz")
    erin = EmployeeFactory(organization=organization, first_name="Erin", last_name="Eze")
    buyer = customer(organization)
    # Alice: 3 leads and 4 deals; a join of the two would multiply them into 12.
    lead(organization, assigned_to=alice, status=LeadStatus.CONVERTED, qualified=True)
    lead(organization, assigned_to=alice)
    lead(organization, assigned_to=alice, status=LeadStatus.LOST)
    won(organization, "5000.00", customer=buyer, assigned_to=alice)
    won(organization, "1000.00", customer=buyer, assigned_to=alice)
    lost(organization, "300.00", customer=buyer, assigned_to=alice)
    deal(organization, "Proposal", "2000.00", customer=buyer, assigned_to=alice)
    # Bob ties Alice on revenue; the lower id comes first, even when the table returns Alice last
    # (PostgreSQL rewrites an updated row at the end of the heap).
    Employee.objects.filter(pk=alice.pk).update(job_title="Account executive")
    won(organization, "6000.00", customer=buyer, assigned_to=bob)
    # Dave: 1 won, 15 lost -> 6.25 % -> 6.3.
    lead(organization, assigned_to=dave)
    lead(organization, assigned_to=dave, status=LeadStatus.CONTACTED)
    won(organization, "7000.00", customer=buyer, assigned_to=dave)
    for _ in range(15):
        lost(organization, "1.00", customer=buyer, assigned_to=dave)
    deal(organization, "Negotiation", "10.10", customer=buyer, assigned_to=dave)
    deal(organization, "Prospecting", "0.90", customer=buyer, assigned_to=dave)
    lead(organization, assigned_to=erin, status=LeadStatus.CONVERTED, qualified=True)
    # Unassigned work belongs to nobody.
    won(organization, "100000.00", customer=buyer)
    lead(organization, status=LeadStatus.CONVERTED)
    # Another organization's records pointing at our employee never count.
    foreign = deal(other_organization, "Closed Won", "123456.00")
    Deal.objects.filter(pk=foreign.pk).update(assigned_to=alice)
    Lead.objects.filter(pk=lead(other_organization).pk).update(assigned_to=alice)

    response = owner_client.get(url("employee-performance"))

    assert response.status_code == 200
    assert response.json() == {
        "results": [
            row(dave, leads_assigned=2, deals_won=1, deals_lost=15, win_rate=6.3, revenue="7000.00", pipeline="11.00"),
            row(
                alice,
                leads_assigned=3,
                leads_converted=1,
                deals_won=2,
                deals_lost=1,
                win_rate=66.7,
                revenue="6000.00",
                pipeline="2000.00",
            ),
            row(bob, deals_won=1, win_rate=100.0, revenue="6000.00"),
            row(carol),  # inactive employees are listed too
            row(erin, leads_assigned=1, leads_converted=1),
        ]
    }


def test_employee_performance_of_an_empty_organization(frozen, noise, organization, owner_client):
    assert owner_client.get(url("employee-performance")).json() == {"results": []}
    idle = EmployeeFactory(organization=organization, first_name="Ida", last_name="Idle")
    assert owner_client.get(url("employee-performance")).json() == {"results": [row(idle)]}


def test_the_other_organization_ranks_only_its_employees(frozen, organization, other_organization, other_client):
    EmployeeFactory(organization=organization)
    seller = EmployeeFactory(organization=other_organization, first_name="Sam", last_name="Seller")
    won(other_organization, "9.99", assigned_to=seller)

    assert other_client.get(url("employee-performance")).json() == {
        "results": [row(seller, deals_won=1, win_rate=100.0, revenue="9.99")]
    }


@pytest.mark.parametrize("size", [1, 8])
def test_employee_performance_query_count_is_fixed(
    frozen, organization, owner_client, django_assert_max_num_queries, size
):
    buyer = customer(organization)
    for _ in range(size):
        employee = EmployeeFactory(organization=organization)
        lead(organization, assigned_to=employee)
        won(organization, "1.00", customer=buyer, assigned_to=employee)
        deal(organization, customer=buyer, assigned_to=employee)

    # Authentication and the membership: 2; employees, grouped leads, grouped deals: 3.
    with django_assert_max_num_queries(5):
        body = owner_client.get(url("employee-performance")).json()
    assert len(body["results"]) == size


# --- forecast ----------------------------------------------------------------------------------------
def forecast(client, **params):
    response = client.get(url("forecast"), params)
    assert response.status_code == 200, response.json()
    return response.json()["results"]


def empty_month(month: str) -> dict:
    return {"month": month, "deals": 0, "pipeline": "0.00", "expected_revenue": "0.00"}


def build_forecast_data(org):
    buyer = customer(org)
    deal(
        org, "Prospecting", "1000.00", customer=buyer, expected_close_date=date(2024, 3, 1)
    )  # this month, already past
    deal(org, "Negotiation", "333.33", customer=buyer, expected_close_date=date(2024, 3, 31))  # expected 250.00
    deal(org, "Proposal", "2000.00", customer=buyer, expected_close_date=date(2024, 5, 31))
    deal(org, "Qualification", "400.00", customer=buyer, expected_close_date=date(2024, 6, 1))
    deal(org, "Proposal", "9000.00", customer=buyer, expected_close_date=date(2024, 2, 29))  # last month: left out
    deal(org, "Proposal", "9000.00", customer=buyer)  # no date: left out
    won(org, "9000.00", customer=buyer, expected_close_date=date(2024, 3, 20))  # closed: left out
    lost(org, "9000.00", customer=buyer, expected_close_date=date(2024, 4, 10))


def test_forecast_lists_open_deals_by_expected_month(frozen, noise, organization, owner_client):
    build_forecast_data(organization)

    assert forecast(owner_client, months=3) == [
        {"month": "2024-03", "deals": 2, "pipeline": "1333.33", "expected_revenue": "350.00"},
        empty_month("2024-04"),
        {"month": "2024-05", "deals": 1, "pipeline": "2000.00", "expected_revenue": "1000.00"},
    ]


def test_forecast_defaults_to_six_months(frozen, noise, organization, owner_client):
    build_forecast_data(organization)

    results = forecast(owner_client)

    assert [month["month"] for month in results] == ["2024-03", "2024-04", "2024-05", "2024-06", "2024-07", "2024-08"]
    assert results[3] == {"month": "2024-06", "deals": 1, "pipeline": "400.00", "expected_revenue": "100.00"}


def test_forecast_crosses_the_year(monkeypatch, noise, organization, owner_client):
    freeze(monkeypatch, at(2024, 11, 20, 8))
    buyer = customer(organization)
    deal(organization, "Proposal", "10.00", customer=buyer, expected_close_date=date(2025, 1, 31))
    deal(organization, "Proposal", "10.00", customer=buyer, expected_close_date=date(2025, 2, 1))

    assert forecast(owner_client, months=3) == [
        empty_month("2024-11"),
        empty_month("2024-12"),
        {"month": "2025-01", "deals": 1, "pipeline": "10.00", "expected_revenue": "5.00"},
    ]


def test_forecast_current_month_rolls_over_at_utc_midnight(monkeypatch, organization, owner_client):
    freeze(monkeypatch, at(2024, 3, 31, 23, 59, 59))
    deal(organization, "Proposal", "10.00", customer=customer(organization), expected_close_date=date(2024, 3, 31))
    assert forecast(owner_client, months=1)[0]["deals"] == 1
    freeze(monkeypatch, at(2024, 4, 1))
    assert forecast(owner_client, months=1) == [empty_month("2024-04")]


@pytest.mark.parametrize("months, last", [(1, "2024-03"), (24, "2026-02")])
def test_forecast_month_limits(frozen, noise, owner_client, months, last):
    results = forecast(owner_client, months=months)

    assert len(results) == months
    assert results[-1] == empty_month(last)


def test_forecast_of_an_empty_organization_is_zeros(frozen, noise, owner_client):
    assert forecast(owner_client, months=2) == [empty_month("2024-03"), empty_month("2024-04")]


def test_an_empty_months_parameter_is_400_like_any_other_empty_typed_parameter(frozen, owner_client):
    response = owner_client.get(url("forecast"), {"months": ""})
    assert (response.status_code, list(response.json()["errors"])) == (400, ["months"])


@pytest.mark.parametrize("months", ["0", "25", "-1", "abc", "1.5", "99999999999999999999999", "6 months"])
def test_bad_months_is_400_with_the_error_shape(frozen, owner_client, months):
    response = owner_client.get(url("forecast"), {"months": months})

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert list(body["errors"]) == ["months"]


@pytest.mark.parametrize("size", [1, 15])
def test_forecast_is_one_query(frozen, organization, owner_client, django_assert_max_num_queries, size):
    buyer = customer(organization)
    for index in range(size):
        deal(organization, customer=buyer, expected_close_date=NOW.date() + timedelta(days=index * 7))

    with django_assert_max_num_queries(3):
        results = forecast(owner_client, months=6)
    assert sum(month["deals"] for month in results) == size
