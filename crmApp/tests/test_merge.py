"""Duplicate groups, and merging customers and leads: values, relations, the trash, history and events."""

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from crmApp.constants import ProfileType
from crmApp.models import Activity, Customer, Deal, HistoryEntry, Lead, OutboxEvent
from crmApp.services.customer_service import CustomerService
from crmApp.tenancy import Tenant
from crmApp.tests.conftest import make_client
from crmApp.tests.factories import ActivityFactory, CustomerFactory, DealFactory, EmployeeFactory, LeadFactory
from crmApp.tests.test_webhooks import make_webhook

pytestmark = pytest.mark.django_db


def merge(client, resource, target, sources, **body):
    return client.post(
        f"/api/{resource}/{target.id}/merge/", {"source_ids": [s.id for s in sources], **body}, format="json"
    )


# --- duplicates -----------------------------------------------------------------------------------------
def test_duplicate_groups_by_normalised_email_phone_and_company(owner_client, organization, other_organization):
    a = LeadFactory(organization=organization, email="Ada@Example.com ", phone="+1 (555) 010-2000", company="Acme")
    b = LeadFactory(organization=organization, email="ada@example.com", phone="15550102000", company="  ACME")
    LeadFactory(organization=organization, email="other@example.com", phone="", company="")
    LeadFactory(organization=other_organization, email="ada@example.com", company="Acme")

    groups = owner_client.get("/api/leads/duplicates/").json()
    assert groups["count"] == 3
    by_reason = {group["reason"]: group for group in groups["results"]}
    assert (by_reason["email"]["value"], by_reason["phone"]["value"], by_reason["company"]["value"]) == (
        "ada@example.com",
        "15550102000",
        "acme",
    )
    for group in by_reason.values():
        assert [record["id"] for record in group["records"]] == [a.id, b.id] and group["count"] == 2
    assert by_reason["email"]["records"][0]["code"] == a.code


def test_duplicates_leave_out_trashed_records(owner_client, organization):
    first = CustomerFactory(organization=organization, email="x@example.com")
    second = CustomerFactory(organization=organization, email="x@example.com")
    assert owner_client.get("/api/customers/duplicates/").json()["count"] == 1
    owner_client.delete(f"/api/customers/{second.id}/")
    assert owner_client.get("/api/customers/duplicates/").json()["count"] == 0
    assert first.id


def test_duplicates_are_paginated_and_need_the_view_code(member_client, organization):
    for index in range(3):
        LeadFactory(organization=organization, company=f"Dup {index}")
        LeadFactory(organization=organization, company=f"Dup {index}")
    client = member_client(["leads:view"])
    page = client.get("/api/leads/duplicates/", {"page_size": 2}).json()
    assert page["count"] == 3 and len(page["results"]) == 2 and page["next"]
    assert member_client(["customers:view"]).get("/api/leads/duplicates/").status_code == 403


# --- merge ----------------------------------------------------------------------------------------------
def test_the_target_keeps_its_values_and_fills_its_blanks(owner_client, organization):
    employee = EmployeeFactory(organization=organization)
    target = CustomerFactory(organization=organization, city="Oslo", phone="", email="", assigned_to=None)
    first = CustomerFactory(organization=organization, city="Bergen", phone="111", email="", assigned_to=employee)
    second = CustomerFactory(organization=organization, city="Tromsø", phone="222", email="s@example.com")

    response = merge(owner_client, "customers", target, [first, second])
    assert response.status_code == 200, response.json()
    merged = response.json()
    assert (merged["city"], merged["phone"], merged["email"], merged["assigned_to"]) == (
        "Oslo",
        "111",
        "s@example.com",
        employee.id,
    )
    for source in (first, second):
        stored = Customer.with_trashed.get(pk=source.pk)
        assert stored.deleted_at is not None and stored.merged_into_id == target.id


def test_deals_activities_and_the_conversion_link_move_to_the_target(owner_client, organization):
    target = CustomerFactory(organization=organization)
    lead = LeadFactory(organization=organization, status="converted")
    source = CustomerFactory(organization=organization, converted_from_lead=lead)
    deal = DealFactory(organization=organization, customer=source)
    activity = ActivityFactory(organization=organization, lead=None, customer=source)

    merge(owner_client, "customers", target, [source])
    assert Deal.objects.get(pk=deal.pk).customer_id == target.id
    assert Activity.objects.get(pk=activity.pk).customer_id == target.id
    assert Customer.objects.get(pk=target.pk).converted_from_lead_id == lead.id
    assert Customer.with_trashed.get(pk=source.pk).converted_from_lead_id is None
    assert owner_client.get(f"/api/leads/{lead.id}/").json()["converted_customer"] == target.id


def test_the_portal_account_follows_its_deals_to_the_target(owner_client, organization, make_member):
    portal_user = make_member(profile_type=ProfileType.CUSTOMER)
    target = CustomerFactory(organization=organization, user=None)
    source = CustomerFactory(organization=organization, user=portal_user)
    deal = DealFactory(organization=organization, customer=source)

    assert merge(owner_client, "customers", target, [source]).json()["user"] == portal_user.id
    portal = make_client(portal_user, organization)
    assert [row["id"] for row in portal.get("/api/customers/").json()["results"]] == [target.id]
    assert [row["id"] for row in portal.get("/api/deals/").json()["results"]] == [deal.id]


