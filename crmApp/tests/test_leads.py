"""/api/leads/: CRUD, assign, stats, filters, tenant isolation, RBAC, hostile input and query counts."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from crmApp.constants import LeadSource, LeadStatus, ProfileType
from crmApp.models import Customer, Lead
from crmApp.tests.factories import CustomerFactory, EmployeeFactory, LeadFactory

LIST = "/api/leads/"


def detail(lead) -> str:
    return f"/api/leads/{lead.id}/"


def ids(response) -> list[int]:
    assert response.status_code == 200, response.json()
    return [row["id"] for row in response.json()["results"]]


# --- CRUD -----------------------------------------------------------------------------------------
@pytest.mark.django_db
@pytest.mark.parametrize("zero", ["-0", "-0.00", -0.0])
def test_a_negative_zero_estimated_value_is_zero(owner_client, zero):
    body = {"first_name": "Ada", "last_name": "Lovelace", "estimated_value": zero}

    response = owner_client.post(LIST, body, format="json")

    assert response.status_code == 201, response.json()
    assert response.json()["estimated_value"] == "0.00"


@pytest.mark.django_db
def test_create_returns_the_full_lead_in_the_active_organization(owner_client, organization, owner):
    employee = EmployeeFactory(organization=organization)
    body = {
        "first_name": "Ada",
        "last_name": "Lovelace",
        "email": "ada@example.com",
        "phone": "+1 555",
        "company": "Engines",
        "job_title": "Analyst",
        "source": "partner",
        "estimated_value": "75000.5",
        "assigned_to": employee.id,
        "notes": "Hot.",
    }
    response = owner_client.post(LIST, body, format="json")
    assert response.status_code == 201, response.json()
    data = response.json()
    assert data["code"] == "LEAD-0001"
    assert data["organization"] == organization.id
    assert data["created_by"] == owner.id
    assert data["estimated_value"] == "75000.50"
    assert data["score"] == 10 + 10 + 15 + 10 + 20 + 15
    assert (data["status"], data["assigned_to"], data["converted_customer"]) == ("new", employee.id, None)
    assert set(data) == {
        "id",
        "code",
        "organization",
        "first_name",
        "last_name",
        "email",
        "phone",
        "company",
        "job_title",
        "source",
        "estimated_value",
        "status",
        "score",
        "assigned_to",
        "notes",
        "qualified_at",
        "converted_at",
        "converted_customer",
        "version",
        "created_at",
        "updated_at",
        "created_by",
    }


@pytest.mark.django_db
def test_read_only_fields_in_the_body_are_ignored(owner_client, organization, other_organization, owner):
    body = {
        "first_name": "Ada",
        "id": 999,
        "code": "LEAD-9999",
        "organization": other_organization.id,
        "created_by": 12345,
        "created_at": "2000-01-01T00:00:00Z",
        "score": 100,
        "qualified_at": "2000-01-01T00:00:00Z",
        "converted_at": "2000-01-01T00:00:00Z",
        "converted_customer": 5,
    }
    response = owner_client.post(LIST, body, format="json")
    assert response.status_code == 201
    lead = Lead.objects.get()
    assert (lead.code, lead.organization_id, lead.score) == ("LEAD-0001", organization.id, 0)
    assert lead.created_by_id == owner.id
    assert lead.created_at.year == timezone.now().year
    assert (lead.qualified_at, lead.converted_at) == (None, None)


@pytest.mark.django_db
def test_retrieve_update_and_delete(owner_client, organization):
    lead = LeadFactory(organization=organization, first_name="Old")
    assert owner_client.get(detail(lead)).json()["first_name"] == "Old"
    patched = owner_client.patch(detail(lead), {"first_name": "New", "estimated_value": None}, format="json")
    assert patched.status_code == 200
    assert Lead.objects.get(pk=lead.pk).first_name == "New"
    assert owner_client.delete(detail(lead)).status_code == 204
    assert not Lead.objects.filter(pk=lead.pk).exists()


@pytest.mark.django_db
def test_deleting_a_converted_lead_keeps_its_customer_and_purging_it_unlinks_them(owner_client, organization):
    lead = LeadFactory(organization=organization, status="converted")
    customer = CustomerFactory(organization=organization, converted_from_lead=lead)
    assert owner_client.delete(detail(lead)).status_code == 204
    customer.refresh_from_db()
    assert customer.converted_from_lead_id == lead.id  # kept, so a restore brings the link back
    assert owner_client.delete(f"/api/trash/leads/{lead.id}/").status_code == 204
    customer.refresh_from_db()
    assert customer.converted_from_lead is None


# --- stats ----------------------------------------------------------------------------------------
@pytest.mark.django_db
def test_stats_counts_only_this_organization_with_every_key(owner_client, organization, other_organization):
    LeadFactory(organization=organization, status="new", source="referral", email="a@b.co")  # 35
    LeadFactory(organization=organization, status="new", source="website")  # 15
    LeadFactory(organization=organization, status="qualified", source="website", company="X")  # 30
    LeadFactory(organization=organization, status="lost", source="other", phone="1")  # 10
    for _ in range(3):
        LeadFactory(organization=other_organization, status="converted", source="partner", company="Y")
    response = owner_client.get(f"{LIST}stats/")
    assert response.status_code == 200
    assert response.json() == {
        "total": 4,
        "by_status": {"new": 2, "contacted": 0, "qualified": 1, "unqualified": 0, "converted": 0, "lost": 1},
        "by_source": {
            "referral": 1,
            "partner": 0,
            "website": 2,
            "social_media": 0,
            "email_campaign": 0,
            "event": 0,
            "cold_call": 0,
            "advertisement": 0,
            "other": 1,
        },
        "average_score": 22.5,
    }


@pytest.mark.django_db
def test_stats_of_an_empty_organization_are_zeros(owner_client, other_organization):
    LeadFactory(organization=other_organization, source="referral")
    data = owner_client.get(f"{LIST}stats/").json()
    assert data["total"] == 0
    assert data["average_score"] == 0.0
    assert set(data["by_status"]) == set(LeadStatus.values) and not any(data["by_status"].values())
    assert set(data["by_source"]) == set(LeadSource.values) and not any(data["by_source"].values())


@pytest.mark.django_db
def test_stats_average_rounds_to_one_decimal_and_respects_list_filters(owner_client, organization):
    LeadFactory(organization=organization, source="referral", email="a@b.co")  # 35
    LeadFactory(organization=organization, source="website", email="a@b.co")  # 25
    LeadFactory(organization=organization, source="cold_call", email="a@b.co")  # 15
    LeadFactory(organization=organization, source="cold_call", status="contacted")  # 5
    assert owner_client.get(f"{LIST}stats/").json()["average_score"] == 20.0
    email_leads = owner_client.get(f"{LIST}stats/", {"search": "a@b.co"}).json()
    assert (email_leads["total"], email_leads["average_score"]) == (3, 25.0)
    cold = owner_client.get(f"{LIST}stats/", {"source": "cold_call", "status": "new"}).json()
    assert (cold["total"], cold["average_score"]) == (1, 15.0)
    high = owner_client.get(f"{LIST}stats/", {"score_min": 14}).json()
    assert (high["total"], high["average_score"]) == (3, 25.0)
    LeadFactory(organization=organization, source="cold_call", phone="1")  # 15 → (35+25+15+5+15)/5 = 19.0
    LeadFactory(organization=organization, source="event")  # 10 → 105/6 = 17.5
    assert owner_client.get(f"{LIST}stats/").json()["average_score"] == 17.5
    LeadFactory(organization=organization, source="cold_call")  # 5 → 110/7 = 15.714…
    assert owner_client.get(f"{LIST}stats/").json()["average_score"] == 15.7


@pytest.mark.django_db
def test_stats_runs_in_a_fixed_number_of_queries(owner_client, organization, django_assert_max_num_queries):
    for _ in range(30):
        LeadFactory(organization=organization)
    with django_assert_max_num_queries(3):
        assert owner_client.get(f"{LIST}stats/").json()["total"] == 30


# --- filters, search, ordering --------------------------------------------------------------------
@pytest.mark.django_db
def test_filters_by_status_source_assignee_score_and_created_range(owner_client, organization, other_organization):
    employee = EmployeeFactory(organization=organization)
    now = timezone.now()
    old = LeadFactory(organization=organization, status="new", source="referral", created_at=now - timedelta(days=40))
    mid = LeadFactory(
        organization=organization,
        status="contacted",
        source="event",
        assigned_to=employee,
        created_at=now - timedelta(days=10),
        email="m@x.co",
    )
    new = LeadFactory(organization=organization, status="qualified", source="event", assigned_to=employee, company="Z")
    LeadFactory(organization=other_organization, status="contacted", source="event")

    def query(**params):
        return sorted(ids(owner_client.get(LIST, params)))

    assert query() == sorted([old.id, mid.id, new.id])
    assert query(status="contacted") == [mid.id]
    assert query(status=["new", "qualified"]) == sorted([old.id, new.id])
    assert query(source="event") == sorted([mid.id, new.id])
    assert query(assigned_to=employee.id) == sorted([mid.id, new.id])
    # Scores: old 25 (referral), mid 20 (event + email), new 25 (event + company).
    assert query(score_min=25) == sorted([old.id, new.id])
    assert query(score_min=20, score_max=25) == sorted([old.id, mid.id, new.id])
    assert query(score_min=21, score_max=24) == []
    assert query(score_max=20) == [mid.id]
    day = (now - timedelta(days=10)).date().isoformat()
    assert query(created_after=day) == sorted([mid.id, new.id])
    assert query(created_before=day) == sorted([old.id, mid.id])
    assert query(created_after=day, created_before=day) == [mid.id]
    assert query(created_after=(now - timedelta(days=1)).isoformat()) == [new.id]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "params",
    [
        {"status": "bogus"},
        {"source": "nowhere"},
        {"assigned_to": "abc"},
        {"assigned_to": str(2**70)},
        {"score_min": "x"},
        {"score_min": "-1"},
        {"score_max": "101"},
        {"score_max": "1e400"},
        {"created_after": "yesterday"},
        {"created_before": "2024-13-45"},
        {"status": "new\x00"},
    ],
)
def test_malformed_filters_are_400(owner_client, organization, params):
    LeadFactory(organization=organization)
    response = owner_client.get(LIST, params)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"


@pytest.mark.django_db
def test_search_covers_names_email_company_and_code(owner_client, organization, other_organization):
    a = LeadFactory(organization=organization, first_name="Zelda", last_name="Quark", email="zq@mail.io")
    b = LeadFactory(organization=organization, first_name="Bob", last_name="Brown", company="Quarkonium Ltd")
    c = LeadFactory(organization=organization, first_name="Carl", last_name="Stone")
    LeadFactory(organization=other_organization, first_name="Quark")
    assert sorted(ids(owner_client.get(LIST, {"search": "quark"}))) == sorted([a.id, b.id])
    assert ids(owner_client.get(LIST, {"search": "zelda"})) == [a.id]
    assert ids(owner_client.get(LIST, {"search": "mail.io"})) == [a.id]
    assert ids(owner_client.get(LIST, {"search": c.code})) == [c.id]
    assert owner_client.get(LIST, {"search": "stone\x00"}).status_code == 400


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("ordering", "key"),
    [
        ("score", lambda lead: (lead.score, lead.id)),
        ("-score", lambda lead: (-lead.score, -lead.id)),
        ("last_name", lambda lead: (lead.last_name, lead.id)),
        ("-last_name", lambda lead: (tuple(-ord(ch) for ch in lead.last_name), -lead.id)),
        ("status", lambda lead: (lead.status, lead.id)),
        ("created_at", lambda lead: (lead.created_at, lead.id)),
        (None, lambda lead: (-lead.created_at.timestamp(), -lead.id)),
    ],
)
def test_orderings_break_ties_by_id(owner_client, organization, ordering, key):
    moment = timezone.now()
    leads = [
        LeadFactory(organization=organization, last_name=name, status=status, source=source, created_at=moment)
        for name, status, source in [
            ("b", "new", "referral"),
            ("a", "lost", "other"),
            ("b", "new", "referral"),
            ("c", "contacted", "event"),
            ("a", "new", "event"),
        ]
    ]
    leads.append(LeadFactory(organization=organization, last_name="d", created_at=moment - timedelta(days=1)))
    params = {"ordering": ordering} if ordering else {}
    assert ids(owner_client.get(LIST, params)) == [lead.id for lead in sorted(leads, key=key)]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("ordering", "expected"),
    [("estimated_value", ["low", "high", "none1", "none2"]), ("-estimated_value", ["high", "low", "none2", "none1"])],
)
def test_ordering_by_estimated_value_puts_unknown_values_last(owner_client, organization, ordering, expected):
    for name, value in [("none1", None), ("high", Decimal("900")), ("low", Decimal("5")), ("none2", None)]:
        LeadFactory(organization=organization, first_name=name, estimated_value=value)
    rows = owner_client.get(LIST, {"ordering": ordering}).json()["results"]
    assert [row["first_name"] for row in rows] == expected


# --- isolation and RBAC ---------------------------------------------------------------------------
@pytest.mark.django_db
@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("get", "", None),
        ("patch", "", {"first_name": "Hacked"}),
        ("put", "", {"first_name": "Hacked"}),
        ("delete", "", None),
        ("post", "assign/", {"employee": None}),
        ("post", "convert/", {}),
    ],
)
def test_foreign_lead_urls_are_404_and_untouched(owner_client, other_organization, method, suffix, body):
    foreign = LeadFactory(organization=other_organization, first_name="Theirs", status="qualified")
    response = getattr(owner_client, method)(f"{detail(foreign)}{suffix}", body, format="json")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    foreign.refresh_from_db()
    assert (foreign.first_name, foreign.status) == ("Theirs", "qualified")
    assert Customer.objects.count() == 0


@pytest.mark.django_db
def test_foreign_leads_are_never_listed(owner_client, organization, other_organization):
    mine = LeadFactory(organization=organization)
    LeadFactory(organization=other_organization)
    response = owner_client.get(LIST)
    assert (response.json()["count"], ids(response)) == (1, [mine.id])


@pytest.mark.django_db
@pytest.mark.parametrize("lookup", ["abc", str(2**70), "0", "-1"])
def test_malformed_lead_ids_are_404(owner_client, lookup):
    assert owner_client.get(f"{LIST}{lookup}/").status_code == 404


RBAC_TABLE = [
    ("list", "get", "", None, "leads:view", 200),
    ("retrieve", "get", "{id}/", None, "leads:view", 200),
    ("stats", "get", "stats/", None, "leads:view", 200),
    ("create", "post", "", {"first_name": "Ada"}, "leads:create", 201),
    ("partial_update", "patch", "{id}/", {"notes": "x"}, "leads:update", 200),
    ("update", "put", "{id}/", {"first_name": "Ada"}, "leads:update", 200),
    ("assign", "post", "{id}/assign/", {"employee": None}, "leads:update", 200),
    ("destroy", "delete", "{id}/", None, "leads:delete", 204),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("action", "method", "path", "body", "code", "status"), RBAC_TABLE)
def test_each_action_needs_its_code(member_client, organization, action, method, path, body, code, status):
    lead = LeadFactory(organization=organization)
    url = LIST + path.format(id=lead.id)
    other_codes = [
        c for c in ("leads:view", "leads:create", "leads:update", "leads:delete", "customers:create") if c != code
    ]
    denied = getattr(member_client(other_codes), method)(url, body, format="json")
    assert denied.status_code == 403
    assert denied.json()["code"] == "permission_denied"
    allowed = getattr(member_client([code]), method)(url, body, format="json")
    assert allowed.status_code == status


@pytest.mark.django_db
def test_customer_portal_member_cannot_see_leads(member_client, organization):
    LeadFactory(organization=organization)
    client = member_client([], profile_type=ProfileType.CUSTOMER)
    assert client.get(LIST).status_code == 403
    assert client.get(f"{LIST}stats/").status_code == 403


@pytest.mark.django_db
def test_anonymous_callers_are_refused(api_client):
    assert api_client.get(LIST).status_code == 401


# --- hostile input --------------------------------------------------------------------------------
@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "first_name"),
        ({"first_name": ""}, "first_name"),
        ({"first_name": None}, "first_name"),
        ({"first_name": "x" * 101}, "first_name"),
        ({"first_name": 123}, "first_name"),
        ({"first_name": ["Ada"]}, "first_name"),
        ({"last_name": "x" * 101}, "last_name"),
        ({"company": "x" * 201}, "company"),
        ({"job_title": "x" * 201}, "job_title"),
        ({"email": "not-an-email"}, "email"),
        ({"email": "a" * 250 + "@b.co"}, "email"),
        ({"phone": "1" * 41}, "phone"),
        ({"notes": "x" * 10_001}, "notes"),
        ({"notes": "bad\x00byte"}, "notes"),
        ({"source": "carrier_pigeon"}, "source"),
        ({"status": 5}, "status"),
        ({"estimated_value": "-0.01"}, "estimated_value"),
        ({"estimated_value": "1" * 13}, "estimated_value"),
        ({"estimated_value": 1e20}, "estimated_value"),
        ({"estimated_value": "1.234"}, "estimated_value"),
        ({"estimated_value": "NaN"}, "estimated_value"),
        ({"estimated_value": "abc"}, "estimated_value"),
        ({"assigned_to": "abc"}, "assigned_to"),
        ({"assigned_to": 2**70}, "assigned_to"),
        ({"assigned_to": True}, "assigned_to"),
    ],
)
def test_invalid_fields_are_400_on_that_field(owner_client, body, field):
    response = owner_client.post(LIST, {"first_name": "Ada", **body} if field != "first_name" else body, format="json")
    assert response.status_code == 400, response.json()
    assert field in response.json()["errors"]
    assert Lead.objects.count() == 0


@pytest.mark.django_db
def test_largest_valid_values_are_accepted(owner_client):
    body = {
        "first_name": "x" * 100,
        "last_name": "y" * 100,
        "company": "c" * 200,
        "job_title": "j" * 200,
        "phone": "1" * 40,
        "notes": "n" * 10_000,
        "estimated_value": "999999999999.99",
    }
    response = owner_client.post(LIST, body, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["estimated_value"] == "999999999999.99"


@pytest.mark.django_db
@pytest.mark.parametrize("payload", [["first_name"], "Ada", 5])
def test_non_object_bodies_are_400(owner_client, payload):
    assert owner_client.post(LIST, payload, format="json").status_code == 400


# --- query counts ---------------------------------------------------------------------------------
@pytest.mark.django_db
@pytest.mark.parametrize("page_size", [1, 100])
def test_list_runs_in_a_fixed_number_of_queries(owner_client, organization, page_size, django_assert_max_num_queries):
    employee = EmployeeFactory(organization=organization)
    for index in range(100):
        lead = LeadFactory(organization=organization, assigned_to=employee, status="converted" if index % 2 else "new")
        if index % 2:
            CustomerFactory(organization=organization, converted_from_lead=lead)
    # auth + membership, count, page, converted customers of the page
    with django_assert_max_num_queries(5):
        response = owner_client.get(LIST, {"page_size": page_size})
    assert len(response.json()["results"]) == page_size
    assert (
        sum(row["converted_customer"] is not None for row in response.json()["results"]) == (page_size + 1) // 2
    )  # newest first: odd ones


@pytest.mark.django_db
def test_detail_runs_in_a_fixed_number_of_queries(owner_client, organization, django_assert_max_num_queries):
    lead = LeadFactory(
        organization=organization, status="converted", assigned_to=EmployeeFactory(organization=organization)
    )
    customer = CustomerFactory(organization=organization, converted_from_lead=lead)
    with django_assert_max_num_queries(4):
        response = owner_client.get(detail(lead))
    assert response.json()["converted_customer"] == customer.id
