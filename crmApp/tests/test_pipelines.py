"""Pipelines and pipeline stages: shape, default switching, nested create, protected deletes, stage rules."""

from decimal import Decimal

import pytest

from crmApp.constants import DEFAULT_PIPELINE_STAGES, ProfileType
from crmApp.models import Deal, HistoryEntry, Pipeline, PipelineStage
from crmApp.services.pipeline_service import RECOMPUTE_BATCH
from crmApp.tests.conftest import error_fields
from crmApp.tests.factories import DealFactory, PipelineFactory, PipelineStageFactory, default_stage

pytestmark = pytest.mark.django_db

PIPELINES = "/api/pipelines/"
STAGES = "/api/pipeline-stages/"


def default_pipeline(org) -> Pipeline:
    """The organization's default pipeline."""
    return Pipeline.objects.get(organization=org, is_default=True)


def make_pipeline(org, name="Renewals", stages=(("Open", 20, False, False), ("Won", 100, True, False))):
    """A non-default pipeline with the given (name, probability, is_won, is_lost) stages."""
    pipeline = PipelineFactory(organization=org, name=name)
    for order, (stage_name, probability, is_won, is_lost) in enumerate(stages, start=1):
        PipelineStageFactory(
            pipeline=pipeline, name=stage_name, order=order, probability=probability, is_won=is_won, is_lost=is_lost
        )
    return pipeline


# --- pipelines ---------------------------------------------------------------------------------------
def test_list_shows_the_default_pipeline_with_its_stages_in_order(owner_client, organization):
    response = owner_client.get(PIPELINES)
    assert response.status_code == 200
    assert response.json()["count"] == 1
    pipeline = response.json()["results"][0]
    assert pipeline["name"] == "Sales Pipeline" and pipeline["is_default"] is True
    assert [(s["name"], s["order"], s["probability"], s["is_won"], s["is_lost"]) for s in pipeline["stages"]] == [
        (name, order, probability, won, lost)
        for order, (name, probability, won, lost) in enumerate(DEFAULT_PIPELINE_STAGES, start=1)
    ]
    assert set(pipeline["stages"][0]) == {"id", "name", "order", "probability", "is_won", "is_lost"}


def test_create_with_nested_stages_builds_them_in_one_go(owner_client, organization):
    body = {
        "name": "Renewals",
        "stages": [
            {"name": "Contacted", "probability": 30},
            {"name": "Renewed", "probability": 100, "is_won": True},
            {"name": "Churned", "probability": 0, "is_lost": True, "order": 9},
        ],
    }
    response = owner_client.post(PIPELINES, body, format="json")
    assert response.status_code == 201, response.json()
    data = response.json()
    assert data["is_default"] is False
    assert [(s["name"], s["order"], s["probability"], s["is_won"], s["is_lost"]) for s in data["stages"]] == [
        ("Contacted", 1, 30, False, False),
        ("Renewed", 2, 100, True, False),
        ("Churned", 9, 0, False, True),
    ]
    assert PipelineStage.objects.filter(pipeline_id=data["id"], organization=organization).count() == 3


def test_create_without_stages_gives_an_empty_pipeline(owner_client):
    response = owner_client.post(PIPELINES, {"name": "Empty"}, format="json")
    assert response.status_code == 201
    assert response.json()["stages"] == []


@pytest.mark.parametrize(
    "body, field",
    [
        ({"name": ""}, "name"),
        ({"name": 7}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"name": "Sales Pipeline"}, "name"),  # taken in this organization
        ({"name": "P", "stages": [{"name": "A", "probability": 101}]}, "stages"),
        ({"name": "P", "stages": [{"name": "A", "probability": -1}]}, "stages"),
        ({"name": "P", "stages": [{"name": "A", "is_won": True, "is_lost": True}]}, "stages"),
        ({"name": "P", "stages": [{"name": "A"}, {"name": "A"}]}, "stages"),
        ({"name": "P", "stages": [{"name": f"S{i}"} for i in range(51)]}, "stages"),
        ({"name": "P", "stages": "nope"}, "stages"),
        ({"name": "P", "is_default": "maybe"}, "is_default"),
    ],
)
def test_invalid_pipeline_body_is_400_on_the_field(owner_client, organization, body, field):
    response = owner_client.post(PIPELINES, body, format="json")
    assert response.status_code == 400
    assert field in error_fields(response)
    assert Pipeline.objects.filter(organization=organization).count() == 1


