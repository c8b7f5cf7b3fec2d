"""The kanban board: one column per stage in order, exact figures, filters honoured, tenants apart."""

from decimal import Decimal

import pytest

from crmApp.constants import DEFAULT_PIPELINE_STAGES, ProfileType
from crmApp.models import Pipeline
from crmApp.tests.factories import DealFactory, EmployeeFactory, PipelineFactory, PipelineStageFactory, default_stage

pytestmark = pytest.mark.django_db

BOARD = "/api/deals/board/"


def columns(response):
    """The board as (stage name, count, value, expected revenue) rows."""
    assert response.status_code == 200, response.json()
    return [(c["stage"]["name"], c["count"], c["value"], c["expected_revenue"]) for c in response.json()]


@pytest.fixture
def deals(organization, other_organization):
    """Three Proposal deals, one won, one lost in Acme; Globex has deals of its own in the same stages."""
    for value in ("0.05", "100.00", "1000.10"):
        DealFactory(organization=organization, stage=default_stage(organization, "Proposal"), value=Decimal(value))
    DealFactory(organization=organization, stage=default_stage(organization, "Closed Won"), value=Decimal("250.00"))
    DealFactory(organization=organization, stage=default_stage(organization, "Closed Lost"), value=Decimal("40.00"))
    for name in ("Proposal", "Prospecting", "Closed Won"):
        DealFactory(
            organization=other_organization, stage=default_stage(other_organization, name), value=Decimal("9999")
        )


def test_board_of_the_default_pipeline_has_exact_figures_and_empty_stages(owner_client, deals):
    assert columns(owner_client.get(BOARD)) == [
        ("Prospecting", 0, "0.00", "0.00"),
        ("Qualification", 0, "0.00", "0.00"),
        # 0.05 + 100.00 + 1000.10; expected 0.03 + 50.00 + 500.05 (each deal rounded half up)
        ("Proposal", 3, "1100.15", "550.08"),
        ("Negotiation", 0, "0.00", "0.00"),
        ("Closed Won", 1, "250.00", "250.00"),
        ("Closed Lost", 1, "40.00", "0.00"),
    ]


def test_board_column_shape(owner_client, organization, deals):
    first = owner_client.get(BOARD).json()[0]
    stage = default_stage(organization, "Prospecting")
    assert first == {
        "stage": {"id": stage.id, "name": "Prospecting", "probability": 10},
        "count": 0,
        "value": "0.00",
        "expected_revenue": "0.00",
    }


def test_board_of_a_named_pipeline_follows_stage_order(owner_client, organization, deals):
    pipeline = PipelineFactory(organization=organization)
    late = PipelineStageFactory(pipeline=pipeline, name="Late", order=5, probability=90)
    PipelineStageFactory(pipeline=pipeline, name="Early", order=1, probability=20)
    DealFactory(organization=organization, stage=late, value=Decimal("10.00"))
    assert columns(owner_client.get(f"{BOARD}?pipeline={pipeline.id}")) == [
        ("Early", 0, "0.00", "0.00"),
        ("Late", 1, "10.00", "9.00"),
    ]


def test_board_of_a_pipeline_without_stages_is_an_empty_array(owner_client, organization):
    pipeline = PipelineFactory(organization=organization)
    assert owner_client.get(f"{BOARD}?pipeline={pipeline.id}").json() == []


def test_board_honours_the_deal_filters(owner_client, organization, deals):
    rep = EmployeeFactory(organization=organization)
    DealFactory(
        organization=organization,
        stage=default_stage(organization, "Negotiation"),
        value=Decimal("80"),
        assigned_to=rep,
    )
    board = columns(owner_client.get(f"{BOARD}?assigned_to={rep.id}"))
    assert [column for column in board if column[1]] == [("Negotiation", 1, "80.00", "60.00")]
    assert len(board) == len(DEFAULT_PIPELINE_STAGES)
    assert [c[1] for c in columns(owner_client.get(f"{BOARD}?status=won"))] == [0, 0, 0, 0, 1, 0]
    assert [c[1] for c in columns(owner_client.get(f"{BOARD}?value_min=80"))] == [0, 0, 2, 1, 1, 0]


def test_board_is_not_paginated(owner_client, deals):
    response = owner_client.get(BOARD)
    assert isinstance(response.json(), list) and len(response.json()) == len(DEFAULT_PIPELINE_STAGES)
    assert list(owner_client.get(f"{BOARD}?page_size=1").json()["errors"]) == ["page_size"]


@pytest.mark.parametrize("value", ["foreign", "999999", "abc", "0", str(2**70)])
def test_board_of_a_foreign_missing_or_malformed_pipeline_is_400(owner_client, other_organization, value):
    if value == "foreign":
        value = Pipeline.objects.get(organization=other_organization).id
    response = owner_client.get(f"{BOARD}?pipeline={value}")
    assert response.status_code == 400
    assert "pipeline" in response.json()["errors"]


def test_other_organization_sees_only_its_own_figures(other_client, deals):
    board = columns(other_client.get(BOARD))
    assert [column for column in board if column[1]] == [
        ("Prospecting", 1, "9999.00", "999.90"),
        ("Proposal", 1, "9999.00", "4999.50"),
        ("Closed Won", 1, "9999.00", "9999.00"),
    ]


def test_board_needs_deals_view(member_client, deals):
    assert member_client(["deals:create", "deals:update", "pipelines:view"]).get(BOARD).status_code == 403
    assert member_client(["deals:view"]).get(BOARD).status_code == 200


def test_customer_portal_member_cannot_see_the_board(member_client, deals):
    assert member_client((), profile_type=ProfileType.CUSTOMER).get(BOARD).status_code == 403


def test_board_query_count_is_constant(member_client, organization, deals, django_assert_max_num_queries):
    client = member_client(["deals:view"])
    # user, membership, codes, pipeline, stages, one grouped aggregate
    with django_assert_max_num_queries(6):
        assert client.get(BOARD).status_code == 200
    for _ in range(5):
        DealFactory(organization=organization, stage=default_stage(organization, "Negotiation"))
    pipeline_id = default_stage(organization).pipeline_id
    with django_assert_max_num_queries(6):
        assert client.get(f"{BOARD}?pipeline={pipeline_id}").status_code == 200
