"""Vendors: CRUD with exact payloads, field validation and search; and the list filters every
people-and-company record shares (status and kind, ordering with its id tiebreak, created range).

Codes, read-only fields, tenant isolation, RBAC, the member-user rule and query counts are proved
for vendors by the record-wide tables in test_employees.py.
"""

from datetime import UTC, date, datetime

import pytest
from django.db import connection
from django.db.models import F
from django.test.utils import CaptureQueriesContext

from crmApp.models import Vendor
from crmApp.tests.factories import VendorFactory
from crmApp.tests.test_employees import (
    EVERY_RESOURCE,
    RESOURCES,
    assert_created_exactly,
    assert_invalid,
    listed_ids,
)
from crmApp.viewsets.customer import CustomerViewSet
from crmApp.viewsets.employee import EmployeeViewSet
from crmApp.viewsets.vendor import VendorViewSet

pytestmark = pytest.mark.django_db

VIEWSETS = {"employees": EmployeeViewSet, "vendors": VendorViewSet, "customers": CustomerViewSet}


def test_create_vendor_returns_the_exact_record(owner_client, organization, owner, make_member):
    linked = make_member(profile_type="vendor")
    payload = {
        "name": "Acme Supplies",
        "email": "sales@acme.test",
        "phone": "+1 555 0100",
        "contact_person": "Wile E.",
        "vendor_type": "Hardware",
        "status": "inactive",
        "address": "1 Desert Road\nNowhere",
        "user": linked.id,
        "notes": "Pays late.",
    }
    vendor = assert_created_exactly(owner_client, "vendors", payload, organization=organization, owner=owner)
    assert (vendor.user_id, vendor.status) == (linked.id, "inactive")


def test_vendor_defaults(owner_client):
    body = owner_client.post("/api/vendors/", {"name": "Acme"}, format="json").json()
    optional = ("email", "phone", "contact_person", "vendor_type", "status", "address", "user", "notes")
    assert {k: body[k] for k in optional} == {
        "email": "",
        "phone": "",
        "contact_person": "",
        "vendor_type": "",
        "status": "active",
        "address": "",
        "user": None,
        "notes": "",
    }


def test_patch_put_and_delete_a_vendor(owner_client, organization):
    vendor = VendorFactory(organization=organization, name="Old")
    url = f"/api/vendors/{vendor.id}/"
    assert owner_client.patch(url, {"notes": "Reliable"}, format="json").json()["notes"] == "Reliable"
    assert owner_client.put(url, {"name": "New", "status": "inactive"}, format="json").status_code == 200
    vendor.refresh_from_db()
    assert (vendor.name, vendor.status, vendor.notes) == ("New", "inactive", "Reliable")
    assert owner_client.delete(url).status_code == 204
    assert not Vendor.objects.exists()


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"contact_person": "x" * 101}, "contact_person"),
        ({"vendor_type": "x" * 101}, "vendor_type"),
        ({"email": "nope"}, "email"),
        ({"email": "a" * 245 + "@example.com"}, "email"),
        ({"phone": "1" * 41}, "phone"),
        ({"notes": "x" * 10_001}, "notes"),
        ({"address": "x" * 1001}, "address"),
        ({"status": "prospect"}, "status"),
        ({"name": ["Acme"]}, "name"),
        ({"notes": {"a": 1}}, "notes"),
        ({"user": "1; DROP TABLE"}, "user"),
        ({"user": 2**64}, "user"),
    ],
)
def test_invalid_vendor_input_is_400_on_the_field(owner_client, changes, field):
    assert_invalid(owner_client.post("/api/vendors/", {"name": "Acme", **changes}, format="json"), field)
    assert not Vendor.objects.exists()


def test_missing_vendor_name_is_400(owner_client):
    assert_invalid(owner_client.post("/api/vendors/", {"email": "a@b.test"}, format="json"), "name")


def test_notes_at_the_limit_are_accepted(owner_client):
    response = owner_client.post("/api/vendors/", {"name": "x" * 200, "notes": "n" * 10_000}, format="json")
    assert response.status_code == 201


@pytest.mark.parametrize(
    ("term", "expected"),
    [("acme", {"acme"}), ("orders@", {"globex"}), ("hank", {"globex"}), ("VEN-0001", {"acme"}), ("zzz", set())],
)
def test_vendor_search_covers_name_email_contact_and_code(owner_client, organization, term, expected):
    vendors = {
        "acme": VendorFactory(organization=organization, name="Acme Supplies"),
        "globex": VendorFactory(
            organization=organization, name="Globex", email="orders@globex.test", contact_person="Hank"
        ),
    }
    assert listed_ids(owner_client, f"/api/vendors/?search={term}") == {vendors[name].id for name in expected}


