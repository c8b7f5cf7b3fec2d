"""Purging for good: what still points at the purged record is unlinked as logged changes, never silently."""

import threading
import time
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from crmApp.models import Activity, Customer, Deal, Employee, HistoryEntry, Lead, OutboxEvent
from crmApp.services.base import OrganizationService
from crmApp.services.customer_service import CustomerService
from crmApp.services.employee_service import EmployeeService
from crmApp.services.lead_service import LeadService
from crmApp.tenancy import Tenant
from crmApp.tests.conftest import close_thread_connections
from crmApp.tests.factories import (
    ActivityFactory,
    CustomerFactory,
    DealFactory,
    EmployeeFactory,
    LeadFactory,
    OrganizationFactory,
)
from crmApp.tests.test_webhooks import make_webhook

pytestmark = pytest.mark.django_db


def purge_by_api(client, resource: str, record) -> None:
    assert client.delete(f"/api/{resource}/{record.id}/").status_code == 204
    assert client.delete(f"/api/trash/{resource}/{record.id}/").status_code == 204


def purge_by_schedule(client, resource: str, record) -> None:
    assert client.delete(f"/api/{resource}/{record.id}/").status_code == 204
    type(record).with_trashed.filter(pk=record.pk).update(deleted_at=timezone.now() - timedelta(days=31))
    call_command("purge_trash")


def entries(record, kind: str) -> list:
    rows = HistoryEntry.objects.filter(record_type=type(record)._meta.model_name, record_id=record.id, kind=kind)
    return list(rows.order_by("id"))


PURGES = pytest.mark.parametrize("purge", [purge_by_api, purge_by_schedule], ids=["api", "schedule"])


@PURGES
def test_live_records_pointing_at_a_purged_lead_lose_the_link_as_logged_changes(owner_client, organization, purge):
    lead = LeadFactory(organization=organization)
    customer = CustomerFactory(organization=organization, converted_from_lead=lead)
    deal = DealFactory(organization=organization, customer=customer, lead=lead)
    activity = ActivityFactory(organization=organization, lead=lead, customer=customer)
    make_webhook(organization)

    purge(owner_client, "leads", lead)

    for record, field in ((customer, "converted_from_lead"), (deal, "lead"), (activity, "lead")):
        stored = type(record).objects.get(pk=record.pk)
        assert (getattr(stored, f"{field}_id"), stored.version) == (None, record.version + 1)
        [change] = entries(record, "change")[-1].changes
        assert change == {"field": field, "old": lead.id, "new": None}
    updates = OutboxEvent.objects.filter(type__endswith=".updated").values_list("type", flat=True)
    assert sorted(updates) == ["activity.updated", "customer.updated", "deal.updated"]


@PURGES
def test_an_activity_about_nothing_but_the_purged_lead_goes_with_it(owner_client, organization, purge):
    lead = LeadFactory(organization=organization)
    live = ActivityFactory(organization=organization, lead=lead, customer=None, deal=None)
    trashed = ActivityFactory(organization=organization, lead=lead, customer=None, deal=None)
    assert owner_client.delete(f"/api/activities/{trashed.id}/").status_code == 204
    make_webhook(organization)

    purge(owner_client, "leads", lead)

    assert not Activity.with_trashed.filter(pk__in=[live.pk, trashed.pk]).exists()
    assert [entry.event for entry in entries(live, "event")][-2:] == ["deleted", "purged"]
    assert [entry.event for entry in entries(trashed, "event")] == ["deleted", "purged"]
    assert list(OutboxEvent.objects.filter(type__startswith="activity.").values_list("type", flat=True)) == [
        "activity.deleted"
    ]


def test_trashed_records_lose_a_purged_assignee_as_logged_changes(owner_client, organization):
    employee = EmployeeFactory(organization=organization)
    lead = LeadFactory(organization=organization, assigned_to=employee)
    assert owner_client.delete(f"/api/leads/{lead.id}/").status_code == 204  # keeps its assignee in the trash

    purge_by_api(owner_client, "employees", employee)

    stored = Lead.with_trashed.get(pk=lead.pk)
    assert (stored.assigned_to_id, stored.version) == (None, lead.version + 2)
    assert [entry.event for entry in entries(lead, "event")] == ["deleted", "assigned"]


def test_purging_a_customer_keeps_its_deals_rule_and_unlinks_its_activities(owner_client, organization):
    customer = CustomerFactory(organization=organization)
    deal = DealFactory(organization=organization, customer=customer)
    activity = ActivityFactory(organization=organization, customer=customer, deal=deal, lead=None)
    assert owner_client.delete(f"/api/deals/{deal.id}/").status_code == 204
    assert owner_client.delete(f"/api/customers/{customer.id}/").status_code == 204
    assert owner_client.delete(f"/api/trash/customers/{customer.id}/").status_code == 409  # its deal may come back
    assert Activity.objects.get(pk=activity.pk).customer_id == customer.id

    assert owner_client.delete(f"/api/trash/deals/{deal.id}/").status_code == 204
    assert owner_client.delete(f"/api/trash/customers/{customer.id}/").status_code == 204
    assert not Activity.objects.filter(pk=activity.pk).exists()  # about that customer and deal only
    assert not Customer.with_trashed.filter(pk=customer.pk).exists() and not Deal.with_trashed.exists()