def test_pipeline_name_is_unique_per_organization_only(owner_client, other_organization):
    make_pipeline(other_organization, name="Renewals")
    assert owner_client.post(PIPELINES, {"name": "Renewals"}, format="json").status_code == 201


def test_creating_a_default_pipeline_unsets_the_previous_default(owner_client, organization):
    old = default_pipeline(organization)
    response = owner_client.post(PIPELINES, {"name": "New", "is_default": True}, format="json")
    assert response.status_code == 201 and response.json()["is_default"] is True
    old.refresh_from_db()
    assert old.is_default is False
    assert list(Pipeline.objects.filter(organization=organization, is_default=True).values_list("name", flat=True)) == [
        "New"
    ]


def test_patch_is_default_switches_the_default_and_leaves_other_organizations_alone(
    owner_client, organization, other_organization
):
    other = make_pipeline(organization)
    response = owner_client.patch(f"{PIPELINES}{other.id}/", {"is_default": True}, format="json")
    assert response.status_code == 200 and response.json()["is_default"] is True
    assert Pipeline.objects.get(organization=organization, is_default=True) == other
    assert default_pipeline(other_organization).name == "Sales Pipeline"


def test_first_pipeline_of_an_organization_without_default_becomes_the_default(owner_client, organization):
    Pipeline.objects.filter(organization=organization).update(is_default=False)
    response = owner_client.post(PIPELINES, {"name": "Fresh"}, format="json")
    assert response.status_code == 201 and response.json()["is_default"] is True


def test_unsetting_the_only_default_is_400(owner_client, organization):
    pipeline = default_pipeline(organization)
    response = owner_client.patch(f"{PIPELINES}{pipeline.id}/", {"is_default": False}, format="json")
    assert response.status_code == 400
    assert "is_default" in response.json()["errors"]
    pipeline.refresh_from_db()
    assert pipeline.is_default is True


def test_put_echoing_stages_renames_and_leaves_stages_untouched(owner_client, organization):
    pipeline = default_pipeline(organization)
    body = owner_client.get(f"{PIPELINES}{pipeline.id}/").json()
    body["name"] = "Main"
    body["stages"] = [{"name": "Only one"}]
    response = owner_client.put(f"{PIPELINES}{pipeline.id}/", body, format="json")
    assert response.status_code == 200
    assert response.json()["name"] == "Main"
    assert len(response.json()["stages"]) == len(DEFAULT_PIPELINE_STAGES)


def test_deleting_an_empty_pipeline_deletes_its_stages(owner_client, organization):
    pipeline = make_pipeline(organization)
    assert owner_client.delete(f"{PIPELINES}{pipeline.id}/").status_code == 204
    assert not PipelineStage.objects.filter(pipeline_id=pipeline.id).exists()


def test_deleting_a_pipeline_holding_deals_is_409_protected(owner_client, organization):
    pipeline = make_pipeline(organization)
    DealFactory(organization=organization, stage=pipeline.stages.first())
    response = owner_client.delete(f"{PIPELINES}{pipeline.id}/")
    assert response.status_code == 409
    assert response.json()["code"] == "protected" and response.json()["detail"]
    assert Pipeline.objects.filter(pk=pipeline.pk).exists() and pipeline.stages.count() == 2