# --- list filters shared by every record ------------------------------------------------------
@pytest.mark.parametrize(("resource", "field"), [("employees", "department"), ("vendors", "vendor_type")])
def test_filters_by_status_and_a_case_insensitive_kind(resource, field, owner_client, organization):
    url, _, factory, _, _ = RESOURCES[resource]
    plain = factory(organization=organization, **{field: "Sales"})
    inactive = factory(organization=organization, status="inactive", **{field: "sales"})
    factory(organization=organization, **{field: "Support"})
    assert listed_ids(owner_client, f"{url}?status=inactive") == {inactive.id}
    assert listed_ids(owner_client, f"{url}?{field}=SALES") == {plain.id, inactive.id}
    assert listed_ids(owner_client, f"{url}?{field}=Sales&status=active") == {plain.id}
    assert_invalid(owner_client.get(f"{url}?status=retired"), "status")


def orderable_records(resource, organization):
    """Six records whose values tie in pairs, so only the id tiebreak makes the order unique."""
    name_fields = ("first_name", "last_name", "name")
    _, _, factory, _, _ = RESOURCES[resource]
    extra = {"customers": {"customer_type": "business", "company_name": "Same Co"}}.get(resource, {})
    records = []
    for index in range(6):
        same = index // 2
        records.append(
            factory(
                organization=organization,
                status=("active", "inactive")[same % 2],
                created_at=datetime(2024, 1, 1 + same, tzinfo=UTC),
                **{name: f"Name {same}" for name in name_fields if hasattr(factory._meta.model, name)},
                **{"department": f"Dept {same}", "hire_date": date(2020, 1, 1 + same) if index % 3 else None}
                if resource == "employees"
                else {},
                **{"vendor_type": f"Type {same}"} if resource == "vendors" else {},
                **extra,
            )
        )
    return records


@pytest.mark.parametrize(
    ("resource", "field"), [(resource, field) for resource, view in VIEWSETS.items() for field in view.ordering_fields]
)
@pytest.mark.parametrize("direction", ["", "-"])
def test_ordering_by_each_field_breaks_ties_by_id(resource, field, direction, owner_client, organization):
    url, model, _, _, _ = RESOURCES[resource]
    orderable_records(resource, organization)
    rows = owner_client.get(f"{url}?ordering={direction}{field}").json()["results"]
    # NULLs (employees without a hire date) come last in both directions, on every database.
    key = F(field).desc(nulls_last=True) if direction else F(field).asc(nulls_last=True)
    # The id tiebreak runs in the first key's direction, so PostgreSQL can read an index backwards.
    tiebreak = f"{direction}id"
    expected = list(
        model.objects.filter(organization=organization).order_by(key, tiebreak).values_list("id", flat=True)
    )
    assert [row["id"] for row in rows] == expected


@EVERY_RESOURCE
def test_ordering_sql_ends_on_the_id_tiebreak(resource, owner_client, organization):
    url, model, _, _, _ = RESOURCES[resource]
    orderable_records(resource, organization)
    with CaptureQueriesContext(connection) as queries:
        owner_client.get(f"{url}?ordering=-status")
    table = model._meta.db_table
    page = next(query["sql"] for query in reversed(queries.captured_queries) if "ORDER BY" in query["sql"])
    assert order_terms(page)[:2] == [f'"{table}"."status" DESC', f'"{table}"."id" DESC']


def order_terms(sql: str) -> list[str]:
    """The ORDER BY terms of a statement, with positional terms (`19 DESC`, as in row reads) named."""
    selected = sql.split("SELECT ", 1)[1].split(" FROM ", 1)[0].split(", ")
    terms = sql.rsplit("ORDER BY", 1)[1].split(" LIMIT ")[0].strip().split(", ")
    named = []
    for term in terms:
        expression, _, direction = term.partition(" ")
        column = selected[int(expression) - 1].split(" AS ")[0] if expression.isdigit() else expression
        named.append(f"{column} {direction}".strip())
    return named


@EVERY_RESOURCE
def test_default_order_and_unknown_ordering_fields_are_400(resource, owner_client, organization):
    url, model, _, _, _ = RESOURCES[resource]
    orderable_records(resource, organization)
    default = [row["id"] for row in owner_client.get(url).json()["results"]]
    view = VIEWSETS[resource]
    assert default == list(model.objects.order_by(*view.ordering).values_list("id", flat=True))
    for unknown in ("created_by__password", "nope", "-created_at,nope"):
        response = owner_client.get(url, {"ordering": unknown})
        assert response.status_code == 400
        assert list(response.json()["errors"]) == ["ordering"]


@EVERY_RESOURCE
@pytest.mark.parametrize(
    ("query", "expected_days"),
    [
        ("created_after=2024-01-02", [2, 3]),
        ("created_before=2024-01-02", [1, 2]),
        ("created_after=2024-01-02&created_before=2024-01-02", [2]),
        ("created_after=2024-01-02T12:00:00Z", [3]),
    ],
)
def test_created_range_filters(resource, query, expected_days, owner_client, organization):
    url, _, _, _, _ = RESOURCES[resource]
    records = orderable_records(resource, organization)
    rows = owner_client.get(f"{url}?{query}").json()["results"]
    assert sorted(row["id"] for row in rows) == sorted(r.id for r in records if r.created_at.day in expected_days)


@EVERY_RESOURCE
def test_bad_created_range_is_400(resource, owner_client):
    assert_invalid(owner_client.get(f"{RESOURCES[resource][0]}?created_after=soon"), "created_after")
