"""Customers: CRUD with exact payloads, the names each type needs, field validation, filters,
search and protected deletion. Record-wide rules (codes, isolation, RBAC, ordering, queries) are
in the tables of test_employees.py."""

import pytest

from crmApp.models import Customer, Deal
from crmApp.tests.factories import CustomerFactory, DealFactory, EmployeeFactory, LeadFactory
from crmApp.tests.test_employees import assert_created_exactly, assert_invalid, listed_ids

pytestmark = pytest.mark.django_db

INDIVIDUAL = {"customer_type": "individual", "first_name": "Ada", "last_name": "Lovelace"}
BUSINESS = {"customer_type": "business", "company_name": "Initech"}


def test_create_individual_customer_returns_the_exact_record(owner_client, organization, owner, make_member):
    employee = EmployeeFactory(organization=organization)
    portal_user = make_member(profile_type="customer")
    payload = {
        **INDIVIDUAL,
        "company_name": "",
        "industry": "",
        "contact_person": "",
        "email": "ada@example.com",
        "phone": "+44 1",
        "address": "12 St James's Square",
        "city": "London",
        "country": "UK",
        "status": "prospect",
        "source": "referral",
        "assigned_to": employee.id,
        "user": portal_user.id,
        "notes": "Met at the Society.",
    }
    customer = assert_created_exactly(
        owner_client,
        "customers",
        payload,
        organization=organization,
        owner=owner,
        display_name="Ada Lovelace",
        converted_from_lead=None,
    )
    assert (customer.assigned_to_id, customer.user_id) == (employee.id, portal_user.id)


def test_create_business_customer_uses_company_name_as_display_name(owner_client):
    payload = {**BUSINESS, "industry": "Software", "contact_person": "Bill Lumbergh"}
    body = owner_client.post("/api/customers/", payload, format="json").json()
    shown = (body["display_name"], body["first_name"], body["industry"], body["status"])
    assert shown == ("Initech", "", "Software", "active")


def test_customer_type_defaults_to_individual(owner_client):
    body = owner_client.post("/api/customers/", {"first_name": "Ada", "last_name": "Lovelace"}, format="json").json()
    assert (body["customer_type"], body["display_name"]) == ("individual", "Ada Lovelace")


def test_converted_from_lead_is_read_only_and_shown_as_an_id(owner_client, organization):
    lead = LeadFactory(organization=organization)
    created = owner_client.post("/api/customers/", {**INDIVIDUAL, "converted_from_lead": lead.id}, format="json").json()
    assert created["converted_from_lead"] is None
    customer = Customer.objects.get(id=created["id"])
    customer.converted_from_lead = lead
    customer.save()
    assert owner_client.get(f"/api/customers/{customer.id}/").json()["converted_from_lead"] == lead.id
    forged = {"converted_from_lead": None, "display_name": "X"}
    assert owner_client.patch(f"/api/customers/{customer.id}/", forged, format="json").status_code == 200
    customer.refresh_from_db()
    assert (customer.converted_from_lead_id, customer.display_name) == (lead.id, "Ada Lovelace")


@pytest.mark.parametrize(
    ("payload", "fields"),
    [
        ({"customer_type": "individual"}, {"first_name", "last_name"}),
        ({"customer_type": "individual", "first_name": "Ada"}, {"last_name"}),
        ({"customer_type": "individual", "last_name": "Lovelace"}, {"first_name"}),
        ({"customer_type": "individual", "first_name": "   ", "last_name": "Lovelace"}, {"first_name"}),
        ({"customer_type": "individual", "company_name": "Initech"}, {"first_name", "last_name"}),
        ({"customer_type": "business"}, {"company_name"}),
        ({"customer_type": "business", "first_name": "Ada", "last_name": "Lovelace"}, {"company_name"}),
        ({"customer_type": "business", "company_name": ""}, {"company_name"}),
        ({}, {"first_name", "last_name"}),
    ],
)
def test_missing_names_for_the_customer_type_are_400(owner_client, payload, fields):
    response = owner_client.post("/api/customers/", payload, format="json")
    assert response.status_code == 400
    assert set(response.json()["errors"]) == fields
    assert not Customer.objects.exists()


