"""Employees, and what every people-and-company record (employee, vendor, customer) shares:
codes, read-only fields, tenant isolation, RBAC per action, the member-user rule and query counts.
The shared list ordering and created-range filters are in test_vendors.py."""

import pytest
from django.utils.dateparse import parse_datetime

from crmApp.constants import ProfileType
from crmApp.models import Customer, Deal, Employee, Lead, Membership, Vendor
from crmApp.tests.conftest import error_fields
from crmApp.tests.factories import (
    CustomerFactory,
    DealFactory,
    EmployeeFactory,
    LeadFactory,
    MembershipFactory,
    UserFactory,
    VendorFactory,
)

pytestmark = pytest.mark.django_db

# resource -> (url, model, factory, code prefix, smallest valid body)
RESOURCES = {
    "employees": ("/api/employees/", Employee, EmployeeFactory, "EMP", {"first_name": "Ada", "last_name": "Lovelace"}),
    "vendors": ("/api/vendors/", Vendor, VendorFactory, "VEN", {"name": "Acme Supplies"}),
    "customers": ("/api/customers/", Customer, CustomerFactory, "CUST", {"first_name": "Ada", "last_name": "Lovelace"}),
}
EVERY_RESOURCE = pytest.mark.parametrize("resource", sorted(RESOURCES))


def without_timestamps(body: dict) -> dict:
    """The body minus created_at/updated_at, after checking they are ISO 8601 with a time zone."""
    body = dict(body)
    for key in ("created_at", "updated_at"):
        assert parse_datetime(body.pop(key)).tzinfo is not None
    return body


def listed_ids(client, url: str) -> set[int]:
    """The ids on the first page of a list request that must succeed."""
    response = client.get(url)
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()["results"]}


def assert_created_exactly(client, resource: str, payload: dict, *, organization, owner, **derived):
    """POST `payload`; the answer and a later GET are exactly the payload plus the server's fields."""
    url, model, _, prefix, _ = RESOURCES[resource]
    response = client.post(url, payload, format="json")
    assert response.status_code == 201, response.content
    record = model.objects.get()
    expected = {
        "id": record.id,
        "code": f"{prefix}-0001",
        "organization": organization.id,
        "created_by": owner.id,
        "version": 1,
        **derived,
        **payload,
    }
    assert without_timestamps(response.json()) == expected
    assert without_timestamps(client.get(f"{url}{record.id}/").json()) == expected
    return record


def assert_invalid(response, field: str) -> None:
    """A 400 validation error naming `field`."""
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] == "invalid"
    assert field in error_fields(response), body


# --- employees ----------------------------------------------------------------------------------
def test_create_employee_returns_the_exact_record(owner_client, organization, owner, make_member):
    linked = make_member()
    payload = {
        "first_name": "Ada",
        "last_name": "Lovelace",
        "email": "ada@example.com",
        "phone": "+44 20 7946 0000",
        "department": "Engineering",
        "job_title": "Analyst",
        "hire_date": "2024-03-01",
        "status": "inactive",
        "user": linked.id,
    }
    employee = assert_created_exactly(owner_client, "employees", payload, organization=organization, owner=owner)
    assert (employee.organization_id, employee.user_id, employee.status) == (organization.id, linked.id, "inactive")


def test_employee_defaults_to_active_with_blank_optional_fields(owner_client):
    body = owner_client.post("/api/employees/", {"first_name": "Ada", "last_name": "Lovelace"}, format="json").json()
    assert {k: body[k] for k in ("email", "phone", "department", "job_title", "hire_date", "status", "user")} == {
        "email": "",
        "phone": "",
        "department": "",
        "job_title": "",
        "hire_date": None,
        "status": "active",
        "user": None,
    }


def test_put_and_patch_change_an_employee(owner_client, organization):
    employee = EmployeeFactory(organization=organization, first_name="Ada", last_name="Lovelace")
    url = f"/api/employees/{employee.id}/"
    response = owner_client.patch(url, {"department": "Sales"}, format="json")
    assert response.status_code == 200 and response.json()["department"] == "Sales"
    body = {"first_name": "Grace", "last_name": "Hopper", "status": "inactive"}
    response = owner_client.put(url, body, format="json")
    assert response.status_code == 200
    employee.refresh_from_db()
    assert (employee.first_name, employee.last_name, employee.status, employee.department) == (
        "Grace",
        "Hopper",
        "inactive",
        "Sales",
    )


