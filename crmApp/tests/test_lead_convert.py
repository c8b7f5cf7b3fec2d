"""POST /api/leads/{id}/convert/: customer (and deal) creation, exactly once."""

import threading
import time
from decimal import Decimal

import pytest

from crmApp.models import Customer, Deal, Lead
from crmApp.services.lead_service import LeadService
from crmApp.tenancy import Tenant
from crmApp.tests.conftest import close_thread_connections, make_client
from crmApp.tests.factories import EmployeeFactory, LeadFactory, PipelineFactory, PipelineStageFactory


def convert_url(lead) -> str:
    return f"/api/leads/{lead.id}/convert/"


@pytest.fixture
def qualified_lead(organization):
    return LeadFactory(
        organization=organization,
        status="qualified",
        first_name="Ada",
        last_name="Lovelace",
        email="ada@example.com",
        phone="+44 20 7946 0000",
        source="referral",
        notes="Met at the expo.",
        estimated_value=Decimal("12500.50"),
        assigned_to=EmployeeFactory(organization=organization),
    )


@pytest.mark.django_db
def test_lead_without_company_becomes_an_individual_customer(owner_client, qualified_lead, owner):
    response = owner_client.post(convert_url(qualified_lead), {}, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["deal"] is None
    customer = body["customer"]
    assert customer["customer_type"] == "individual"
    assert (customer["first_name"], customer["last_name"], customer["company_name"]) == ("Ada", "Lovelace", "")
    assert customer["display_name"] == "Ada Lovelace"
    assert customer["email"] == "ada@example.com"
    assert customer["phone"] == "+44 20 7946 0000"
    assert customer["source"] == "referral"
    assert customer["notes"] == "Met at the expo."
    assert customer["assigned_to"] == qualified_lead.assigned_to_id
    assert customer["converted_from_lead"] == qualified_lead.id
    assert customer["organization"] == qualified_lead.organization_id
    assert customer["created_by"] == owner.id
    assert customer["code"].startswith("CUST-")
    qualified_lead.refresh_from_db()
    assert qualified_lead.status == "converted"
    assert qualified_lead.converted_at is not None
    assert qualified_lead.converted_customer.id == customer["id"]
    assert Deal.objects.count() == 0
    detail = owner_client.get(f"/api/leads/{qualified_lead.id}/").json()
    assert detail["converted_customer"] == customer["id"]
    assert detail["status"] == "converted"


@pytest.mark.django_db
def test_lead_with_company_becomes_a_business_customer(owner_client, organization):
    lead = LeadFactory(
        organization=organization, status="qualified", first_name="Grace", last_name="Hopper", company="Navy"
    )
    response = owner_client.post(convert_url(lead), {}, format="json")
    assert response.status_code == 201
    customer = response.json()["customer"]
    assert customer["customer_type"] == "business"
    assert customer["company_name"] == "Navy"
    assert customer["contact_person"] == "Grace Hopper"
    assert customer["display_name"] == "Navy"


@pytest.mark.django_db
def test_convert_with_deal_uses_the_default_pipeline_and_lead_values(owner_client, qualified_lead, organization):
    response = owner_client.post(convert_url(qualified_lead), {"create_deal": True}, format="json")
    assert response.status_code == 201, response.json()
    deal = response.json()["deal"]
    customer = response.json()["customer"]
    assert deal["title"] == "Ada Lovelace deal"
    assert deal["value"] == "12500.50"
    assert deal["customer"] == customer["id"]
    assert deal["lead"] == qualified_lead.id
    assert deal["assigned_to"] == qualified_lead.assigned_to_id
    stored = Deal.objects.select_related("pipeline", "stage").get(pk=deal["id"])
    assert stored.pipeline.is_default and stored.pipeline.organization_id == organization.id
    assert stored.stage.name == "Prospecting"
    assert (deal["status"], deal["probability"], deal["expected_revenue"]) == ("open", 10, "1250.05")


@pytest.mark.django_db
def test_convert_with_deal_takes_title_value_and_chosen_pipeline(owner_client, organization):
    lead = LeadFactory(organization=organization, status="qualified", company="Acme")
    pipeline = PipelineFactory(organization=organization, name="Renewals")
    PipelineStageFactory(pipeline=pipeline, name="Won", order=1, probability=100, is_won=True)
    first_open = PipelineStageFactory(pipeline=pipeline, name="Talk", order=2, probability=40)
    PipelineStageFactory(pipeline=pipeline, name="Later", order=3, probability=60)
    body = {"create_deal": True, "deal_title": "Big one", "deal_value": "2000.00", "pipeline": pipeline.id}
    response = owner_client.post(convert_url(lead), body, format="json")
    assert response.status_code == 201, response.json()
    deal = response.json()["deal"]
    assert (deal["title"], deal["value"], deal["pipeline"], deal["stage"]) == (
        "Big one",
        "2000.00",
        pipeline.id,
        first_open.id,
    )
    assert deal["expected_revenue"] == "800.00"


@pytest.mark.django_db
def test_deal_defaults_without_estimated_value_or_title(owner_client, organization):
    lead = LeadFactory(organization=organization, status="qualified", company="Acme", estimated_value=None)
    response = owner_client.post(convert_url(lead), {"create_deal": True, "deal_title": ""}, format="json")
    assert response.status_code == 201
    assert (response.json()["deal"]["title"], response.json()["deal"]["value"]) == ("Acme deal", "0.00")


@pytest.mark.django_db
def test_deal_fields_without_create_deal_make_no_deal(owner_client, qualified_lead):
    response = owner_client.post(convert_url(qualified_lead), {"deal_title": "x", "deal_value": "5"}, format="json")
    assert response.status_code == 201
    assert response.json()["deal"] is None
    assert Deal.objects.count() == 0


@pytest.mark.django_db
def test_longest_names_still_fit_the_customer_and_deal(owner_client, organization):
    lead = LeadFactory(
        organization=organization, status="qualified", first_name="F" * 100, last_name="L" * 100, company="C" * 200
    )
    response = owner_client.post(convert_url(lead), {"create_deal": True}, format="json")
    assert response.status_code == 201, response.json()
    assert len(response.json()["customer"]["contact_person"]) == 100
    assert response.json()["deal"]["title"] == "C" * 195 + " deal"


@pytest.mark.django_db
def test_foreign_pipeline_is_a_400_and_changes_nothing(owner_client, qualified_lead, other_organization):
    foreign = PipelineFactory(organization=other_organization)
    response = owner_client.post(
        convert_url(qualified_lead), {"create_deal": True, "pipeline": foreign.id}, format="json"
    )
    assert response.status_code == 400
    assert "pipeline" in response.json()["errors"]
    assert Customer.objects.count() == 0
    qualified_lead.refresh_from_db()
    assert qualified_lead.status == "qualified"


@pytest.mark.django_db
def test_pipeline_without_open_stage_rolls_the_whole_conversion_back(owner_client, qualified_lead, organization):
    pipeline = PipelineFactory(organization=organization)
    PipelineStageFactory(pipeline=pipeline, is_won=True, probability=100)
    response = owner_client.post(
        convert_url(qualified_lead), {"create_deal": True, "pipeline": pipeline.id}, format="json"
    )
    assert response.status_code == 400
    assert "open stage" in response.json()["detail"]
    assert Customer.objects.count() == 0
    qualified_lead.refresh_from_db()
    assert (qualified_lead.status, qualified_lead.converted_at) == ("qualified", None)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("last_name", "company", "converts"),
    [("", "", False), ("   ", "", False), ("Doe", "", True), ("", "Initech", True)],
)
def test_a_lead_needs_a_last_name_or_a_company_to_become_a_valid_customer(
    owner_client, organization, last_name, company, converts
):
    lead = LeadFactory(
        organization=organization, status="qualified", first_name="Jo", last_name=last_name, company=company
    )
    response = owner_client.post(convert_url(lead), {}, format="json")
    assert response.status_code == (201 if converts else 400), response.json()
    assert Customer.objects.count() == (1 if converts else 0)
    if not converts:
        assert response.json()["code"] == "incomplete_lead"
        assert Lead.objects.get(pk=lead.pk).status == "qualified"


