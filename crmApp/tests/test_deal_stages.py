"""Deal stage moves: move-stage, win, lose and PATCH `stage` close, reopen and re-price deals."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils.dateparse import parse_datetime

from crmApp.models import Deal, Pipeline
from crmApp.models.deal import expected_revenue
from crmApp.services.deal_service import DealService
from crmApp.services.pipeline_service import PipelineService
from crmApp.tenancy import Tenant
from crmApp.tests.conftest import run_together
from crmApp.tests.factories import DealFactory, LeadFactory, PipelineFactory, PipelineStageFactory, default_stage

pytestmark = pytest.mark.django_db

DEALS = "/api/deals/"


@pytest.fixture
def deal(organization):
    """An open 1000.00 deal in Prospecting."""
    return DealFactory(organization=organization, value=Decimal("1000.00"))


def move(client, deal, stage_name, organization):
    """POST move-stage to the default pipeline's stage of that name."""
    return client.post(
        f"{DEALS}{deal.id}/move-stage/", {"stage": default_stage(organization, stage_name).id}, format="json"
    )


# (stage entered, status, closed?, probability, expected revenue) for a 1000.00 deal, in sequence.
MOVES = [
    ("Qualification", "open", False, 25, "250.00"),
    ("Closed Won", "won", True, 100, "1000.00"),
    ("Negotiation", "open", False, 75, "750.00"),
    ("Closed Lost", "lost", True, 0, "0.00"),
    ("Proposal", "open", False, 50, "500.00"),
    ("Closed Lost", "lost", True, 0, "0.00"),
    ("Closed Won", "won", True, 100, "1000.00"),
    ("Prospecting", "open", False, 10, "100.00"),
]


def test_stage_moves_close_and_reopen_the_deal(owner_client, organization, deal):
    for stage_name, status, closed, probability, expected in MOVES:
        response = move(owner_client, deal, stage_name, organization)
        assert response.status_code == 200, response.json()
        data = response.json()
        assert (data["stage_name"], data["status"], data["probability"], data["expected_revenue"]) == (
            stage_name,
            status,
            probability,
            expected,
        ), stage_name
        assert (data["closed_at"] is not None) is closed, stage_name
        stored = Deal.objects.get(pk=deal.pk)
        assert (stored.status, stored.expected_revenue, stored.closed_at is not None) == (
            status,
            Decimal(expected),
            closed,
        )


def test_moving_within_closed_stages_of_the_same_kind_keeps_closed_at(owner_client, organization, deal):
    won = owner_client.post(f"{DEALS}{deal.id}/win/").json()
    again = owner_client.post(f"{DEALS}{deal.id}/win/")
    assert again.status_code == 200
    assert again.json()["closed_at"] == won["closed_at"]
    lost = owner_client.post(f"{DEALS}{deal.id}/lose/", {"lost_reason": "budget"}, format="json").json()
    assert parse_datetime(lost["closed_at"]) >= parse_datetime(won["closed_at"])


def test_win_moves_to_the_won_stage(owner_client, organization, deal):
    response = owner_client.post(f"{DEALS}{deal.id}/win/")
    assert response.status_code == 200
    data = response.json()
    assert (data["stage"], data["status"], data["expected_revenue"]) == (
        default_stage(organization, "Closed Won").id,
        "won",
        "1000.00",
    )
    assert data["closed_at"] is not None


def test_lose_moves_to_the_lost_stage_and_stores_the_reason(owner_client, organization, deal):
    response = owner_client.post(f"{DEALS}{deal.id}/lose/", {"lost_reason": "Went with a competitor"}, format="json")
    assert response.status_code == 200
    data = response.json()
    assert (data["stage"], data["status"], data["lost_reason"]) == (
        default_stage(organization, "Closed Lost").id,
        "lost",
        "Went with a competitor",
    )
    assert Deal.objects.get(pk=deal.pk).lost_reason == "Went with a competitor"


def test_lose_without_a_reason_is_allowed(owner_client, deal):
    response = owner_client.post(f"{DEALS}{deal.id}/lose/", {}, format="json")
    assert (response.status_code, response.json()["status"], response.json()["lost_reason"]) == (200, "lost", "")


