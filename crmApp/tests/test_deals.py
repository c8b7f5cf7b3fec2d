"""Deals: create defaults, expected revenue, validation, read-only fields, filters, isolation, RBAC, portal."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db.models import RestrictedError
from django.utils import timezone

from crmApp.constants import ProfileType
from crmApp.exceptions import exception_handler
from crmApp.models import Customer, Deal, Pipeline
from crmApp.tests.factories import (
    CustomerFactory,
    DealFactory,
    EmployeeFactory,
    LeadFactory,
    PipelineFactory,
    PipelineStageFactory,
    default_stage,
)

pytestmark = pytest.mark.django_db

DEALS = "/api/deals/"


@pytest.fixture
def customer(organization):
    """An individual customer of Acme."""
    return CustomerFactory(organization=organization, first_name="Ada", last_name="Lovelace")


def test_create_defaults_to_the_default_pipeline_and_its_first_open_stage(owner_client, organization, customer):
    response = owner_client.post(DEALS, {"title": "Big one", "customer": customer.id, "value": "5000"}, format="json")
    assert response.status_code == 201, response.json()
    data = response.json()
    stage = default_stage(organization, "Prospecting")
    assert (data["pipeline"], data["stage"], data["stage_name"]) == (stage.pipeline_id, stage.id, "Prospecting")
    assert (data["status"], data["probability"], data["expected_revenue"], data["value"]) == (
        "open",
        10,
        "500.00",
        "5000.00",
    )
    assert data["code"] == "DEAL-0001" and data["closed_at"] is None
    assert data["customer_name"] == "Ada Lovelace" and data["organization"] == organization.id


def test_create_with_only_a_stage_takes_the_stage_pipeline(owner_client, organization, customer):
    pipeline = PipelineFactory(organization=organization)
    stage = PipelineStageFactory(pipeline=pipeline, probability=40)
    response = owner_client.post(
        DEALS, {"title": "T", "customer": customer.id, "stage": stage.id, "value": "10"}, format="json"
    )
    assert response.status_code == 201
    assert (response.json()["pipeline"], response.json()["expected_revenue"]) == (pipeline.id, "4.00")


def test_create_with_only_a_pipeline_starts_in_its_first_open_stage(owner_client, organization, customer):
    pipeline = PipelineFactory(organization=organization)
    PipelineStageFactory(pipeline=pipeline, name="Won", order=1, is_won=True, probability=100)
    first_open = PipelineStageFactory(pipeline=pipeline, name="Start", order=2)
    PipelineStageFactory(pipeline=pipeline, name="Later", order=3)
    response = owner_client.post(DEALS, {"title": "T", "customer": customer.id, "pipeline": pipeline.id}, format="json")
    assert response.status_code == 201
    assert response.json()["stage"] == first_open.id


def test_create_in_a_pipeline_without_open_stage_is_400(owner_client, organization, customer):
    pipeline = PipelineFactory(organization=organization)
    response = owner_client.post(DEALS, {"title": "T", "customer": customer.id, "pipeline": pipeline.id}, format="json")
    assert response.status_code == 400 and response.json()["code"] == "no_open_stage"


def test_create_with_a_stage_of_another_pipeline_is_400_on_stage(owner_client, organization, customer):
    other = PipelineFactory(organization=organization)
    response = owner_client.post(
        DEALS,
        {"title": "T", "customer": customer.id, "pipeline": other.id, "stage": default_stage(organization).id},
        format="json",
    )
    assert response.status_code == 400 and "stage" in response.json()["errors"]
    assert not Deal.objects.exists()


def test_create_straight_into_a_won_stage_closes_the_deal(owner_client, organization, customer):
    stage = default_stage(organization, "Closed Won")
    response = owner_client.post(
        DEALS, {"title": "T", "customer": customer.id, "stage": stage.id, "value": "7"}, format="json"
    )
    assert (response.json()["status"], response.json()["expected_revenue"]) == ("won", "7.00")
    assert response.json()["closed_at"] is not None


@pytest.mark.parametrize(
    "value, probability, expected",
    [
        ("0.05", 50, "0.03"),  # 0.025 → half up (banker's rounding would give 0.02)
        ("0.01", 50, "0.01"),  # 0.005 → half up
        ("0.03", 50, "0.02"),  # 0.015
        ("0.01", 25, "0.00"),  # 0.0025
        ("1.10", 5, "0.06"),  # 0.055
        ("999.99", 25, "250.00"),  # 249.9975
        ("12345.67", 75, "9259.25"),  # 9259.2525
        ("1000", 10, "100.00"),
        ("0", 100, "0.00"),
        ("999999999999.99", 75, "749999999999.99"),  # 749999999999.9925, the largest value
        ("999999999999.99", 100, "999999999999.99"),
    ],
)
def test_expected_revenue_is_value_times_probability_rounded_half_up(
    owner_client, organization, customer, value, probability, expected
):
    stage = PipelineStageFactory(pipeline=Pipeline.objects.get(organization=organization), probability=probability)
    response = owner_client.post(
        DEALS, {"title": "T", "customer": customer.id, "stage": stage.id, "value": value}, format="json"
    )
    assert response.status_code == 201, response.json()
    assert (response.json()["probability"], response.json()["expected_revenue"]) == (probability, expected)
    assert Deal.objects.get(pk=response.json()["id"]).expected_revenue == Decimal(expected)


def test_patching_value_recomputes_expected_revenue(owner_client, organization):
    deal = DealFactory(organization=organization, stage=default_stage(organization, "Proposal"), value=Decimal("10"))
    response = owner_client.patch(f"{DEALS}{deal.id}/", {"value": "0.05"}, format="json")
    assert response.status_code == 200
    assert (response.json()["value"], response.json()["expected_revenue"]) == ("0.05", "0.03")


@pytest.mark.parametrize("zero", ["-0", "-0.00", "-0e5", -0.0])
def test_a_negative_zero_value_is_zero(owner_client, customer, zero):
    created = owner_client.post(DEALS, {"title": "T", "customer": customer.id, "value": "5"}, format="json").json()

    patched = owner_client.patch(f"{DEALS}{created['id']}/", {"value": zero}, format="json").json()
    history = owner_client.get(f"{DEALS}{created['id']}/history/").json()["results"][0]["changes"]

    assert (patched["value"], patched["expected_revenue"]) == ("0.00", "0.00")
    assert {change["field"]: change["new"] for change in history} == {"value": "0.00", "expected_revenue": "0.00"}


@pytest.mark.parametrize(
    "value",
    ["-0.01", "-5", "1000000000000.00", "1e20", "0.001", "abc", "NaN", "Infinity", True, [], {"a": 1}],
)
def test_invalid_value_is_400_on_value(owner_client, customer, value):
    response = owner_client.post(DEALS, {"title": "T", "customer": customer.id, "value": value}, format="json")
    assert response.status_code == 400
    assert "value" in response.json()["errors"]
    assert not Deal.objects.exists()


@pytest.mark.parametrize(
    "body, field",
    [
        ({"title": ""}, "title"),
        ({"title": 123}, "title"),
        ({"title": ["a"]}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"lost_reason": "x" * 10_001}, "lost_reason"),
        ({"expected_close_date": "soon"}, "expected_close_date"),
        ({"customer": None}, "customer"),
        ({"customer": "abc"}, "customer"),
        ({"customer": 2**70}, "customer"),
        ({"stage": -1}, "stage"),
        ({"assigned_to": 1.5}, "assigned_to"),
    ],
)
def test_invalid_deal_fields_are_400(owner_client, customer, body, field):
    response = owner_client.post(DEALS, {"title": "T", "customer": customer.id, **body}, format="json")
    assert response.status_code == 400
    assert field in response.json()["errors"]


@pytest.mark.parametrize("field", ["customer", "stage", "pipeline", "assigned_to", "lead"])
def test_foreign_id_in_body_is_400_on_that_field(owner_client, organization, other_organization, customer, field):
    foreign = {
        "customer": lambda: CustomerFactory(organization=other_organization).id,
        "stage": lambda: default_stage(other_organization).id,
        "pipeline": lambda: Pipeline.objects.get(organization=other_organization).id,
        "assigned_to": lambda: EmployeeFactory(organization=other_organization).id,
        "lead": lambda: LeadFactory(organization=other_organization).id,
    }[field]()
    response = owner_client.post(DEALS, {"title": "T", "customer": customer.id, field: foreign}, format="json")
    assert response.status_code == 400
    assert list(response.json()["errors"]) == [field]
    deal = DealFactory(organization=organization)
    patched = owner_client.patch(f"{DEALS}{deal.id}/", {field: foreign}, format="json")
    assert patched.status_code == 400 and field in patched.json()["errors"]


def test_read_only_fields_are_ignored(owner_client, organization, customer):
    sent = {
        "title": "T",
        "customer": customer.id,
        "value": "100",
        "status": "won",
        "probability": 99,
        "expected_revenue": "99999.00",
        "closed_at": "2020-01-01T00:00:00Z",
        "code": "DEAL-9999",
        "organization": 999,
        "created_by": 999,
        "created_at": "2000-01-01T00:00:00Z",
    }
    response = owner_client.post(DEALS, sent, format="json")
    assert response.status_code == 201
    data = response.json()
    assert (data["status"], data["probability"], data["expected_revenue"], data["closed_at"]) == (
        "open",
        10,
        "10.00",
        None,
    )
    assert data["code"] == "DEAL-0001" and data["organization"] == organization.id
    patched = owner_client.patch(f"{DEALS}{data['id']}/", {"status": "lost", "expected_revenue": "1.00"}, format="json")
    assert (patched.json()["status"], patched.json()["expected_revenue"]) == ("open", "10.00")


def test_update_links_assignee_and_lead_with_summaries(owner_client, organization):
    deal = DealFactory(organization=organization)
    employee = EmployeeFactory(organization=organization, first_name="Grace", last_name="Hopper")
    lead = LeadFactory(organization=organization)
    response = owner_client.patch(f"{DEALS}{deal.id}/", {"assigned_to": employee.id, "lead": lead.id}, format="json")
    assert response.status_code == 200
    assert (response.json()["assigned_to_name"], response.json()["lead"]) == ("Grace Hopper", lead.id)
    cleared = owner_client.patch(f"{DEALS}{deal.id}/", {"assigned_to": None}, format="json")
    assert (cleared.json()["assigned_to"], cleared.json()["assigned_to_name"]) == (None, None)


def test_delete_removes_the_deal(owner_client, organization):
    deal = DealFactory(organization=organization)
    assert owner_client.delete(f"{DEALS}{deal.id}/").status_code == 204
    assert not Deal.objects.filter(pk=deal.pk).exists()


def test_customer_with_deals_is_protected(owner_client, organization):
    deal = DealFactory(organization=organization)
    with pytest.raises(RestrictedError) as caught:
        Customer.objects.get(pk=deal.customer_id).delete()
    rendered = exception_handler(caught.value, {})
    assert (rendered.status_code, rendered.data["code"]) == (409, "protected")
    response = owner_client.delete(f"/api/customers/{deal.customer_id}/")
    assert response.status_code == 409 and response.json()["code"] == "protected"
    assert Customer.objects.filter(pk=deal.customer_id).exists()


# --- list: filters, search, ordering -----------------------------------------------------------------
def ids(response):
    """The ids of a 200 list page, in order."""
    assert response.status_code == 200, response.json()
    return [row["id"] for row in response.json()["results"]]


def test_filters_narrow_the_list(owner_client, organization):
    alice = EmployeeFactory(organization=organization)
    today = date.today()
    open_deal = DealFactory(
        organization=organization, value=Decimal("100"), assigned_to=alice, expected_close_date=today
    )
    won = DealFactory(organization=organization, stage=default_stage(organization, "Closed Won"), value=Decimal("500"))
    other_pipeline = PipelineFactory(organization=organization)
    elsewhere = DealFactory(
        organization=organization, stage=PipelineStageFactory(pipeline=other_pipeline), value=Decimal("900")
    )
    assert ids(owner_client.get(f"{DEALS}?status=won")) == [won.id]
    assert ids(owner_client.get(f"{DEALS}?assigned_to={alice.id}")) == [open_deal.id]
    assert ids(owner_client.get(f"{DEALS}?pipeline={other_pipeline.id}")) == [elsewhere.id]
    assert ids(owner_client.get(f"{DEALS}?stage={won.stage_id}")) == [won.id]
    assert ids(owner_client.get(f"{DEALS}?customer={won.customer_id}")) == [won.id]
    assert ids(owner_client.get(f"{DEALS}?value_min=100&value_max=500&ordering=value")) == [open_deal.id, won.id]
    assert ids(owner_client.get(f"{DEALS}?expected_close_after={today}&expected_close_before={today}")) == [
        open_deal.id
    ]
    assert ids(owner_client.get(f"{DEALS}?expected_close_after={today + timedelta(days=1)}")) == []
    tomorrow = (timezone.now() + timedelta(days=1)).date()
    assert len(ids(owner_client.get(f"{DEALS}?created_before={tomorrow}"))) == 3
    assert ids(owner_client.get(f"{DEALS}?created_after={tomorrow}")) == []


@pytest.mark.parametrize(
    "query",
    [
        "status=closed",
        "stage=abc",
        "pipeline=0",
        f"assigned_to={2**64}",
        "value_min=abc",
        "value_max=1e40",
        "expected_close_after=tomorrow",
        "created_after=yesterday",
    ],
)
def test_bad_filter_values_are_400(owner_client, query):
    response = owner_client.get(f"{DEALS}?{query}")
    assert response.status_code == 400 and response.json()["code"] == "invalid"


def test_search_covers_title_code_and_customer_names(owner_client, organization):
    business = CustomerFactory(organization=organization, customer_type="business", company_name="Initech")
    by_company = DealFactory(organization=organization, customer=business, title="Licences")
    by_title = DealFactory(organization=organization, title="Stapler upgrade")
    by_name = DealFactory(
        organization=organization, customer=CustomerFactory(organization=organization, last_name="Lumbergh")
    )
    assert ids(owner_client.get(f"{DEALS}?search=initech")) == [by_company.id]
    assert ids(owner_client.get(f"{DEALS}?search=stapler")) == [by_title.id]
    assert ids(owner_client.get(f"{DEALS}?search=lumbergh")) == [by_name.id]
    assert ids(owner_client.get(f"{DEALS}?search={by_title.code}")) == [by_title.id]


def test_ordering_puts_empty_values_last_and_breaks_ties_by_id(owner_client, organization):
    a = DealFactory(organization=organization, value=Decimal("5"), expected_close_date=date(2030, 1, 2))
    b = DealFactory(organization=organization, value=Decimal("5"))
    c = DealFactory(organization=organization, value=Decimal("1"), expected_close_date=date(2030, 1, 1))
    assert ids(owner_client.get(f"{DEALS}?ordering=value")) == [c.id, a.id, b.id]
    assert ids(owner_client.get(f"{DEALS}?ordering=-value")) == [b.id, a.id, c.id]
    assert ids(owner_client.get(f"{DEALS}?ordering=expected_close_date")) == [c.id, a.id, b.id]
    assert ids(owner_client.get(f"{DEALS}?ordering=-expected_close_date")) == [a.id, c.id, b.id]
    assert ids(owner_client.get(DEALS)) == [c.id, b.id, a.id]  # newest first


def test_list_query_count_is_constant(member_client, organization, django_assert_max_num_queries):
    for _ in range(4):
        DealFactory(organization=organization, assigned_to=EmployeeFactory(organization=organization))
    client = member_client(["deals:view"])
    for size in (1, 100):
        with django_assert_max_num_queries(5):
            assert client.get(f"{DEALS}?page_size={size}").status_code == 200
    deal_id = Deal.objects.values_list("id", flat=True).first()
    with django_assert_max_num_queries(4):
        assert client.get(f"{DEALS}{deal_id}/").status_code == 200


# --- isolation, RBAC, portal -------------------------------------------------------------------------
def test_foreign_deal_is_never_listed_and_404_on_every_action(owner_client, other_organization, organization):
    foreign = DealFactory(organization=other_organization)
    DealFactory(organization=organization)
    assert foreign.id not in ids(owner_client.get(DEALS))
    assert owner_client.get(DEALS).json()["count"] == 1
    url = f"{DEALS}{foreign.id}/"
    stage = default_stage(other_organization, "Proposal").id
    calls = [
        ("get", url, None),
        ("patch", url, {"title": "x"}),
        ("put", url, {"title": "x", "customer": 1}),
        ("delete", url, None),
        ("post", f"{url}move-stage/", {"stage": stage}),
        ("post", f"{url}win/", None),
        ("post", f"{url}lose/", {"lost_reason": "x"}),
    ]
    for method, path, body in calls:
        assert getattr(owner_client, method)(path, body, format="json").status_code == 404, (method, path)
    title = foreign.title
    foreign.refresh_from_db()
    assert (foreign.title, foreign.status, foreign.stage.name) == (title, "open", "Prospecting")


@pytest.mark.parametrize("bad_id", ["abc", "0", str(2**64)])
def test_non_id_in_url_is_404(owner_client, bad_id):
    assert owner_client.get(f"{DEALS}{bad_id}/").status_code == 404


@pytest.mark.parametrize(
    "method, path, body, code",
    [
        ("get", "", None, "deals:view"),
        ("get", "{id}/", None, "deals:view"),
        ("get", "board/", None, "deals:view"),
        ("post", "", {"title": "T", "customer": "{customer}"}, "deals:create"),
        ("patch", "{id}/", {"title": "New"}, "deals:update"),
        ("post", "{id}/move-stage/", {"stage": "{stage}"}, "deals:update"),
        ("post", "{id}/win/", None, "deals:update"),
        ("post", "{id}/lose/", {"lost_reason": "price"}, "deals:update"),
        ("delete", "{id}/", None, "deals:delete"),
    ],
)
def test_each_deal_action_needs_its_code(member_client, organization, method, path, body, code):
    deal = DealFactory(organization=organization)
    fill = {"{customer}": deal.customer_id, "{stage}": default_stage(organization, "Proposal").id}
    body = body and {k: fill.get(v, v) for k, v in body.items()}
    url = DEALS + path.format(id=deal.id)
    others = [
        c for c in ("deals:view", "deals:create", "deals:update", "deals:delete", "pipelines:update") if c != code
    ]
    assert getattr(member_client(others), method)(url, body, format="json").status_code == 403
    allowed = getattr(member_client([code]), method)(url, body, format="json")
    assert allowed.status_code in (200, 201, 204), allowed.content


def test_customer_portal_member_reads_only_their_own_deals(make_member, organization):
    from crmApp.tests.conftest import make_client

    user = make_member((), profile_type=ProfileType.CUSTOMER)
    mine = DealFactory(organization=organization, customer=CustomerFactory(organization=organization, user=user))
    theirs = DealFactory(organization=organization)
    client = make_client(user, organization)
    assert ids(client.get(DEALS)) == [mine.id]
    assert client.get(f"{DEALS}{mine.id}/").status_code == 200
    assert client.get(f"{DEALS}{theirs.id}/").status_code == 404
    stage = default_stage(organization, "Proposal").id
    for method, path, body in [
        ("get", "board/", None),
        ("post", "", {"title": "T", "customer": mine.customer_id}),
        ("patch", f"{mine.id}/", {"title": "x"}),
        ("delete", f"{mine.id}/", None),
        ("post", f"{mine.id}/move-stage/", {"stage": stage}),
        ("post", f"{mine.id}/win/", None),
        ("post", f"{mine.id}/lose/", None),
    ]:
        assert getattr(client, method)(DEALS + path, body, format="json").status_code == 403, (method, path)
    title = mine.title
    mine.refresh_from_db()
    assert (mine.status, mine.title, mine.stage.name) == ("open", title, "Prospecting")


def test_employee_member_without_codes_gets_no_portal_access(member_client, organization):
    DealFactory(organization=organization)
    assert member_client(()).get(DEALS).status_code == 403