@pytest.mark.parametrize(
    ("customer_type", "message"),
    [
        ("individual", "This field is required for an individual customer."),
        ("business", "This field is required for a business customer."),
    ],
)
def test_a_missing_name_says_which_customer_type_needs_it(owner_client, customer_type, message):
    response = owner_client.post("/api/customers/", {"customer_type": customer_type}, format="json")
    assert response.status_code == 400
    assert {tuple(messages) for messages in response.json()["errors"].values()} == {(message,)}


@pytest.mark.parametrize(
    ("start", "changes", "field"),
    [
        (INDIVIDUAL, {"customer_type": "business"}, "company_name"),
        (INDIVIDUAL, {"first_name": ""}, "first_name"),
        (INDIVIDUAL, {"last_name": "  "}, "last_name"),
        (BUSINESS, {"company_name": ""}, "company_name"),
        (BUSINESS, {"customer_type": "individual", "first_name": "Ada"}, "last_name"),
    ],
)
def test_partial_update_is_checked_against_the_merged_record(owner_client, organization, start, changes, field):
    customer = CustomerFactory(organization=organization, **{"first_name": "", "last_name": "", **start})
    assert_invalid(owner_client.patch(f"/api/customers/{customer.id}/", changes, format="json"), field)
    before = customer.updated_at
    customer.refresh_from_db()
    assert (customer.customer_type, customer.updated_at) == (start["customer_type"], before)


@pytest.mark.parametrize(
    ("start", "changes", "display_name"),
    [
        (INDIVIDUAL, {"customer_type": "business", "company_name": "Initech"}, "Initech"),
        (BUSINESS, {"customer_type": "individual", "first_name": "Ada", "last_name": "Lovelace"}, "Ada Lovelace"),
        (BUSINESS, {"notes": "No personal names needed."}, "Initech"),
        (INDIVIDUAL, {"last_name": "King"}, "Ada King"),
    ],
)
def test_valid_partial_updates_pass_the_type_rule(owner_client, organization, start, changes, display_name):
    customer = CustomerFactory(organization=organization, **{"first_name": "", "last_name": "", **start})
    response = owner_client.patch(f"/api/customers/{customer.id}/", changes, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["display_name"] == display_name


def test_put_replaces_a_customer(owner_client, organization):
    customer = CustomerFactory(organization=organization, **INDIVIDUAL)
    response = owner_client.put(f"/api/customers/{customer.id}/", {**BUSINESS, "status": "inactive"}, format="json")
    assert response.status_code == 200
    customer.refresh_from_db()
    assert (customer.customer_type, customer.company_name, customer.status) == ("business", "Initech", "inactive")


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"first_name": "x" * 101}, "first_name"),
        ({"last_name": "x" * 101}, "last_name"),
        ({"company_name": "x" * 201}, "company_name"),
        ({"industry": "x" * 201}, "industry"),
        ({"contact_person": "x" * 101}, "contact_person"),
        ({"email": "ada@"}, "email"),
        ({"email": "a" * 245 + "@example.com"}, "email"),
        ({"phone": "1" * 41}, "phone"),
        ({"city": "x" * 101}, "city"),
        ({"country": "x" * 101}, "country"),
        ({"source": "x" * 101}, "source"),
        ({"notes": "x" * 10_001}, "notes"),
        ({"status": "vip"}, "status"),
        ({"customer_type": "alien"}, "customer_type"),
        ({"customer_type": ["business"]}, "customer_type"),
        ({"first_name": {"first": "Ada"}}, "first_name"),
        ({"assigned_to": "first"}, "assigned_to"),
        ({"assigned_to": -5}, "assigned_to"),
        ({"assigned_to": 2**70}, "assigned_to"),
        ({"assigned_to": 1.5}, "assigned_to"),
        ({"assigned_to": False}, "assigned_to"),
        ({"assigned_to": 99_999_999}, "assigned_to"),
        ({"user": 99_999_999}, "user"),
    ],
)
def test_invalid_customer_input_is_400_on_the_field(owner_client, changes, field):
    assert_invalid(owner_client.post("/api/customers/", {**INDIVIDUAL, **changes}, format="json"), field)
    assert not Customer.objects.exists()


def test_a_body_that_is_not_an_object_is_400(owner_client):
    assert_invalid(owner_client.post("/api/customers/", [INDIVIDUAL], format="json"), "non_field_errors")