@pytest.mark.parametrize(
    ("body", "kept"), [({}, "price"), ({"lost_reason": ""}, ""), ({"lost_reason": "timing"}, "timing")]
)
def test_losing_a_lost_deal_again_keeps_its_reason_unless_one_is_sent(owner_client, deal, body, kept):
    # A retried or doubled click must not wipe the reason the first one stored.
    owner_client.post(f"{DEALS}{deal.id}/lose/", {"lost_reason": "price"}, format="json")
    response = owner_client.post(f"{DEALS}{deal.id}/lose/", body, format="json")
    assert (response.status_code, response.json()["lost_reason"]) == (200, kept)
    assert Deal.objects.get(pk=deal.pk).lost_reason == kept


@pytest.mark.parametrize("reason", ["x" * 10_001, 42, ["a"], None])
def test_lose_with_an_invalid_reason_is_400_and_changes_nothing(owner_client, deal, reason):
    response = owner_client.post(f"{DEALS}{deal.id}/lose/", {"lost_reason": reason}, format="json")
    assert response.status_code == 400 and "lost_reason" in response.json()["errors"]
    assert Deal.objects.get(pk=deal.pk).status == "open"


def test_reopening_a_lost_deal_clears_its_reason(owner_client, organization, deal):
    owner_client.post(f"{DEALS}{deal.id}/lose/", {"lost_reason": "price"}, format="json")
    response = move(owner_client, deal, "Proposal", organization)
    assert (response.json()["status"], response.json()["lost_reason"], response.json()["closed_at"]) == (
        "open",
        "",
        None,
    )


def test_lost_reason_on_an_open_deal_is_not_stored(owner_client, deal):
    response = owner_client.patch(f"{DEALS}{deal.id}/", {"lost_reason": "not yet"}, format="json")
    assert response.status_code == 200 and response.json()["lost_reason"] == ""


def test_lost_reason_of_a_lost_deal_can_be_edited(owner_client, deal):
    owner_client.post(f"{DEALS}{deal.id}/lose/", {"lost_reason": "price"}, format="json")
    response = owner_client.patch(f"{DEALS}{deal.id}/", {"lost_reason": "timing"}, format="json")
    assert (response.json()["status"], response.json()["lost_reason"]) == ("lost", "timing")


def test_moving_to_a_stage_of_another_pipeline_is_400_on_stage(owner_client, organization, deal):
    foreign_stage = PipelineStageFactory(pipeline=PipelineFactory(organization=organization))
    response = owner_client.post(f"{DEALS}{deal.id}/move-stage/", {"stage": foreign_stage.id}, format="json")
    assert response.status_code == 400 and "stage" in response.json()["errors"]
    assert Deal.objects.get(pk=deal.pk).stage.name == "Prospecting"


@pytest.mark.parametrize("stage", ["foreign", 999999, "abc", None, 2**70, True])
def test_move_to_a_foreign_missing_or_malformed_stage_is_400(owner_client, other_organization, deal, stage):
    if stage == "foreign":
        stage = default_stage(other_organization, "Closed Won").id
    response = owner_client.post(f"{DEALS}{deal.id}/move-stage/", {"stage": stage}, format="json")
    assert response.status_code == 400 and "stage" in response.json()["errors"]
    assert Deal.objects.get(pk=deal.pk).status == "open"


def test_move_stage_without_a_body_is_400(owner_client, deal):
    response = owner_client.post(f"{DEALS}{deal.id}/move-stage/", {}, format="json")
    assert response.status_code == 400 and "stage" in response.json()["errors"]


def test_patch_stage_follows_the_move_rules(owner_client, organization, deal):
    won = owner_client.patch(
        f"{DEALS}{deal.id}/", {"stage": default_stage(organization, "Closed Won").id}, format="json"
    )
    assert (won.status_code, won.json()["status"], won.json()["expected_revenue"]) == (200, "won", "1000.00")
    assert won.json()["closed_at"] is not None
    other = PipelineStageFactory(pipeline=PipelineFactory(organization=organization))
    refused = owner_client.patch(f"{DEALS}{deal.id}/", {"stage": other.id}, format="json")
    assert refused.status_code == 400 and "stage" in refused.json()["errors"]
    assert Deal.objects.get(pk=deal.pk).status == "won"