def test_put_without_required_names_is_400(owner_client, organization):
    employee = EmployeeFactory(organization=organization)
    response = owner_client.put(f"/api/employees/{employee.id}/", {"department": "Sales"}, format="json")
    assert_invalid(response, "first_name")


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"first_name": ""}, "first_name"),
        ({"first_name": None}, "first_name"),
        ({"last_name": "x" * 101}, "last_name"),
        ({"department": "x" * 101}, "department"),
        ({"job_title": "x" * 201}, "job_title"),
        ({"email": "not-an-email"}, "email"),
        ({"email": "a" * 245 + "@example.com"}, "email"),
        ({"phone": "1" * 41}, "phone"),
        ({"hire_date": "yesterday"}, "hire_date"),
        ({"hire_date": "2024-02-30"}, "hire_date"),
        ({"status": "retired"}, "status"),
        ({"first_name": ["Ada"]}, "first_name"),
        ({"first_name": {"x": 1}}, "first_name"),
        ({"last_name": True}, "last_name"),
        ({"user": "abc"}, "user"),
        ({"user": -1}, "user"),
        ({"user": 0}, "user"),
        ({"user": 2**70}, "user"),
        ({"user": True}, "user"),
        ({"user": [1]}, "user"),
    ],
)
def test_invalid_employee_input_is_400_on_the_field(owner_client, changes, field):
    payload = {"first_name": "Ada", "last_name": "Lovelace", **changes}
    assert_invalid(owner_client.post("/api/employees/", payload, format="json"), field)
    assert not Employee.objects.exists()


def test_missing_employee_names_are_400(owner_client):
    response = owner_client.post("/api/employees/", {}, format="json")
    assert_invalid(response, "first_name")
    assert "last_name" in response.json()["errors"]


def test_values_at_the_limits_are_accepted(owner_client):
    payload = {
        "first_name": "x" * 100,
        "last_name": "y" * 100,
        "job_title": "z" * 200,
        "email": "a" * 242 + "@example.com",
        "phone": "1" * 40,
    }
    assert owner_client.post("/api/employees/", payload, format="json").status_code == 201


def test_a_user_can_be_only_one_employee_per_organization(owner_client, organization, make_member):
    linked = make_member()
    EmployeeFactory(organization=organization, user=linked)
    body = {"first_name": "A", "last_name": "B", "user": linked.id}
    response = owner_client.post("/api/employees/", body, format="json")
    assert_invalid(response, "user")
    other = EmployeeFactory(organization=organization)
    assert_invalid(owner_client.patch(f"/api/employees/{other.id}/", {"user": linked.id}, format="json"), "user")
    assert Employee.objects.filter(user=linked).count() == 1


def test_a_trashed_employee_still_holds_their_user(owner_client, organization, make_member):
    linked = make_member()
    trashed = EmployeeFactory(organization=organization, user=linked)
    assert owner_client.delete(f"/api/employees/{trashed.id}/").status_code == 204

    body = {"first_name": "A", "last_name": "B", "user": linked.id}
    response = owner_client.post("/api/employees/", body, format="json")
    assert_invalid(response, "user")
    assert "trash" in str(response.json())
    assert owner_client.post(f"/api/trash/employees/{trashed.id}/restore/").status_code == 200


def test_employee_keeps_its_own_user_on_update(owner_client, organization, make_member):
    linked = make_member()
    employee = EmployeeFactory(organization=organization, user=linked)
    body = {"user": linked.id, "job_title": "Lead"}
    response = owner_client.patch(f"/api/employees/{employee.id}/", body, format="json")
    assert response.status_code == 200


@EVERY_RESOURCE
@pytest.mark.parametrize("method", ["put", "patch"])
def test_a_record_sent_back_with_its_link_to_a_member_who_left_is_saved(
    owner_client, organization, make_member, resource, method
):
    url, _, factory, _, _ = RESOURCES[resource]
    left = make_member()
    record = factory(organization=organization, user=left)
    Membership.objects.filter(user=left, organization=organization).update(status="removed")
    shown = owner_client.get(f"{url}{record.id}/").json()  # a form sends back what it read

    body = {**shown, "phone": "555"} if method == "put" else {"user": left.id, "phone": "555"}
    response = getattr(owner_client, method)(f"{url}{record.id}/", body, format="json")

    assert response.status_code == 200, response.content
    record.refresh_from_db()
    assert (record.user_id, record.phone) == (left.id, "555")
    # Linking another record to them is still a link to someone who is no member.
    other = factory(organization=organization)
    assert_invalid(owner_client.patch(f"{url}{other.id}/", {"user": left.id}, format="json"), "user")


