"""The customer portal: a customer-profile member without role codes reads the customer records
linked to them, and nothing else of the organization."""

import pytest

from crmApp.constants import ProfileType
from crmApp.models import Customer
from crmApp.tests.conftest import make_client
from crmApp.tests.factories import CustomerFactory, DealFactory, EmployeeFactory, MembershipFactory, VendorFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def portal_user(make_member):
    return make_member(profile_type=ProfileType.CUSTOMER)


@pytest.fixture
def portal_client(portal_user, organization):
    return make_client(portal_user, organization)


@pytest.fixture
def own(portal_user, organization):
    return CustomerFactory(organization=organization, user=portal_user, status="prospect")


@pytest.fixture
def someone_else(organization):
    # A name no other record holds, even in part: a search for it must find this customer only.
    return CustomerFactory(organization=organization, last_name="Quixotic-Zephyrson")


def test_portal_member_lists_only_their_own_customer_records(
    portal_client, portal_user, organization, own, someone_else
):
    second_own = CustomerFactory(organization=organization, user=portal_user)
    body = portal_client.get("/api/customers/").json()
    assert (body["count"], {row["id"] for row in body["results"]}) == (2, {own.id, second_own.id})


def test_portal_member_reads_their_own_record(portal_client, own):
    response = portal_client.get(f"/api/customers/{own.id}/")
    assert response.status_code == 200
    assert (response.json()["id"], response.json()["code"]) == (own.id, own.code)


def test_portal_member_cannot_see_another_customer(portal_client, own, someone_else):
    assert portal_client.get(f"/api/customers/{someone_else.id}/").status_code == 404
    assert portal_client.get(f"/api/customers/?search={someone_else.last_name}").json()["count"] == 0


def test_portal_member_without_a_linked_record_sees_nothing(portal_client, someone_else):
    assert portal_client.get("/api/customers/").json() == {"count": 0, "next": None, "previous": None, "results": []}


def test_portal_record_in_another_organization_is_not_listed_here(portal_client, portal_user, other_organization, own):
    MembershipFactory(user=portal_user, organization=other_organization, profile_type=ProfileType.CUSTOMER)
    elsewhere = CustomerFactory(organization=other_organization, user=portal_user)
    assert [row["id"] for row in portal_client.get("/api/customers/").json()["results"]] == [own.id]
    assert portal_client.get(f"/api/customers/{elsewhere.id}/").status_code == 404


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("get", "/api/employees/", None),
        ("get", "/api/vendors/", None),
        ("get", "/api/leads/", None),
        ("get", "/api/employees/{employee}/", None),
        ("get", "/api/vendors/{vendor}/", None),
        ("get", "/api/teams/", None),
        ("get", "/api/roles/", None),
        ("post", "/api/customers/", {"first_name": "Mallory", "last_name": "Evil"}),
        ("put", "/api/customers/{own}/", {"first_name": "Mallory", "last_name": "Evil"}),
        ("patch", "/api/customers/{own}/", {"status": "active"}),
        ("delete", "/api/customers/{own}/", None),
        ("get", "/api/customers/stats/", None),
        ("get", "/api/customers/top/", None),
        ("post", "/api/customers/bulk-delete/", {"ids": "own"}),
        ("post", "/api/customers/bulk-update/", {"ids": "own", "data": {"status": "active"}}),
    ],
)
def test_portal_member_can_do_nothing_else(portal_client, organization, own, method, path, body):
    ids = {
        "own": own.id,
        "employee": EmployeeFactory(organization=organization).id,
        "vendor": VendorFactory(organization=organization).id,
    }
    if body and body.get("ids") == "own":
        body = {**body, "ids": [own.id]}
    response = getattr(portal_client, method)(path.format(**ids), body, format="json")
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    stored = Customer.objects.get()
    assert (stored.id, stored.status, stored.first_name, stored.updated_at) == (
        own.id,
        "prospect",
        own.first_name,
        own.updated_at,
    )


def test_an_employee_profile_member_without_codes_gets_no_portal_access(member_client, organization):
    client = member_client()
    CustomerFactory(organization=organization)
    assert client.get("/api/customers/").status_code == 403


def test_portal_member_with_the_view_code_reads_every_customer(member_client, organization, own, someone_else):
    client = member_client(["customers:view"], profile_type=ProfileType.CUSTOMER)
    assert client.get("/api/customers/").json()["count"] == 2


@pytest.mark.parametrize("path", ["/api/customers/", "/api/customers/{own}/", "/api/deals/", "/api/deals/{deal}/"])
def test_portal_member_may_ask_what_its_readable_routes_allow(portal_client, organization, own, path):
    deal = DealFactory(organization=organization, customer=own)
    response = portal_client.options(path.format(own=own.id, deal=deal.id))
    assert response.status_code == 200
    assert {method.strip() for method in response["Allow"].split(",")} == {"GET", "HEAD", "OPTIONS"}


def test_portal_member_asking_about_a_route_it_cannot_read_is_refused(portal_client):
    assert portal_client.options("/api/leads/").status_code == 403
