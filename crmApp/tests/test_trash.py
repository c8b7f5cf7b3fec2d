"""Deleting moves records to the trash: gone from every read, restorable with code and relations, purgeable."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from crmApp.models import Activity, Customer, Deal, Employee, HistoryEntry, Lead, OutboxEvent, Vendor
from crmApp.tests.conftest import make_client
from crmApp.tests.factories import (
    FACTORIES_BY_RESOURCE,
    ActivityFactory,
    CustomerFactory,
    DealFactory,
    EmployeeFactory,
    LeadFactory,
)
from crmApp.tests.test_webhooks import make_webhook

pytestmark = pytest.mark.django_db

MODELS = {
    "customers": Customer,
    "leads": Lead,
    "deals": Deal,
    "activities": Activity,
    "employees": Employee,
    "vendors": Vendor,
}


def trash(client, resource: str, record) -> None:
    assert client.delete(f"/api/{resource}/{record.id}/").status_code == 204


@pytest.mark.parametrize("resource", list(FACTORIES_BY_RESOURCE))
def test_a_deleted_record_leaves_every_read_but_stays_in_the_table(owner_client, organization, resource):
    record = FACTORIES_BY_RESOURCE[resource](organization=organization)
    kept = FACTORIES_BY_RESOURCE[resource](organization=organization)
    trash(owner_client, resource, record)

    assert owner_client.get(f"/api/{resource}/{record.id}/").status_code == 404
    listed = owner_client.get(f"/api/{resource}/").json()
    assert [row["id"] for row in listed["results"]] == [kept.id] and listed["count"] == 1
    stored = MODELS[resource].with_trashed.get(pk=record.pk)
    assert stored.deleted_at is not None and stored.code == record.code


@pytest.mark.parametrize("resource", list(FACTORIES_BY_RESOURCE))
def test_the_trash_lists_restores_and_purges(owner_client, owner, organization, resource):
    record = FACTORIES_BY_RESOURCE[resource](organization=organization)
    trash(owner_client, resource, record)

    (listed,) = owner_client.get("/api/trash/", {"resource": resource}).json()["results"]
    assert (listed["resource"], listed["id"], listed["code"], listed["deleted_by"]) == (
        resource,
        record.id,
        record.code,
        owner.id,
    )
    assert listed["display_name"] and listed["deleted_at"]

    restored = owner_client.post(f"/api/trash/{resource}/{record.id}/restore/")
    assert restored.status_code == 200 and restored.json()["code"] == record.code
    assert owner_client.get(f"/api/{resource}/{record.id}/").status_code == 200

    trash(owner_client, resource, record)
    assert owner_client.delete(f"/api/trash/{resource}/{record.id}/").status_code == 204
    assert not MODELS[resource].with_trashed.filter(pk=record.pk).exists()
    assert HistoryEntry.objects.filter(record_id=record.id, event="purged").exists()  # the history outlives it


def test_the_trash_needs_the_resources_delete_code(member_client, organization):
    lead = LeadFactory(organization=organization)
    Lead.objects.filter(pk=lead.pk).update(deleted_at=timezone.now())
    reader = member_client(["leads:view", "leads:update"])
    assert reader.get("/api/trash/", {"resource": "leads"}).status_code == 403
    assert reader.post(f"/api/trash/leads/{lead.id}/restore/").status_code == 403
    assert reader.delete(f"/api/trash/leads/{lead.id}/").status_code == 403
    deleter = member_client(["leads:delete"])
    assert deleter.get("/api/trash/", {"resource": "leads"}).status_code == 200
    assert deleter.get("/api/trash/", {"resource": "customers"}).status_code == 403


@pytest.mark.parametrize("query", [{}, {"resource": "pipelines"}, {"resource": ""}, {"resource": "leads", "x": "1"}])
def test_the_trash_list_needs_a_known_resource(owner_client, query):
    assert owner_client.get("/api/trash/", query).status_code == 400


def test_restoring_or_purging_what_is_not_in_the_trash_is_a_404(owner_client, organization, other_organization):
    live = LeadFactory(organization=organization)
    foreign = LeadFactory(organization=other_organization)
    Lead.objects.filter(pk=foreign.pk).update(deleted_at=timezone.now())
    for record in (live, foreign):
        assert owner_client.post(f"/api/trash/leads/{record.id}/restore/").status_code == 404
        assert owner_client.delete(f"/api/trash/leads/{record.id}/").status_code == 404
    assert owner_client.post("/api/trash/pipelines/1/restore/").status_code == 404
    assert Lead.objects.filter(pk=live.pk).exists()


def test_trashed_records_leave_counts_stats_board_and_analytics(owner_client, organization):
    deal = DealFactory(organization=organization, value=500)
    LeadFactory(organization=organization)
    lead = LeadFactory(organization=organization)
    before = owner_client.get("/api/analytics/dashboard/").json()
    trash(owner_client, "leads", lead)
    trash(owner_client, "deals", deal)

    assert owner_client.get("/api/leads/stats/").json()["total"] == 1
    after = owner_client.get("/api/analytics/dashboard/").json()
    assert after["leads"]["total"] == before["leads"]["total"] - 1
    assert after["deals"]["total"] == before["deals"]["total"] - 1
    assert sum(column["count"] for column in owner_client.get("/api/deals/board/").json()) == 0
    assert owner_client.get("/api/analytics/sales-funnel/").json()["stages"][0]["count"] == 1
    exported = owner_client.get("/api/leads/export/")
    assert lead.code not in b"".join(exported.streaming_content).decode()


def test_a_customer_with_live_deals_stays_out_of_the_trash(owner_client, organization):
    deal = DealFactory(organization=organization)
    response = owner_client.delete(f"/api/customers/{deal.customer_id}/")
    assert (response.status_code, response.json()["code"]) == (409, "protected")
    trash(owner_client, "deals", deal)
    trash(owner_client, "customers", deal.customer)  # only trashed deals left: fine


def test_a_deal_comes_back_only_to_a_customer_out_of_the_trash(owner_client, organization):
    deal = DealFactory(organization=organization)
    trash(owner_client, "deals", deal)
    trash(owner_client, "customers", deal.customer)

    refused = owner_client.post(f"/api/trash/deals/{deal.id}/restore/")
    assert (refused.status_code, refused.json()["code"]) == (409, "customer_trashed")
    owner_client.post(f"/api/trash/customers/{deal.customer_id}/restore/")
    assert owner_client.post(f"/api/trash/deals/{deal.id}/restore/").status_code == 200


def test_purging_a_customer_waits_for_its_trashed_deals(owner_client, organization):
    deal = DealFactory(organization=organization)
    trash(owner_client, "deals", deal)
    trash(owner_client, "customers", deal.customer)
    assert owner_client.delete(f"/api/trash/customers/{deal.customer_id}/").status_code == 409
    owner_client.delete(f"/api/trash/deals/{deal.id}/")
    assert owner_client.delete(f"/api/trash/customers/{deal.customer_id}/").status_code == 204


def test_a_restored_record_keeps_its_relations(owner_client, organization):
    lead = LeadFactory(organization=organization)
    activity = ActivityFactory(organization=organization, lead=lead)
    trash(owner_client, "leads", lead)
    assert Activity.objects.get(pk=activity.pk).lead_id == lead.id  # still pointing at it, in the trash
    owner_client.post(f"/api/trash/leads/{lead.id}/restore/")
    timeline = owner_client.get(f"/api/leads/{lead.id}/timeline/").json()["results"]
    assert any(entry["kind"] == "activity" for entry in timeline)


def test_codes_of_trashed_records_are_never_handed_out_again(owner_client, organization):
    first = owner_client.post("/api/leads/", {"first_name": "Ada"}, format="json").json()
    owner_client.delete(f"/api/leads/{first['id']}/")
    owner_client.delete(f"/api/trash/leads/{first['id']}/")
    second = owner_client.post("/api/leads/", {"first_name": "Bo"}, format="json").json()
    assert second["code"] != first["code"]


def test_bulk_delete_trashes_and_keeps_the_protected_rule(owner_client, organization):
    free = [CustomerFactory(organization=organization) for _ in range(2)]
    response = owner_client.post("/api/customers/bulk-delete/", {"ids": [c.id for c in free]}, format="json")
    assert response.json() == {"deleted": 2}
    assert Customer.with_trashed.filter(pk__in=[c.id for c in free], deleted_at__isnull=False).count() == 2
    assert len(owner_client.get("/api/trash/", {"resource": "customers"}).json()["results"]) == 2


@pytest.mark.parametrize("resource", ["customers", "leads", "deals", "activities"])
def test_trash_and_restore_write_history_and_webhook_events(owner_client, organization, resource):
    record = FACTORIES_BY_RESOURCE[resource](organization=organization)
    make_webhook(organization)
    kind = MODELS[resource]._meta.model_name
    trash(owner_client, resource, record)
    owner_client.post(f"/api/trash/{resource}/{record.id}/restore/")
    assert list(OutboxEvent.objects.order_by("id").values_list("type", flat=True)) == [
        f"{kind}.deleted",
        f"{kind}.restored",
    ]
    events = HistoryEntry.objects.filter(record_type=kind, record_id=record.id, kind="event").order_by("id")
    assert [entry.event for entry in events] == ["deleted", "restored"]
    assert not HistoryEntry.objects.filter(record_type=kind, record_id=record.id, kind="change").exists()  # no noise


def test_purge_trash_removes_only_what_waited_longer_than_the_retention(organization, settings):
    settings.TRASH_RETENTION_DAYS = 30
    old, recent = LeadFactory(organization=organization), LeadFactory(organization=organization)
    deal = DealFactory(organization=organization)
    now = timezone.now()
    Lead.objects.filter(pk=old.pk).update(deleted_at=now - timedelta(days=31))
    Lead.objects.filter(pk=recent.pk).update(deleted_at=now - timedelta(days=29))
    Deal.objects.filter(pk=deal.pk).update(deleted_at=now - timedelta(days=40))
    Customer.objects.filter(pk=deal.customer_id).update(deleted_at=now - timedelta(days=40))

    call_command("purge_trash")
    assert not Lead.with_trashed.filter(pk=old.pk).exists()
    assert Lead.with_trashed.filter(pk=recent.pk).exists()
    # The deal goes first in the same run, so its customer can go too.
    assert not Deal.with_trashed.filter(pk=deal.pk).exists()
    assert not Customer.with_trashed.filter(pk=deal.customer_id).exists()


def test_purge_trash_keeps_a_customer_whose_deal_is_still_restorable(organization):
    deal = DealFactory(organization=organization)
    now = timezone.now()
    Deal.objects.filter(pk=deal.pk).update(deleted_at=now - timedelta(days=1))
    Customer.objects.filter(pk=deal.customer_id).update(deleted_at=now - timedelta(days=40))
    call_command("purge_trash")
    assert Customer.with_trashed.filter(pk=deal.customer_id).exists()


@pytest.mark.parametrize("resource", ["customers", "leads", "deals", "activities"])
def test_a_record_restored_after_its_assignee_went_to_the_trash_comes_back_unassigned(
    owner_client, organization, resource
):
    employee, kept = EmployeeFactory(organization=organization), EmployeeFactory(organization=organization)
    record = FACTORIES_BY_RESOURCE[resource](organization=organization, assigned_to=employee)
    other = FACTORIES_BY_RESOURCE[resource](organization=organization, assigned_to=kept)
    trash(owner_client, resource, record)
    trash(owner_client, resource, other)
    trash(owner_client, "employees", employee)  # unassigns their live records only
    make_webhook(organization)

    restored = owner_client.post(f"/api/trash/{resource}/{record.id}/restore/")
    assert restored.status_code == 200 and restored.json()["assigned_to"] is None
    assert MODELS[resource].objects.get(pk=record.pk).assigned_to_id is None
    kind = MODELS[resource]._meta.model_name
    events = HistoryEntry.objects.filter(record_type=kind, record_id=record.id, kind="event").order_by("id")
    assert [(entry.event, entry.data) for entry in events][-2:] == [
        ("restored", {}),
        ("assigned", {"from": employee.id, "to": None}),
    ]
    published = OutboxEvent.objects.get()
    assert (published.type, published.data["assigned_to"]) == (f"{kind}.restored", None)
    assert published.changes == [{"field": "assigned_to", "old": employee.id, "new": None}]
    # A live assignee is kept.
    assert owner_client.post(f"/api/trash/{resource}/{other.id}/restore/").json()["assigned_to"] == kept.id


def test_trashing_an_employee_unassigns_their_records_and_restoring_does_not_reassign(owner_client, organization):
    employee = EmployeeFactory(organization=organization)
    lead = LeadFactory(organization=organization, assigned_to=employee)
    trash(owner_client, "employees", employee)
    assert Lead.objects.get(pk=lead.pk).assigned_to_id is None
    owner_client.post(f"/api/trash/employees/{employee.id}/restore/")
    assert Lead.objects.get(pk=lead.pk).assigned_to_id is None


@pytest.mark.parametrize("resource", list(FACTORIES_BY_RESOURCE))
def test_a_trashed_record_outlives_the_account_that_deleted_it(make_member, organization, resource):
    deleter = make_member([f"{resource}:delete"])
    record = FACTORIES_BY_RESOURCE[resource](organization=organization)
    trash(make_client(deleter, organization), resource, record)
    assert MODELS[resource].with_trashed.get(pk=record.pk).deleted_by_id == deleter.id

    deleter.delete()

    stored = MODELS[resource].with_trashed.get(pk=record.pk)
    assert stored.deleted_at is not None and stored.deleted_by_id is None


@pytest.mark.parametrize("header", ['"1"', "9999", '"2"', "garbage"])
def test_restore_and_purge_honour_if_match(owner_client, organization, header):
    lead = LeadFactory(organization=organization)
    assert owner_client.delete(f"/api/leads/{lead.id}/").status_code == 204
    listed = owner_client.get("/api/trash/?resource=leads").json()["results"]
    version = next(item["version"] for item in listed if item["id"] == lead.id)
    assert version == Lead.with_trashed.get(pk=lead.pk).version == 2  # the deletion is a change
    restore = owner_client.post(f"/api/trash/leads/{lead.id}/restore/", HTTP_IF_MATCH=header)
    matches = header == f'"{version}"'
    assert restore.status_code == (200 if matches else 412)
    assert Lead.objects.filter(pk=lead.pk).exists() == matches
    if not matches:
        purge = owner_client.delete(f"/api/trash/leads/{lead.id}/", HTTP_IF_MATCH=header)
        assert purge.status_code == 412
        assert Lead.with_trashed.filter(pk=lead.pk).exists()


@pytest.mark.parametrize(
    "path", ["/api/docs/", "/api/redoc/", "/api/trash/?resource=leads", "/api/trash/leads/1/restore/"]
)
def test_options_never_fails(owner_client, path):
    assert owner_client.options(path).status_code in (200, 405)