def test_deleting_an_employee_unassigns_their_customers_leads_and_deals(owner_client, organization):
    leaving, staying = EmployeeFactory(organization=organization), EmployeeFactory(organization=organization)
    customers = CustomerFactory.create_batch(2, organization=organization, assigned_to=leaving)
    kept_customer = CustomerFactory(organization=organization, assigned_to=staying)
    lead = LeadFactory(organization=organization, assigned_to=leaving)
    deal = DealFactory(organization=organization, customer=customers[0], assigned_to=leaving)

    assert owner_client.delete(f"/api/employees/{leaving.id}/").status_code == 204

    assert not Employee.objects.filter(id=leaving.id).exists()
    unassigned = Customer.objects.filter(id__in=[c.id for c in customers], assigned_to__isnull=True)
    assert unassigned.count() == 2
    assert Lead.objects.get(id=lead.id).assigned_to_id is None
    assert Deal.objects.get(id=deal.id).assigned_to_id is None
    kept_customer.refresh_from_db()
    assert kept_customer.assigned_to_id == staying.id


@pytest.mark.parametrize(
    ("term", "expected"),
    [("lovelace", {"ada"}), ("ADA@", {"ada"}), ("EMP-0002", {"grace"}), ("engineer", {"grace"}), ("nobody", set())],
)
def test_employee_search_covers_names_emails_code_and_department(owner_client, organization, term, expected):
    people = {
        "ada": EmployeeFactory(
            organization=organization, first_name="Ada", last_name="Lovelace", email="ada@example.com"
        ),
        "grace": EmployeeFactory(
            organization=organization, first_name="Grace", last_name="Hopper", department="Engineering"
        ),
    }
    assert listed_ids(owner_client, f"/api/employees/?search={term}") == {people[name].id for name in expected}


# --- every record: codes, read-only fields, isolation, RBAC, member users, queries ----------------
@EVERY_RESOURCE
def test_codes_count_per_organization(resource, owner_client, other_client):
    url, _, _, prefix, body = RESOURCES[resource]
    codes = [owner_client.post(url, body, format="json").json()["code"] for _ in range(2)]
    assert codes == [f"{prefix}-0001", f"{prefix}-0002"]
    assert other_client.post(url, body, format="json").json()["code"] == f"{prefix}-0001"


@EVERY_RESOURCE
def test_read_only_fields_sent_by_the_client_change_nothing(
    resource, owner_client, organization, owner, other_organization, other_owner
):
    url, model, _, prefix, body = RESOURCES[resource]
    forged = {
        "id": 999999,
        "code": "HACK-1",
        "organization": other_organization.id,
        "created_by": other_owner.id,
        "created_at": "2001-01-01T00:00:00Z",
        "updated_at": "2001-01-01T00:00:00Z",
    }
    created = owner_client.post(url, {**body, **forged}, format="json")
    assert created.status_code == 201
    record = model.objects.get()
    assert (record.id != 999999, record.code, record.organization_id, record.created_by_id) == (
        True,
        f"{prefix}-0001",
        organization.id,
        owner.id,
    )
    assert record.created_at.year > 2001
    assert owner_client.patch(f"{url}{record.id}/", forged, format="json").status_code == 200
    record.refresh_from_db()
    assert (record.code, record.organization_id, record.created_by_id) == (f"{prefix}-0001", organization.id, owner.id)
    assert record.created_at.year > 2001


@EVERY_RESOURCE
@pytest.mark.parametrize("method", ["get", "put", "patch", "delete"])
def test_another_organizations_record_answers_404(resource, method, owner_client, other_organization):
    url, model, factory, _, body = RESOURCES[resource]
    foreign = factory(organization=other_organization)
    response = getattr(owner_client, method)(f"{url}{foreign.id}/", None if method == "get" else body, format="json")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert model.objects.filter(id=foreign.id, organization=other_organization).exists()
    if method in ("put", "patch"):
        assert model.objects.get(id=foreign.id).updated_at == foreign.updated_at