@pytest.mark.parametrize(("with_deals", "status", "code"), [(False, 400, "default_pipeline"), (True, 409, "protected")])
def test_deleting_the_default_pipeline_is_400_or_409_while_deals_point_at_it(
    owner_client, organization, with_deals, status, code
):
    # Refused for more than one reason, one of them the records pointing at it: the 409.
    pipeline = default_pipeline(organization)
    if with_deals:
        DealFactory(organization=organization, stage=pipeline.stages.first())
    response = owner_client.delete(f"{PIPELINES}{pipeline.id}/")
    assert (response.status_code, response.json()["code"]) == (status, code)
    assert Pipeline.objects.filter(pk=pipeline.pk).exists()


def test_foreign_pipeline_is_never_listed_and_its_url_is_404(owner_client, other_organization):
    foreign = default_pipeline(other_organization)
    assert foreign.id not in [p["id"] for p in owner_client.get(PIPELINES).json()["results"]]
    url = f"{PIPELINES}{foreign.id}/"
    assert owner_client.get(url).status_code == 404
    assert owner_client.patch(url, {"name": "Hijacked"}, format="json").status_code == 404
    assert owner_client.delete(url).status_code == 404
    foreign.refresh_from_db()
    assert foreign.name == "Sales Pipeline"


@pytest.mark.parametrize(
    "method, path, body, code",
    [
        ("get", "", None, "pipelines:view"),
        ("get", "{id}/", None, "pipelines:view"),
        ("post", "", {"name": "New"}, "pipelines:create"),
        ("patch", "{id}/", {"name": "Renamed"}, "pipelines:update"),
        ("delete", "{id}/", None, "pipelines:delete"),
    ],
)
@pytest.mark.parametrize("resource", [PIPELINES, STAGES])
def test_each_pipeline_action_needs_its_code(member_client, organization, method, path, body, code, resource):
    pipeline = make_pipeline(organization)
    target = pipeline.id if resource == PIPELINES else pipeline.stages.first().id
    if resource == STAGES and method == "post":
        body = {"pipeline": pipeline.id, "name": "New"}
    url = resource + path.format(id=target)
    others = [
        c
        for c in ("pipelines:view", "pipelines:create", "pipelines:update", "pipelines:delete", "deals:update")
        if c != code
    ]
    denied = getattr(member_client(others), method)(url, body, format="json")
    assert denied.status_code == 403
    allowed = getattr(member_client([code]), method)(url, body, format="json")
    assert allowed.status_code in (200, 201, 204), allowed.content


def test_customer_portal_member_cannot_read_pipelines(member_client):
    client = member_client((), profile_type=ProfileType.CUSTOMER)
    assert client.get(PIPELINES).status_code == 403
    assert client.get(STAGES).status_code == 403


def test_pipeline_and_stage_list_query_counts_are_constant(member_client, organization, django_assert_max_num_queries):
    for n in range(3):
        make_pipeline(organization, name=f"P{n}")
    client = member_client(["pipelines:view"])
    for size in (1, 100):
        with django_assert_max_num_queries(6):  # user, membership, codes, count, pipelines, stages
            assert client.get(f"{PIPELINES}?page_size={size}").status_code == 200
        with django_assert_max_num_queries(5):
            assert client.get(f"{STAGES}?page_size={size}").status_code == 200