def test_trashed_deals_and_activities_move_to_the_target_too(owner_client, organization):
    # So that a restore brings them back to the merged record, and their history tells what happened.
    target, source = CustomerFactory(organization=organization), CustomerFactory(organization=organization)
    deal = DealFactory(organization=organization, customer=source)
    activity = ActivityFactory(organization=organization, lead=None, customer=source)
    owner_client.delete(f"/api/deals/{deal.id}/")
    owner_client.delete(f"/api/activities/{activity.id}/")

    assert merge(owner_client, "customers", target, [source]).status_code == 200
    assert Deal.with_trashed.get(pk=deal.pk).customer_id == target.id
    assert Activity.with_trashed.get(pk=activity.pk).customer_id == target.id
    restored = owner_client.post(f"/api/trash/deals/{deal.id}/restore/")
    assert (restored.status_code, restored.json()["customer"]) == (200, target.id)


def test_a_merge_writes_history_and_a_merged_event(owner_client, organization):
    make_webhook(organization)
    target = CustomerFactory(organization=organization, phone="")
    source = CustomerFactory(organization=organization, phone="999")
    merge(owner_client, "customers", target, [source])

    assert HistoryEntry.objects.get(record_id=target.id, event="merged").data == {"sources": [source.id]}
    assert HistoryEntry.objects.get(record_id=source.id, event="deleted").data == {"merged_into": target.id}
    events = {(event.type, event.record_key) for event in OutboxEvent.objects.all()}
    assert events == {("customer.merged", f"customer:{target.id}"), ("customer.deleted", f"customer:{source.id}")}
    merged_event = OutboxEvent.objects.get(type="customer.merged")
    assert merged_event.changes == [{"field": "phone", "old": "", "new": "999"}]


def test_a_source_that_gives_up_its_conversion_link_is_trashed_in_one_write(owner_client, organization):
    make_webhook(organization)
    target = CustomerFactory(organization=organization)
    lead = LeadFactory(organization=organization, status="converted")
    source = CustomerFactory(organization=organization, converted_from_lead=lead)
    merge(owner_client, "customers", target, [source])

    assert Customer.with_trashed.get(pk=source.pk).version == 2
    (change,) = HistoryEntry.objects.filter(record_id=source.id, record_type="customer", kind="change")
    assert change.changes == [{"field": "converted_from_lead", "old": lead.id, "new": None}]
    assert HistoryEntry.objects.get(record_id=source.id, event="deleted").data == {"merged_into": target.id}
    (event,) = OutboxEvent.objects.filter(record_key=f"customer:{source.id}")
    assert (event.type, event.changes) == ("customer.deleted", change.changes)


@pytest.mark.parametrize("filled, expected", [(True, {"lead.updated"}), (False, set())])
def test_a_lead_merge_sends_its_targets_filled_fields_as_an_update(owner_client, organization, filled, expected):
    """Leads have no `merged` event type: the fields a merge fills in still reach the webhooks, as an update."""
    make_webhook(organization)
    target = LeadFactory(organization=organization, phone="")
    source = LeadFactory(organization=organization, phone="999" if filled else "")
    merge(owner_client, "leads", target, [source])

    target_events = OutboxEvent.objects.filter(record_key=f"lead:{target.id}")
    assert {event.type for event in target_events} == expected
    if filled:
        event = target_events.get()
        assert {"field": "phone", "old": "", "new": "999"} in event.changes  # and the score it rescored
        assert (event.data["phone"], event.data["score"]) == ("999", Lead.objects.get(pk=target.pk).score)
    assert OutboxEvent.objects.get(record_key=f"lead:{source.id}").type == "lead.deleted"


def test_a_dry_run_answers_the_merge_and_stores_nothing(owner_client, organization):
    target = CustomerFactory(organization=organization, phone="")
    source = CustomerFactory(organization=organization, phone="999")
    deal = DealFactory(organization=organization, customer=source)

    response = merge(owner_client, "customers", target, [source], dry_run=True)
    assert response.status_code == 200 and response.json()["phone"] == "999"
    assert Customer.objects.get(pk=target.pk).phone == ""
    assert Customer.objects.filter(pk=source.pk).exists()
    assert Deal.objects.get(pk=deal.pk).customer_id == source.id
    assert not HistoryEntry.objects.filter(event="merged").exists()


@pytest.mark.parametrize("resource, factory", [("customers", CustomerFactory), ("leads", LeadFactory)])
def test_a_dry_run_answer_has_no_etag_so_a_client_keeps_the_stored_version(
    owner_client, organization, resource, factory
):
    target, source = factory(organization=organization), factory(organization=organization)

    preview = merge(owner_client, resource, target, [source], dry_run=True)
    assert preview.status_code == 200 and "ETag" not in preview.headers

    stored = owner_client.get(f"/api/{resource}/{target.id}/")["ETag"]
    merged = owner_client.post(
        f"/api/{resource}/{target.id}/merge/", {"source_ids": [source.id]}, format="json", HTTP_IF_MATCH=stored
    )
    assert merged.status_code == 200 and merged["ETag"] == f'"{merged.json()["version"]}"'