def test_another_organizations_employee_cannot_be_assigned(owner_client, organization, other_organization):
    foreign = EmployeeFactory(organization=other_organization)
    body = {**INDIVIDUAL, "assigned_to": foreign.id}
    assert_invalid(owner_client.post("/api/customers/", body, format="json"), "assigned_to")
    customer = CustomerFactory(organization=organization)
    body = {"assigned_to": foreign.id}
    assert_invalid(owner_client.patch(f"/api/customers/{customer.id}/", body, format="json"), "assigned_to")
    customer.refresh_from_db()
    assert customer.assigned_to_id is None


def test_assignee_can_be_set_and_cleared(owner_client, organization):
    employee = EmployeeFactory(organization=organization)
    customer = CustomerFactory(organization=organization)
    url = f"/api/customers/{customer.id}/"
    assert owner_client.patch(url, {"assigned_to": employee.id}, format="json").json()["assigned_to"] == employee.id
    assert owner_client.patch(url, {"assigned_to": None}, format="json").json()["assigned_to"] is None


def test_customer_filters(owner_client, organization, other_organization):
    ann, bob = EmployeeFactory(organization=organization), EmployeeFactory(organization=organization)
    foreign_employee = EmployeeFactory(organization=other_organization)
    rows = {
        "a": CustomerFactory(organization=organization, status="active", assigned_to=ann, source="Referral"),
        "b": CustomerFactory(organization=organization, status="prospect", assigned_to=bob, source="website"),
        "c": CustomerFactory(organization=organization, **BUSINESS, status="inactive", source="referral"),
        "d": CustomerFactory(organization=organization, **BUSINESS, status="prospect", assigned_to=ann),
    }
    CustomerFactory(organization=other_organization, assigned_to=foreign_employee, source="referral")

    def names(query):
        by_id = {row.id: name for name, row in rows.items()}
        return {by_id.get(pk, "foreign") for pk in listed_ids(owner_client, f"/api/customers/?{query}")}

    assert names("status=prospect") == {"b", "d"}
    assert names("customer_type=business") == {"c", "d"}
    assert names(f"assigned_to={ann.id}") == {"a", "d"}
    assert names("assigned_to=none") == {"c"}
    assert names(f"assigned_to={foreign_employee.id}") == set()
    assert names("source=REFERRAL") == {"a", "c"}
    assert names(f"status=prospect&customer_type=business&assigned_to={ann.id}") == {"d"}


@pytest.mark.parametrize(
    "query",
    ["status=vip", "customer_type=alien", "assigned_to=abc", "assigned_to=-1", "assigned_to=0", f"assigned_to={2**70}"],
)
def test_bad_customer_filter_values_are_400(owner_client, query):
    assert_invalid(owner_client.get(f"/api/customers/?{query}"), query.split("=")[0])


@pytest.mark.parametrize(
    ("term", "expected"),
    [
        ("lovelace", {"ada"}),
        ("ADA", {"ada"}),
        ("billing@initech", {"initech"}),
        ("Initech", {"initech"}),
        ("lumbergh", {"initech"}),
        ("CUST-0002", {"initech"}),
        ("nothing-like-it", set()),
    ],
)
def test_customer_search_covers_names_emails_company_and_code(owner_client, organization, term, expected):
    customers = {
        "ada": CustomerFactory(organization=organization, **INDIVIDUAL, email="countess@example.com"),
        "initech": CustomerFactory(
            organization=organization,
            **BUSINESS,
            first_name="",
            last_name="",
            email="billing@initech.test",
            contact_person="Bill Lumbergh",
        ),
    }
    assert listed_ids(owner_client, f"/api/customers/?search={term}") == {customers[name].id for name in expected}


def test_deleting_a_customer_with_deals_is_409_and_deletes_nothing(owner_client, organization):
    customer = CustomerFactory(organization=organization)
    deal = DealFactory(organization=organization, customer=customer)
    response = owner_client.delete(f"/api/customers/{customer.id}/")
    assert response.status_code == 409
    assert response.json()["code"] == "protected"
    assert Customer.objects.filter(id=customer.id).exists() and Deal.objects.filter(id=deal.id).exists()


def test_deleting_a_customer_without_deals_is_204(owner_client, organization):
    customer, kept = CustomerFactory(organization=organization), CustomerFactory(organization=organization)
    assert owner_client.delete(f"/api/customers/{customer.id}/").status_code == 204
    assert list(Customer.objects.values_list("id", flat=True)) == [kept.id]
