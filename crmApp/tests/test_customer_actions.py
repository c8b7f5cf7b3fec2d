"""The customer list actions: stats, top, bulk-delete and bulk-update, with another
organization's data present that must never move the numbers."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from crmApp.models import Customer, Deal
from crmApp.services.customer_service import CustomerService, month_start_utc
from crmApp.tenancy import Tenant
from crmApp.tests.factories import CustomerFactory, DealFactory, EmployeeFactory, default_stage
from crmApp.tests.test_employees import assert_invalid

pytestmark = pytest.mark.django_db

BUSINESS = {"customer_type": "business", "company_name": "Initech", "first_name": "", "last_name": ""}


def won_deal(customer, value: str):
    """A won deal of `value` for `customer`."""
    org = customer.organization
    stage = default_stage(org, "Closed Won")
    return DealFactory(organization=org, customer=customer, stage=stage, value=Decimal(value))


# --- stats --------------------------------------------------------------------------------------
def test_stats_count_the_organizations_customers_only(owner_client, organization, other_organization):
    last_month = month_start_utc() - timedelta(days=1)
    CustomerFactory.create_batch(2, organization=organization, status="active")
    CustomerFactory(organization=organization, status="inactive", created_at=last_month)
    CustomerFactory(organization=organization, status="prospect", created_at=last_month, **BUSINESS)
    CustomerFactory(organization=organization, status="prospect", **BUSINESS)
    CustomerFactory.create_batch(4, organization=other_organization, status="inactive", **BUSINESS)
    response = owner_client.get("/api/customers/stats/")
    assert response.status_code == 200
    assert response.json() == {
        "total": 5,
        "active": 2,
        "inactive": 1,
        "prospect": 2,
        "individual": 3,
        "business": 2,
        "new_this_month": 3,
    }


def test_stats_of_an_empty_organization_are_zeros(owner_client):
    assert owner_client.get("/api/customers/stats/").json() == {
        "total": 0,
        "active": 0,
        "inactive": 0,
        "prospect": 0,
        "individual": 0,
        "business": 0,
        "new_this_month": 0,
    }


def test_new_this_month_starts_at_midnight_utc_on_the_first(organization):
    start = month_start_utc()
    assert (start.day, start.hour, start.minute, start.utcoffset()) == (1, 0, 0, timedelta(0))
    CustomerFactory(organization=organization, created_at=start)
    CustomerFactory(organization=organization, created_at=start - timedelta(microseconds=1))
    assert CustomerService(Tenant.system(organization)).stats()["new_this_month"] == 1


def test_stats_are_two_queries_whatever_the_customers(organization, django_assert_num_queries):
    """The counts by status and type (the tally's on PostgreSQL), and this month's new customers."""
    CustomerFactory.create_batch(3, organization=organization)
    with django_assert_num_queries(2):
        CustomerService(Tenant.system(organization)).stats()


# --- top ----------------------------------------------------------------------------------------
def test_top_ranks_customers_by_won_revenue(owner_client, organization, other_organization):
    ada = CustomerFactory(organization=organization, first_name="Ada", last_name="Lovelace")
    initech = CustomerFactory(organization=organization, **BUSINESS)
    tie = CustomerFactory(organization=organization, first_name="Tie", last_name="Breaker")
    no_won = CustomerFactory(organization=organization)
    won_deal(ada, "1000.50")
    won_deal(ada, "499.50")
    won_deal(initech, "2500.00")
    won_deal(tie, "1500.00")
    DealFactory(organization=organization, customer=ada, value=Decimal("90000"))  # open: no revenue
    lost = default_stage(organization, "Closed Lost")
    DealFactory(organization=organization, customer=no_won, stage=lost, value=Decimal("5"))
    foreign = CustomerFactory(organization=other_organization)
    won_deal(foreign, "99999.00")

    response = owner_client.get("/api/customers/top/")
    assert response.status_code == 200
    assert response.json() == [
        {"id": initech.id, "code": initech.code, "display_name": "Initech", "revenue": "2500.00", "deals_won": 1},
        {"id": ada.id, "code": ada.code, "display_name": "Ada Lovelace", "revenue": "1500.00", "deals_won": 2},
        {"id": tie.id, "code": tie.code, "display_name": "Tie Breaker", "revenue": "1500.00", "deals_won": 1},
    ]


def test_top_honours_the_limit(owner_client, organization):
    customers = CustomerFactory.create_batch(4, organization=organization)
    for index, customer in enumerate(customers):
        won_deal(customer, str(100 * (index + 1)))
    rows = owner_client.get("/api/customers/top/?limit=2").json()
    assert [row["id"] for row in rows] == [customers[3].id, customers[2].id]


@pytest.mark.parametrize("limit", ["0", "101", "-1", "abc", "1.5", str(10**30)])
def test_top_with_a_bad_limit_is_400(owner_client, limit):
    assert_invalid(owner_client.get(f"/api/customers/top/?limit={limit}"), "limit")


@pytest.mark.parametrize("customers", [2, 30])
def test_top_runs_a_fixed_number_of_queries(owner_client, organization, customers, django_assert_max_num_queries):
    for customer in CustomerFactory.create_batch(customers, organization=organization):
        won_deal(customer, "10")
        won_deal(customer, "20")
    with django_assert_max_num_queries(3):  # token user, membership, the ranking
        assert len(owner_client.get("/api/customers/top/?limit=100").json()) == customers


# --- bulk-delete --------------------------------------------------------------------------------
def test_bulk_delete_deletes_only_the_organizations_listed_customers(owner_client, organization, other_organization):
    doomed = CustomerFactory.create_batch(3, organization=organization)
    kept = CustomerFactory(organization=organization)
    foreign = CustomerFactory(organization=other_organization)
    ids = [c.id for c in doomed] + [foreign.id, 99_999_999, doomed[0].id]
    response = owner_client.post("/api/customers/bulk-delete/", {"ids": ids}, format="json")
    assert response.status_code == 200
    assert response.json() == {"deleted": 3}
    assert set(Customer.objects.values_list("id", flat=True)) == {kept.id, foreign.id}


def test_bulk_delete_of_foreign_ids_only_deletes_nothing(owner_client, other_organization):
    foreign = CustomerFactory(organization=other_organization)
    response = owner_client.post("/api/customers/bulk-delete/", {"ids": [foreign.id]}, format="json")
    assert response.json() == {"deleted": 0}
    assert Customer.objects.filter(id=foreign.id).exists()


def test_bulk_delete_is_refused_whole_when_a_customer_has_deals(owner_client, organization):
    free = CustomerFactory(organization=organization)
    busy = CustomerFactory.create_batch(2, organization=organization)
    for customer in busy:
        DealFactory(organization=organization, customer=customer)
    body = {"ids": [free.id, busy[1].id, busy[0].id]}
    response = owner_client.post("/api/customers/bulk-delete/", body, format="json")
    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "protected"
    assert f"ids: {busy[0].id}, {busy[1].id}" in body["detail"]
    assert Customer.objects.count() == 3 and Deal.objects.count() == 2


def test_a_foreign_customer_with_deals_does_not_block_a_bulk_delete(owner_client, organization, other_organization):
    mine = CustomerFactory(organization=organization)
    foreign = CustomerFactory(organization=other_organization)
    DealFactory(organization=other_organization, customer=foreign)
    response = owner_client.post("/api/customers/bulk-delete/", {"ids": [mine.id, foreign.id]}, format="json")
    assert (response.status_code, response.json()) == (200, {"deleted": 1})
    assert Customer.objects.filter(id=foreign.id).exists()


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"ids": []},
        {"ids": "1"},
        {"ids": 1},
        {"ids": [1, "a"]},
        {"ids": [True]},
        {"ids": [-1]},
        {"ids": [0]},
        {"ids": [2**70]},
        {"ids": [None]},
        {"ids": {"1": 1}},
        {"ids": list(range(1, 1002))},
    ],
    ids=[
        "missing",
        "empty",
        "string",
        "int",
        "mixed",
        "bool",
        "negative",
        "zero",
        "overflow",
        "null",
        "object",
        "too-many",
    ],
)
def test_bulk_delete_with_bad_ids_is_400(owner_client, organization, body):
    CustomerFactory(organization=organization)
    assert_invalid(owner_client.post("/api/customers/bulk-delete/", body, format="json"), "ids")
    assert Customer.objects.count() == 1


def test_bulk_delete_accepts_a_thousand_ids(owner_client, organization):
    customer = CustomerFactory(organization=organization)
    ids = [customer.id, *range(10_000_000, 10_000_999)]
    assert owner_client.post("/api/customers/bulk-delete/", {"ids": ids}, format="json").json() == {"deleted": 1}


# --- bulk-update --------------------------------------------------------------------------------
def test_bulk_update_sets_status_and_assignee_in_one_update(owner_client, organization, other_organization):
    employee = EmployeeFactory(organization=organization)
    targets = CustomerFactory.create_batch(2, organization=organization, status="prospect")
    untouched = CustomerFactory(organization=organization, status="prospect")
    foreign = CustomerFactory(organization=other_organization, status="prospect")
    body = {
        "ids": [*(c.id for c in targets), foreign.id, 99_999_999],
        "data": {"status": "active", "assigned_to": employee.id},
    }
    with CaptureQueriesContext(connection) as queries:
        response = owner_client.post("/api/customers/bulk-update/", body, format="json")
    assert (response.status_code, response.json()) == (200, {"updated": 2})
    assert sum(q["sql"].startswith("UPDATE") for q in queries.captured_queries) == 1
    for customer in targets:
        previous = customer.updated_at
        customer.refresh_from_db()
        assert (customer.status, customer.assigned_to_id) == ("active", employee.id)
        assert customer.updated_at > previous
    for customer in (untouched, foreign):
        customer.refresh_from_db()
        assert (customer.status, customer.assigned_to_id) == ("prospect", None)


def test_bulk_changes_show_in_the_next_list_count(owner_client, organization):
    customers = CustomerFactory.create_batch(3, organization=organization, status="prospect")
    assert owner_client.get("/api/customers/?status=active").json()["count"] == 0  # counted and cached
    body = {"ids": [customers[0].id, customers[1].id], "data": {"status": "active"}}
    owner_client.post("/api/customers/bulk-update/", body, format="json")
    assert owner_client.get("/api/customers/?status=active").json()["count"] == 2
    owner_client.post("/api/customers/bulk-delete/", {"ids": [customers[0].id]}, format="json")
    assert owner_client.get("/api/customers/?status=active").json()["count"] == 1


def test_bulk_update_can_clear_the_assignee_alone(owner_client, organization):
    employee = EmployeeFactory(organization=organization)
    customer = CustomerFactory(organization=organization, assigned_to=employee, status="inactive")
    body = {"ids": [customer.id], "data": {"assigned_to": None}}
    assert owner_client.post("/api/customers/bulk-update/", body, format="json").json() == {"updated": 1}
    customer.refresh_from_db()
    assert (customer.assigned_to_id, customer.status) == (None, "inactive")


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"status": "vip"}, "status"),
        ({"assigned_to": "abc"}, "assigned_to"),
        ({"assigned_to": 2**70}, "assigned_to"),
        ({"assigned_to": 99_999_999}, "assigned_to"),
        ({"customer_type": "business"}, "customer_type"),
        ({"status": "active", "organization": 1}, "organization"),
        ({}, "non_field_errors"),
    ],
)
def test_bulk_update_with_bad_data_is_400(owner_client, organization, data, field):
    customer = CustomerFactory(organization=organization, status="prospect")
    response = owner_client.post("/api/customers/bulk-update/", {"ids": [customer.id], "data": data}, format="json")
    assert response.status_code == 400
    assert f"data.{field}" in response.json()["errors"]
    customer.refresh_from_db()
    assert customer.status == "prospect"


@pytest.mark.parametrize("ids", [None, [], ["x"], [0], "1"])
def test_bulk_update_with_bad_ids_is_400(owner_client, ids):
    body = {"data": {"status": "active"}} if ids is None else {"ids": ids, "data": {"status": "active"}}
    assert_invalid(owner_client.post("/api/customers/bulk-update/", body, format="json"), "ids")


def test_bulk_update_without_data_is_400(owner_client, organization):
    customer = CustomerFactory(organization=organization)
    assert_invalid(owner_client.post("/api/customers/bulk-update/", {"ids": [customer.id]}, format="json"), "data")
    body = {"ids": [customer.id], "data": "active"}
    assert_invalid(owner_client.post("/api/customers/bulk-update/", body, format="json"), "data")


def test_bulk_update_refuses_another_organizations_employee(owner_client, organization, other_organization):
    customer = CustomerFactory(organization=organization)
    foreign = EmployeeFactory(organization=other_organization)
    response = owner_client.post(
        "/api/customers/bulk-update/", {"ids": [customer.id], "data": {"assigned_to": foreign.id}}, format="json"
    )
    assert response.status_code == 400
    assert "data.assigned_to" in response.json()["errors"]
    customer.refresh_from_db()
    assert customer.assigned_to_id is None


# --- RBAC ---------------------------------------------------------------------------------------
# (method, path, body, the code it needs)
ACTIONS = [
    ("get", "stats/", None, "customers:view"),
    ("get", "top/", None, "customers:view"),
    ("post", "bulk-delete/", "delete", "customers:delete"),
    ("post", "bulk-update/", "update", "customers:update"),
]
EVERY_CUSTOMER_CODE = ["customers:view", "customers:create", "customers:update", "customers:delete"]


@pytest.mark.parametrize(("method", "path", "body", "code"), ACTIONS, ids=[a[1] for a in ACTIONS])
@pytest.mark.parametrize("holds_code", [True, False], ids=["with-code", "without-code"])
def test_each_customer_action_needs_its_code(member_client, organization, method, path, body, code, holds_code):
    customer = CustomerFactory(organization=organization, status="prospect")
    bodies = {"delete": {"ids": [customer.id]}, "update": {"ids": [customer.id], "data": {"status": "active"}}}
    payload = bodies.get(body)
    client = member_client([c for c in EVERY_CUSTOMER_CODE if holds_code or c != code])
    response = getattr(client, method)(f"/api/customers/{path}", payload, format="json")
    if holds_code:
        assert response.status_code == 200, response.content
    else:
        assert (response.status_code, response.json()["code"]) == (403, "permission_denied")
        assert Customer.objects.filter(id=customer.id, status="prospect").exists()