def test_patch_pipeline_moves_the_deal_to_its_first_open_stage(owner_client, organization, deal):
    pipeline = PipelineFactory(organization=organization)
    PipelineStageFactory(pipeline=pipeline, name="Done", order=1, is_won=True, probability=100)
    start = PipelineStageFactory(pipeline=pipeline, name="Start", order=2, probability=30)
    response = owner_client.patch(f"{DEALS}{deal.id}/", {"pipeline": pipeline.id}, format="json")
    assert response.status_code == 200
    assert (response.json()["pipeline"], response.json()["stage"], response.json()["expected_revenue"]) == (
        pipeline.id,
        start.id,
        "300.00",
    )


def test_patch_pipeline_with_a_stage_of_the_old_pipeline_is_400(owner_client, organization, deal):
    pipeline = PipelineFactory(organization=organization)
    PipelineStageFactory(pipeline=pipeline)
    body = {"pipeline": pipeline.id, "stage": default_stage(organization, "Proposal").id}
    response = owner_client.patch(f"{DEALS}{deal.id}/", body, format="json")
    assert response.status_code == 400 and "stage" in response.json()["errors"]


@pytest.mark.parametrize("action, code", [("win", "no_won_stage"), ("lose", "no_lost_stage")])
def test_win_or_lose_in_a_pipeline_without_that_stage_is_400(owner_client, organization, action, code):
    stage = PipelineStageFactory(pipeline=PipelineFactory(organization=organization))
    deal = DealFactory(organization=organization, stage=stage)
    response = owner_client.post(f"{DEALS}{deal.id}/{action}/", {}, format="json")
    assert response.status_code == 400 and response.json()["code"] == code


def test_move_into_a_stage_uses_its_current_probability(owner_client, organization, deal):
    stage = default_stage(organization, "Proposal")
    owner_client.patch(f"/api/pipeline-stages/{stage.id}/", {"probability": 45}, format="json")
    response = move(owner_client, deal, "Proposal", organization)
    assert (response.json()["probability"], response.json()["expected_revenue"]) == (45, "450.00")


def test_service_create_as_used_by_lead_conversion(organization, owner):
    lead = LeadFactory(organization=organization)
    customer = DealFactory(organization=organization).customer
    deal = DealService(Tenant.system(organization, user=owner)).create(
        title="From lead", customer=customer, value=Decimal("200"), pipeline=None, lead=lead, assigned_to=None
    )
    assert (deal.stage.name, deal.status, deal.expected_revenue, deal.lead, deal.created_by) == (
        "Prospecting",
        "open",
        Decimal("20.00"),
        lead,
        owner,
    )
    assert deal.code == "DEAL-0002"


def test_service_refuses_a_stage_of_another_organization(organization, other_organization):
    customer = DealFactory(organization=organization).customer
    with pytest.raises(ValidationError):
        DealService(Tenant.system(organization)).create(
            title="T", customer=customer, stage=default_stage(other_organization)
        )


# --- concurrency (PostgreSQL only: SQLite serialises every writer) -----------------------------------
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_default_switches_leave_exactly_one_default(owner_client, organization):
    home = Pipeline.objects.get(organization=organization, is_default=True)
    first, second = (PipelineFactory(organization=organization, name=name) for name in ("A", "B"))
    for _ in range(5):
        PipelineService(Tenant.system(organization)).update(home, is_default=True)
        responses = run_together(
            lambda: owner_client.patch(f"/api/pipelines/{first.id}/", {"is_default": True}, format="json"),
            lambda: owner_client.patch(f"/api/pipelines/{second.id}/", {"is_default": True}, format="json"),
        )
        assert [r.status_code for r in responses] == [200, 200]
        assert Pipeline.objects.filter(organization=organization, is_default=True).count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_probability_change_racing_a_move_leaves_no_stale_expected_revenue(owner_client, organization):
    stage = default_stage(organization, "Proposal")
    for round_ in range(5):
        deal = DealFactory(organization=organization, value=Decimal("333.33"))
        probability = 40 + round_
        run_together(
            lambda p=probability: owner_client.patch(
                f"/api/pipeline-stages/{stage.id}/", {"probability": p}, format="json"
            ),
            lambda d=deal: owner_client.post(f"{DEALS}{d.id}/move-stage/", {"stage": stage.id}, format="json"),
        )
        deal.refresh_from_db()
        assert (deal.probability, deal.expected_revenue) == (probability, expected_revenue(deal.value, probability))