@pytest.mark.parametrize(
    "sources",
    ["self", "foreign", "missing", "empty", "converted lead"],
)
def test_bad_sources_are_a_400_and_change_nothing(owner_client, organization, other_organization, sources):
    target = LeadFactory(organization=organization)
    ids = {
        "self": [target.id],
        "foreign": [LeadFactory(organization=other_organization).id],
        "missing": [987654],
        "empty": [],
        "converted lead": [LeadFactory(organization=organization, status="converted").id],
    }[sources]
    response = owner_client.post(f"/api/leads/{target.id}/merge/", {"source_ids": ids}, format="json")
    assert response.status_code == 400 and "source_ids" in response.json()["errors"]
    assert Lead.objects.count() == Lead.with_trashed.count()


def test_merge_needs_update_and_delete(member_client, organization):
    target, source = CustomerFactory(organization=organization), CustomerFactory(organization=organization)
    body = {"source_ids": [source.id]}
    path = f"/api/customers/{target.id}/merge/"
    assert member_client(["customers:view", "customers:update"]).post(path, body, format="json").status_code == 403
    assert member_client(["customers:view", "customers:delete"]).post(path, body, format="json").status_code == 403
    allowed = member_client(["customers:view", "customers:update", "customers:delete"])
    assert allowed.post(path, body, format="json").status_code == 200


def test_merging_leads_rescores_the_target_and_moves_activities(owner_client, organization):
    target = LeadFactory(organization=organization, email="", company="")
    source = LeadFactory(organization=organization, email="lead@example.com", company="Engines")
    activity = ActivityFactory(organization=organization, lead=source)
    merged = merge(owner_client, "leads", target, [source]).json()
    assert (merged["email"], merged["company"]) == ("lead@example.com", "Engines")
    assert merged["score"] > target.score
    assert Activity.objects.get(pk=activity.pk).lead_id == target.id


# --- merging then restoring keeps every relation consistent (property) -----------------------------------
def consistent(organization) -> None:
    """No live deal belongs to a trashed customer; nothing points at a missing row; no lead is linked twice."""
    live_customers = set(Customer.objects.filter(organization=organization).values_list("id", flat=True))
    all_customers = set(Customer.with_trashed.filter(organization=organization).values_list("id", flat=True))
    for customer_id in Deal.objects.filter(organization=organization).values_list("customer_id", flat=True):
        assert customer_id in live_customers
    for customer_id in Deal.with_trashed.filter(organization=organization).values_list("customer_id", flat=True):
        assert customer_id in all_customers
    for customer_id in Activity.with_trashed.filter(organization=organization).values_list("customer_id", flat=True):
        assert customer_id is None or customer_id in all_customers
    links = [
        lead_id
        for lead_id in Customer.with_trashed.filter(organization=organization).values_list(
            "converted_from_lead_id", flat=True
        )
        if lead_id is not None
    ]
    assert len(links) == len(set(links))


graphs = st.fixed_dictionaries(
    {
        "customers": st.integers(min_value=2, max_value=6),
        "deals": st.lists(st.integers(min_value=0, max_value=5), max_size=8),
        "activities": st.lists(st.integers(min_value=0, max_value=5), max_size=8),
        "links": st.lists(st.integers(min_value=0, max_value=5), max_size=3, unique=True),
        "target": st.integers(min_value=0, max_value=5),
        "sources": st.lists(st.integers(min_value=0, max_value=5), min_size=1, max_size=4, unique=True),
        "restore": st.lists(st.integers(min_value=0, max_value=5), max_size=4, unique=True),
    }
)


@hypothesis_settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(graph=graphs)
def test_merging_then_restoring_leaves_every_relation_consistent(organization, graph):
    for model in (Activity, Deal, Customer, Lead):  # each example starts from an empty organization
        model.with_trashed.filter(organization=organization).delete()
    count = graph["customers"]
    customers = [CustomerFactory(organization=organization) for _ in range(count)]
    for index in graph["deals"]:
        DealFactory(organization=organization, customer=customers[index % count])
    for index in graph["activities"]:
        ActivityFactory(organization=organization, lead=None, customer=customers[index % count])
    for index in graph["links"]:
        lead = LeadFactory(organization=organization, status="converted")
        Customer.objects.filter(pk=customers[index % count].pk).update(converted_from_lead=lead)
    deals, activities = Deal.objects.count(), Activity.objects.count()

    service = CustomerService(Tenant.system(organization))
    target = customers[graph["target"] % count]
    sources = [customers[i % count] for i in graph["sources"] if customers[i % count] != target]
    if sources:
        service.merge(target, [source.id for source in dict.fromkeys(sources)])
    consistent(organization)
    for index in graph["restore"]:
        trashed = service.trashed.filter(pk=customers[index % count].pk).first()
        if trashed is not None:
            service.restore(trashed)
    consistent(organization)
    assert (Deal.objects.count(), Activity.objects.count()) == (deals, activities)  # nothing lost on the way