@EVERY_RESOURCE
@pytest.mark.parametrize("bad_id", ["0", "99999999", str(2**63), str(2**70)])
def test_missing_or_overflowing_id_in_url_is_404(resource, bad_id, owner_client):
    assert owner_client.get(f"{RESOURCES[resource][0]}{bad_id}/").status_code == 404


@EVERY_RESOURCE
def test_another_organizations_records_are_never_listed_or_found(
    resource, owner_client, organization, other_organization
):
    url, _, factory, _, _ = RESOURCES[resource]
    mine = factory(organization=organization)
    factory.create_batch(3, organization=other_organization, email="foreign@example.com")
    body = owner_client.get(url).json()
    assert (body["count"], [row["id"] for row in body["results"]]) == (1, [mine.id])
    assert owner_client.get(f"{url}?search=foreign").json()["count"] == 0


# action -> (HTTP method, needs the record id, code verb)
ACTIONS = {
    "list": ("get", False, "view"),
    "retrieve": ("get", True, "view"),
    "create": ("post", False, "create"),
    "update": ("put", True, "update"),
    "partial_update": ("patch", True, "update"),
    "destroy": ("delete", True, "delete"),
}
VERBS = ("view", "create", "update", "delete")


@EVERY_RESOURCE
@pytest.mark.parametrize("action", sorted(ACTIONS))
@pytest.mark.parametrize("holds_code", [True, False], ids=["with-code", "without-code"])
def test_each_action_needs_its_code(resource, action, holds_code, member_client, organization):
    url, model, factory, _, body = RESOURCES[resource]
    method, detail, verb = ACTIONS[action]
    codes = [f"{resource}:{v}" for v in VERBS if holds_code or v != verb]
    record = factory(organization=organization)
    target = f"{url}{record.id}/" if detail else url
    response = getattr(member_client(codes), method)(target, None if method == "get" else body, format="json")
    if holds_code:
        assert response.status_code in (200, 201, 204), response.content
    else:
        assert response.status_code == 403
        assert response.json()["code"] == "permission_denied"
        assert model.objects.count() == 1 and model.objects.get().updated_at == record.updated_at


@EVERY_RESOURCE
@pytest.mark.parametrize(
    "case", ["active-member", "stranger", "other-organization", "inactive-here-active-elsewhere", "none"]
)
def test_user_must_be_an_active_member_of_the_organization(
    resource, case, owner_client, organization, other_organization
):
    url, model, _, _, body = RESOURCES[resource]
    user = UserFactory()
    if case == "active-member":
        MembershipFactory(user=user, organization=organization, profile_type=ProfileType.CUSTOMER)
    elif case == "other-organization":
        MembershipFactory(user=user, organization=other_organization)
    elif case == "inactive-here-active-elsewhere":
        MembershipFactory(user=user, organization=organization, status="removed")
        MembershipFactory(user=user, organization=other_organization)
    user_id = None if case == "none" else user.id
    response = owner_client.post(url, {**body, "user": user_id}, format="json")
    if case in ("active-member", "none"):
        assert response.status_code == 201, response.content
        assert model.objects.get().user_id == user_id
    else:
        assert_invalid(response, "user")
        assert not model.objects.exists()
    active_here = Membership.objects.filter(user=user, organization=organization, status="active").exists()
    assert active_here == (case == "active-member")


@EVERY_RESOURCE
@pytest.mark.parametrize("page_size", [1, 100])
def test_list_and_detail_run_a_fixed_number_of_queries(
    resource, page_size, owner_client, organization, make_member, django_assert_max_num_queries
):
    url, _, factory, _, _ = RESOURCES[resource]
    records = [factory(organization=organization, user=make_member()) for _ in range(100)]
    if resource == "customers":
        employee = EmployeeFactory(organization=organization)
        Customer.objects.filter(organization=organization).update(assigned_to=employee)
    # token user, membership, COUNT, page
    with django_assert_max_num_queries(4):
        response = owner_client.get(f"{url}?page_size={page_size}")
    assert len(response.json()["results"]) == page_size
    with django_assert_max_num_queries(3):
        assert owner_client.get(f"{url}{records[-1].id}/").status_code == 200