@pytest.mark.django_db
@pytest.mark.parametrize("status", ["new", "contacted", "unqualified", "lost", "converted"])
def test_only_a_qualified_lead_converts(owner_client, organization, status):
    lead = LeadFactory(organization=organization, status=status)
    response = owner_client.post(convert_url(lead), {"create_deal": True}, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_transition"
    assert Customer.objects.count() == 0
    assert Deal.objects.count() == 0
    assert Lead.objects.get(pk=lead.pk).status == status


@pytest.mark.django_db
def test_second_convert_is_a_400_and_never_a_second_customer(owner_client, qualified_lead):
    first = owner_client.post(convert_url(qualified_lead), {"create_deal": True}, format="json")
    assert first.status_code == 201
    second = owner_client.post(convert_url(qualified_lead), {"create_deal": True}, format="json")
    assert second.status_code == 400
    assert second.json()["code"] == "invalid_transition"
    assert Customer.objects.filter(converted_from_lead=qualified_lead).count() == 1
    assert Customer.objects.count() == 1
    assert Deal.objects.count() == 1


@pytest.mark.django_db
def test_foreign_lead_is_a_404_and_stays_unconverted(other_client, qualified_lead):
    response = other_client.post(convert_url(qualified_lead), {}, format="json")
    assert response.status_code == 404
    assert Customer.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"create_deal": "maybe"}, "create_deal"),
        ({"create_deal": True, "deal_value": "-1"}, "deal_value"),
        ({"create_deal": True, "deal_value": "1" * 15}, "deal_value"),
        ({"create_deal": True, "deal_value": "abc"}, "deal_value"),
        ({"create_deal": True, "deal_title": "x" * 201}, "deal_title"),
        ({"create_deal": True, "deal_title": 12}, "deal_title"),
        ({"create_deal": True, "pipeline": "abc"}, "pipeline"),
        ({"create_deal": True, "pipeline": 2**70}, "pipeline"),
        ({"create_deal": True, "pipeline": 999999}, "pipeline"),
    ],
)
def test_hostile_convert_bodies_are_400(owner_client, qualified_lead, body, field):
    response = owner_client.post(convert_url(qualified_lead), body, format="json")
    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert Customer.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("codes", "body", "expected"),
    [
        ([], {}, 403),
        (["leads:view"], {}, 403),
        (["leads:update"], {}, 403),
        (["leads:update", "customers:create"], {}, 201),
        (["leads:update", "customers:create"], {"create_deal": True}, 403),
        (["leads:update", "customers:create", "deals:create"], {"create_deal": True}, 201),
        (["customers:create", "deals:create"], {"create_deal": True}, 403),
    ],
)
def test_convert_needs_lead_update_and_the_codes_of_what_it_creates(
    member_client, qualified_lead, codes, body, expected
):
    response = member_client(codes).post(convert_url(qualified_lead), body, format="json")
    assert response.status_code == expected
    assert Customer.objects.count() == (1 if expected == 201 else 0)
    assert Deal.objects.count() == (1 if expected == 201 and body else 0)


