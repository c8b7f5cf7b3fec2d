"""API.md › Business rules › Lead score: the table, and that every write recomputes it."""

from decimal import Decimal

import pytest

from crmApp.models import Lead
from crmApp.services.lead_scoring import score_lead
from crmApp.services.lead_service import LeadService
from crmApp.tenancy import Tenant
from crmApp.tests.factories import LeadFactory

FULL_CONTACT = {"email": "a@b.co", "phone": "+1 555", "company": "Acme", "job_title": "CTO"}

SCORE_TABLE = [
    # (fields, expected score)
    ({}, 0),
    ({"source": "other"}, 0),
    ({"email": "a@b.co"}, 10),
    ({"phone": "+1 555"}, 10),
    ({"company": "Acme"}, 15),
    ({"job_title": "CTO"}, 10),
    ({"source": "referral"}, 25),
    ({"source": "partner"}, 20),
    ({"source": "website"}, 15),
    ({"source": "social_media"}, 10),
    ({"source": "email_campaign"}, 10),
    ({"source": "event"}, 10),
    ({"source": "cold_call"}, 5),
    ({"source": "advertisement"}, 5),
    # Estimated value: strictly greater than each threshold.
    ({"estimated_value": Decimal("0")}, 0),
    ({"estimated_value": Decimal("10000")}, 0),
    ({"estimated_value": Decimal("10000.01")}, 10),
    ({"estimated_value": Decimal("50000")}, 10),
    ({"estimated_value": Decimal("50000.01")}, 15),
    ({"estimated_value": Decimal("100000")}, 15),
    ({"estimated_value": Decimal("100000.01")}, 20),
    ({"estimated_value": Decimal("999999999999.99")}, 20),
    ({"estimated_value": None}, 0),
    # Blank and whitespace-only strings count as absent.
    ({"email": "", "phone": "", "company": "", "job_title": ""}, 0),
    ({"company": "   ", "job_title": "\t"}, 0),
    # Sums.
    (FULL_CONTACT, 45),
    ({**FULL_CONTACT, "source": "cold_call"}, 50),
    ({**FULL_CONTACT, "source": "website", "estimated_value": Decimal("60000")}, 75),
    ({"email": "a@b.co", "source": "partner", "estimated_value": Decimal("10000.01")}, 40),
    ({"phone": "1", "company": "X", "source": "event", "estimated_value": Decimal("50000")}, 45),
    # Everything at once: 45 + 25 + 20 = 90, the highest sum the contract's weights allow.
    ({**FULL_CONTACT, "source": "referral", "estimated_value": Decimal("100000.01")}, 90),
]


@pytest.mark.parametrize(("fields", "expected"), SCORE_TABLE)
def test_score_lead_matches_the_contract_table(fields, expected):
    assert score_lead(**fields) == expected


def test_score_is_capped_at_100(monkeypatch):
    # The contract's largest real sum is 90, so raise one weight to prove the cap itself.
    from crmApp.services import lead_scoring

    monkeypatch.setitem(lead_scoring.FIELD_POINTS, "company", 40)
    assert score_lead(**FULL_CONTACT, source="referral", estimated_value=Decimal("100000.01")) == 100


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({}, 0),
        ({"email": "a@b.co", "source": "referral"}, 35),
        ({**FULL_CONTACT, "source": "referral", "estimated_value": "100000.01"}, 90),
        ({"estimated_value": "10000.00"}, 0),
        ({"estimated_value": "10000.01"}, 10),
        ({"estimated_value": "50000.00"}, 10),
        ({"estimated_value": "100000.00"}, 15),
        ({"company": "", "email": "", "source": "website"}, 15),
    ],
)
def test_create_computes_the_score(owner_client, body, expected):
    response = owner_client.post("/api/leads/", {"first_name": "Ada", **body}, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["score"] == expected
    assert Lead.objects.get(pk=response.json()["id"]).score == expected


@pytest.mark.django_db
def test_sent_score_is_ignored_on_create_and_update(owner_client):
    created = owner_client.post("/api/leads/", {"first_name": "Ada", "score": 99}, format="json")
    assert created.status_code == 201
    assert created.json()["score"] == 0
    lead_id = created.json()["id"]
    patched = owner_client.patch(f"/api/leads/{lead_id}/", {"score": 77, "email": "a@b.co"}, format="json")
    assert patched.status_code == 200
    assert patched.json()["score"] == 10
    assert Lead.objects.get(pk=lead_id).score == 10


@pytest.mark.django_db
def test_every_update_recomputes_the_score(owner_client, organization):
    lead = LeadFactory(organization=organization, email="a@b.co", source="referral")
    assert lead.score == 35
    steps = [
        ({"company": "Acme"}, 50),
        ({"estimated_value": "50000.01"}, 65),
        ({"source": "cold_call"}, 45),
        ({"email": ""}, 35),
        ({"estimated_value": None}, 20),
        ({"notes": "unrelated change keeps the score"}, 20),
    ]
    for body, expected in steps:
        response = owner_client.patch(f"/api/leads/{lead.id}/", body, format="json")
        assert response.status_code == 200, response.json()
        assert response.json()["score"] == expected, body
    lead.refresh_from_db()
    assert lead.score == 20


@pytest.mark.django_db
def test_full_update_recomputes_the_score(owner_client, organization):
    lead = LeadFactory(organization=organization, email="a@b.co", phone="1", company="Acme", source="partner")
    assert lead.score == 55
    response = owner_client.put(f"/api/leads/{lead.id}/", {"first_name": "Ada", "source": "website"}, format="json")
    assert response.status_code == 200
    # PUT leaves omitted optional fields as they were; only the source changed: 55 - 20 + 15.
    assert response.json()["score"] == 50


@pytest.mark.django_db
def test_service_create_and_update_score_without_the_api(organization, owner):
    service = LeadService(Tenant.system(organization, user=owner))
    lead = service.create(first_name="Ada", company="Acme", source="event", estimated_value=Decimal("70000"))
    assert lead.score == 40
    lead = service.update(lead, company="")
    assert lead.score == 25
    assert Lead.objects.get(pk=lead.pk).score == 25