# --- stages ------------------------------------------------------------------------------------------
def test_stage_create_goes_last_and_lists_with_pipeline_filter(owner_client, organization, other_organization):
    pipeline = make_pipeline(organization)
    response = owner_client.post(STAGES, {"pipeline": pipeline.id, "name": "Review", "probability": 60}, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["order"] == 3 and response.json()["probability"] == 60
    listed = owner_client.get(f"{STAGES}?pipeline={pipeline.id}").json()
    assert [s["name"] for s in listed["results"]] == ["Open", "Won", "Review"]
    assert owner_client.get(f"{STAGES}?pipeline={default_pipeline(other_organization).id}").json()["count"] == 0


@pytest.mark.parametrize("value", ["abc", "0", str(2**63), "-3"])
def test_stage_pipeline_filter_with_a_non_id_is_400(owner_client, value):
    assert owner_client.get(f"{STAGES}?pipeline={value}").status_code == 400


@pytest.mark.parametrize(
    "body, field",
    [
        ({"name": "X", "probability": 101}, "probability"),
        ({"name": "X", "probability": -1}, "probability"),
        ({"name": "X", "probability": "high"}, "probability"),
        ({"name": "X", "is_won": True, "is_lost": True}, "non_field_errors"),
        ({"name": "Open"}, "name"),  # already in this pipeline
        ({"name": "x" * 101}, "name"),
        ({"name": "X", "order": 40000}, "order"),
    ],
)
def test_invalid_stage_is_400(owner_client, organization, body, field):
    pipeline = make_pipeline(organization)
    response = owner_client.post(STAGES, {"pipeline": pipeline.id, **body}, format="json")
    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert pipeline.stages.count() == 2


def test_stage_name_may_repeat_across_pipelines(owner_client, organization):
    pipeline = make_pipeline(organization)
    assert owner_client.post(STAGES, {"pipeline": pipeline.id, "name": "Prospecting"}, format="json").status_code == 201


@pytest.mark.parametrize("pipeline_id", ["foreign", 999999, "abc", 2**70])
def test_stage_in_a_foreign_or_missing_pipeline_is_400(owner_client, other_organization, pipeline_id):
    if pipeline_id == "foreign":
        pipeline_id = default_pipeline(other_organization).id
    response = owner_client.post(STAGES, {"pipeline": pipeline_id, "name": "X"}, format="json")
    assert response.status_code == 400
    assert "pipeline" in response.json()["errors"]


def test_patch_making_a_stage_won_and_lost_is_400(owner_client, organization):
    stage = default_stage(organization, "Closed Won")
    response = owner_client.patch(f"{STAGES}{stage.id}/", {"is_lost": True}, format="json")
    assert response.status_code == 400
    stage.refresh_from_db()
    assert (stage.is_won, stage.is_lost) == (True, False)


def test_a_stage_cannot_move_to_another_pipeline(owner_client, organization):
    stage = default_stage(organization)
    other = make_pipeline(organization)
    response = owner_client.patch(f"{STAGES}{stage.id}/", {"pipeline": other.id}, format="json")
    assert response.status_code == 400 and "pipeline" in response.json()["errors"]
    same = owner_client.patch(f"{STAGES}{stage.id}/", {"pipeline": stage.pipeline_id, "name": "Intro"}, format="json")
    assert same.status_code == 200 and same.json()["name"] == "Intro"


@pytest.mark.parametrize(
    "value, probability, expected",
    [
        ("0.05", 50, "0.03"),  # 0.025 rounds half up
        ("0.01", 50, "0.01"),  # 0.005 rounds half up
        ("1000.00", 35, "350.00"),
        ("999.99", 33, "330.00"),  # 329.9967
        ("12345.67", 0, "0.00"),
        ("999999999999.99", 99, "989999999999.99"),
    ],
)
def test_changing_probability_recomputes_every_deal_in_the_stage(
    owner_client, organization, value, probability, expected
):
    stage = default_stage(organization, "Proposal")
    deal = DealFactory(organization=organization, stage=stage, value=Decimal(value))
    bystander = DealFactory(
        organization=organization, stage=default_stage(organization, "Negotiation"), value=Decimal("100")
    )
    response = owner_client.patch(f"{STAGES}{stage.id}/", {"probability": probability}, format="json")
    assert response.status_code == 200
    deal.refresh_from_db()
    assert (deal.probability, deal.expected_revenue) == (probability, Decimal(expected))
    assert owner_client.get(f"/api/deals/{deal.id}/").json()["expected_revenue"] == expected
    bystander.refresh_from_db()
    assert (bystander.probability, bystander.expected_revenue) == (75, Decimal("75.00"))


def test_probability_change_reaches_every_deal_past_one_batch(owner_client, organization, monkeypatch):
    monkeypatch.setattr("crmApp.services.pipeline_service.RECOMPUTE_BATCH", 2)
    stage = default_stage(organization)
    for value in ("10.00", "20.00", "30.00", "40.00", "50.00"):
        DealFactory(organization=organization, stage=stage, value=Decimal(value))
    assert owner_client.patch(f"{STAGES}{stage.id}/", {"probability": 50}, format="json").status_code == 200
    assert sorted(Deal.objects.filter(stage=stage).values_list("expected_revenue", flat=True)) == [
        Decimal("5.00"),
        Decimal("10.00"),
        Decimal("15.00"),
        Decimal("20.00"),
        Decimal("25.00"),
    ]


@pytest.mark.parametrize("batch", [RECOMPUTE_BATCH, 2])
def test_a_probability_change_reprices_trashed_deals_too_so_they_come_back_right(
    owner_client, organization, monkeypatch, batch
):
    monkeypatch.setattr("crmApp.services.pipeline_service.RECOMPUTE_BATCH", batch)
    stage = default_stage(organization, "Proposal")
    values = ("999.99", "0.05", "999.99", "10.00", "20.00")
    deals = [DealFactory(organization=organization, stage=stage, value=Decimal(value)) for value in values]
    for deal in deals[:3]:
        assert owner_client.delete(f"/api/deals/{deal.id}/").status_code == 204
    assert owner_client.patch(f"{STAGES}{stage.id}/", {"probability": 33}, format="json").status_code == 200
    for deal in deals[:3]:
        assert owner_client.post(f"/api/trash/deals/{deal.id}/restore/").status_code == 200
    shown = [owner_client.get(f"/api/deals/{deal.id}/").json() for deal in deals]
    assert [(deal["probability"], deal["expected_revenue"]) for deal in shown] == [
        (33, "330.00"),  # 329.9967
        (33, "0.02"),  # 0.0165
        (33, "330.00"),
        (33, "3.30"),
        (33, "6.60"),
    ]
    # Re-priced in the trash through the logged path: the history says what changed and when.
    repriced = HistoryEntry.objects.filter(record_type="deal", record_id=deals[1].id, kind="change")
    assert [entry.changes for entry in repriced] == [
        [{"field": "probability", "old": 50, "new": 33}, {"field": "expected_revenue", "old": "0.03", "new": "0.02"}]
    ]


@pytest.mark.parametrize("trashed", [False, True])
@pytest.mark.parametrize("change", [{"is_won": True}, {"is_lost": True}])
def test_won_or_lost_flag_cannot_change_while_the_stage_holds_deals(owner_client, organization, change, trashed):
    stage = default_stage(organization, "Proposal")
    deal = DealFactory(organization=organization, stage=stage)
    if trashed:  # it would come back open in a closing stage
        assert owner_client.delete(f"/api/deals/{deal.id}/").status_code == 204
    response = owner_client.patch(f"{STAGES}{stage.id}/", change, format="json")
    assert response.status_code == 400 and response.json()["code"] == "stage_has_deals"
    empty = default_stage(organization, "Negotiation")
    assert owner_client.patch(f"{STAGES}{empty.id}/", change, format="json").status_code == 200


def test_deleting_a_stage_holding_deals_is_409_and_an_empty_one_204(owner_client, organization):
    busy = default_stage(organization, "Proposal")
    DealFactory(organization=organization, stage=busy)
    response = owner_client.delete(f"{STAGES}{busy.id}/")
    assert response.status_code == 409 and response.json()["code"] == "protected"
    assert PipelineStage.objects.filter(pk=busy.pk).exists()
    empty = default_stage(organization, "Negotiation")
    assert owner_client.delete(f"{STAGES}{empty.id}/").status_code == 204


def test_foreign_stage_url_is_404_on_every_action(owner_client, other_organization):
    url = f"{STAGES}{default_stage(other_organization).id}/"
    assert owner_client.get(url).status_code == 404
    assert owner_client.patch(url, {"probability": 99}, format="json").status_code == 404
    assert owner_client.delete(url).status_code == 404
    assert default_stage(other_organization).probability == 10