@pytest.mark.django_db
def test_service_convert_returns_customer_and_deal(organization, owner, qualified_lead):
    customer, deal = LeadService(Tenant.system(organization, user=owner)).convert(
        qualified_lead, create_deal=True, deal_value=Decimal("10")
    )
    assert customer.converted_from_lead_id == qualified_lead.id
    assert (deal.customer_id, deal.value, deal.lead_id) == (customer.id, Decimal("10"), qualified_lead.id)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_simultaneous_converts_give_one_success_and_one_customer(organization, owner, qualified_lead, monkeypatch):
    # Widen the window between the status check and the insert, so without the row lock both
    # requests would pass the check (the second would then hit the one-to-one constraint: a 409).
    build = LeadService._customer_fields
    monkeypatch.setattr(LeadService, "_customer_fields", staticmethod(lambda lead: (time.sleep(0.3), build(lead))[1]))
    clients = [make_client(owner, organization) for _ in range(2)]
    barrier = threading.Barrier(2)
    statuses: list[int] = []

    def convert(client):
        try:
            barrier.wait()
            statuses.append(client.post(convert_url(qualified_lead), {"create_deal": True}, format="json").status_code)
        finally:
            close_thread_connections()  # this thread's own connections; close_old_connections keeps them

    threads = [threading.Thread(target=convert, args=(client,)) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(statuses) == [201, 400]
    assert Customer.objects.filter(converted_from_lead=qualified_lead).count() == 1
    assert Deal.objects.filter(lead=qualified_lead).count() == 1
    assert Lead.objects.get(pk=qualified_lead.pk).status == "converted"