def test_a_chunk_of_many_organizations_costs_statements_only_where_links_exist():
    def statements(organizations: int) -> int:
        for _ in range(organizations):
            EmployeeFactory(organization=OrganizationFactory())
        Employee.objects.update(deleted_at=timezone.now() - timedelta(days=40))
        with CaptureQueriesContext(connection) as queries:
            call_command("purge_trash")
        return len(queries)

    assert statements(20) == statements(1)


# --- lock order (PostgreSQL) -----------------------------------------------------------------------------
def run_while_purging(organization, monkeypatch, other, *, purge) -> list:
    """Run `other` (holding the rows it locks first) while a purge holds a lead's activities; the errors."""
    purge_holds_activities, errors = threading.Event(), []
    update_rows = OrganizationService.update_rows

    def held_update_rows(self, rows, **changes):
        result = update_rows(self, rows, **changes)
        if threading.current_thread().name == "purge" and rows.model is Activity:
            purge_holds_activities.set()
            time.sleep(0.2)  # the other write reaches the activities meanwhile
        return result

    monkeypatch.setattr(OrganizationService, "update_rows", held_update_rows)

    def run(name, call):
        def body():
            try:
                call()
            except Exception as error:
                errors.append((name, repr(error)))
            finally:
                close_thread_connections()

        return threading.Thread(target=body, name=name)

    threads = [run("other", lambda: other(purge_holds_activities)), run("purge", purge)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("way", ["api", "schedule"])
def test_purging_a_lead_while_its_converted_customer_is_merged_never_deadlocks(organization, monkeypatch, way):
    # A merge locks customers, then their activities; a purge must take them in the same order.
    lead = LeadFactory(organization=organization)
    source = CustomerFactory(organization=organization, converted_from_lead=lead)
    target = CustomerFactory(organization=organization)
    ActivityFactory(organization=organization, customer=source, lead=lead, deal=None)
    Lead.objects.filter(pk=lead.pk).update(deleted_at=timezone.now() - timedelta(days=40))
    move_relations = CustomerService.move_relations

    def merge(purge_holds_activities):
        def late_move(self, sources, target):
            purge_holds_activities.wait(5)  # the merge holds the customers by now
            return move_relations(self, sources, target)

        monkeypatch.setattr(CustomerService, "move_relations", late_move)
        CustomerService(Tenant.system(organization)).merge(target, [source.pk])

    def purge():
        if way == "api":
            LeadService(Tenant.system(organization)).purge(Lead.with_trashed.get(pk=lead.pk))
        else:
            call_command("purge_trash")

    assert run_while_purging(organization, monkeypatch, merge, purge=purge) == []
    assert not Lead.with_trashed.filter(pk=lead.pk).exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_purging_a_lead_while_the_assignee_of_its_records_is_trashed_never_deadlocks(organization, monkeypatch):
    # Trashing an employee unassigns customers, leads, deals, then activities.
    employee = EmployeeFactory(organization=organization)
    lead = LeadFactory(organization=organization)
    customer = CustomerFactory(organization=organization, converted_from_lead=lead, assigned_to=employee)
    ActivityFactory(organization=organization, lead=lead, customer=customer, deal=None, assigned_to=employee)
    Lead.objects.filter(pk=lead.pk).update(deleted_at=timezone.now())
    update_rows = OrganizationService.update_rows

    def trash(purge_holds_activities):
        def late_update_rows(self, rows, **changes):
            if rows.model is Lead:  # the customers are unassigned, and locked, by now
                purge_holds_activities.wait(5)
            return update_rows(self, rows, **changes)

        monkeypatch.setattr(EmployeeService, "update_rows", late_update_rows)
        EmployeeService(Tenant.system(organization)).delete(employee)

    def purge():
        LeadService(Tenant.system(organization)).purge(Lead.with_trashed.get(pk=lead.pk))

    assert run_while_purging(organization, monkeypatch, trash, purge=purge) == []


@pytest.mark.parametrize("days", [-1, 1_000_000])
def test_purge_trash_refuses_a_retention_out_of_range(organization, days):
    """A failure the operator's scheduler sees (a non-zero exit), not a message with success or a traceback."""
    lead = LeadFactory(organization=organization)
    Lead.with_trashed.filter(pk=lead.pk).update(deleted_at=timezone.now())

    with pytest.raises(CommandError, match="--days must be from 0 to 36500"):
        call_command("purge_trash", days=days)

    assert Lead.with_trashed.filter(pk=lead.pk).exists()
