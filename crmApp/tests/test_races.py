"""Writes that race each other: references trashed meanwhile, crossing merges, deadlocks, and what a client sees.

A race past validation is a 409 (or the 400 the late check gives), never a 500, and never a live record
pointing at a trashed one.
"""

import threading
import time

import pytest
from django.core.exceptions import ValidationError
from django.db import OperationalError, connection, transaction

from crmApp.exceptions import Conflict, _translate
from crmApp.imports.runner import ImportRun
from crmApp.models import Customer, Deal, Employee, ImportJob, ImportRowError, Lead, PipelineStage
from crmApp.services.activity_service import ActivityService
from crmApp.services.customer_service import CustomerService
from crmApp.services.deal_service import DealService
from crmApp.services.employee_service import EmployeeService
from crmApp.services.lead_service import LeadService
from crmApp.tenancy import Tenant
from crmApp.tests.conftest import close_thread_connections, make_client, run_together
from crmApp.tests.factories import CustomerFactory, DealFactory, EmployeeFactory, LeadFactory, default_stage

pytestmark = pytest.mark.django_db


def trashed(record):
    """`record`, moved to the trash."""
    service = {Customer: CustomerService, Deal: DealService, Employee: EmployeeService, Lead: LeadService}
    service[type(record)](Tenant.system(record.organization)).delete(record)
    return record


def trashed_meanwhile(record):
    """`record` as a request read it, after another request moved it to the trash."""
    stale = type(record).objects.get(pk=record.pk)
    trashed(record)
    return stale


# (what is trashed meanwhile, the write that names it, the field the 400 names)
LATE_REFERENCES = [
    (
        lambda org: CustomerFactory(organization=org),
        lambda org, gone: DealService(Tenant.system(org)).create(title="Renewal", customer=gone),
        "customer",
    ),
    (
        lambda org: EmployeeFactory(organization=org),
        lambda org, gone: LeadService(Tenant.system(org)).assign(LeadFactory(organization=org), gone),
        "assigned_to",
    ),
    (
        lambda org: EmployeeFactory(organization=org),
        lambda org, gone: CustomerService(Tenant.system(org)).bulk_update(
            ids=[CustomerFactory(organization=org).id], assigned_to=gone
        ),
        "assigned_to",
    ),
    (
        lambda org: LeadFactory(organization=org),
        lambda org, gone: ActivityService(Tenant.system(org)).create(type="call", subject="Follow up", lead=gone),
        "lead",
    ),
]


@pytest.mark.parametrize(("make", "write", "field"), LATE_REFERENCES, ids=["deal", "assign", "bulk", "activity"])
def test_a_reference_trashed_after_the_request_was_read_is_a_400_on_its_field(organization, make, write, field):
    gone = trashed_meanwhile(make(organization))
    counts = (Deal.objects.count(), Lead.objects.filter(assigned_to__isnull=False).count())
    with pytest.raises(ValidationError) as refused:
        write(organization, gone)
    assert list(refused.value.message_dict) == [field]
    assert (Deal.objects.count(), Lead.objects.filter(assigned_to__isnull=False).count()) == counts


def test_a_stage_deleted_before_a_deal_enters_it_is_a_400_on_stage(organization):
    stage = PipelineStage.objects.create(
        organization=organization, pipeline=default_stage(organization).pipeline, name="Spare", order=9
    )
    stale = PipelineStage.objects.get(pk=stage.pk)
    stage.delete()
    with pytest.raises(ValidationError) as refused:
        DealService(Tenant.system(organization)).create(
            title="Renewal", customer=CustomerFactory(organization=organization), stage=stale
        )
    assert list(refused.value.message_dict) == ["stage"]


class Cause(Exception):
    def __init__(self, sqlstate):
        self.sqlstate = sqlstate


@pytest.mark.parametrize(
    ("sqlstate", "conflict"),
    [("40P01", True), ("40001", True), ("57014", False), (None, False)],
    ids=["deadlock", "serialization", "query-cancelled", "no-sqlstate"],
)
def test_a_transaction_that_lost_a_race_is_a_409_any_other_database_error_stays_one(sqlstate, conflict):
    error = OperationalError("could not serialize")
    error.__cause__ = Cause(sqlstate)
    assert isinstance(_translate(error), Conflict) == conflict


ROUNDS = 8


# (the records raced for, the write, the deletion of what it points at, the (write, deletion) statuses
# allowed, the records that must never exist afterwards)
WRITE_AND_DELETE = [
    (
        lambda org: CustomerFactory(organization=org),
        lambda client, customer: client.post("/api/deals/", {"title": "Race", "customer": customer.id}, format="json"),
        lambda client, customer: client.delete(f"/api/customers/{customer.id}/"),
        {(201, 409), (400, 204)},
        lambda: Deal.objects.filter(customer__deleted_at__isnull=False),
    ),
    (
        lambda org: (EmployeeFactory(organization=org), LeadFactory(organization=org)),
        lambda client, pair: client.post(f"/api/leads/{pair[1].id}/assign/", {"employee": pair[0].id}, format="json"),
        lambda client, pair: client.delete(f"/api/employees/{pair[0].id}/"),
        {(200, 204), (400, 204), (409, 204)},
        lambda: Lead.objects.filter(assigned_to__deleted_at__isnull=False),
    ),
    (
        lambda org: trashed(DealFactory(organization=org)),
        lambda client, deal: client.post(f"/api/trash/deals/{deal.id}/restore/"),
        lambda client, deal: client.delete(f"/api/customers/{deal.customer_id}/"),
        {(200, 409), (409, 204)},
        lambda: Deal.objects.filter(customer__deleted_at__isnull=False),
    ),
    (
        lambda org: trashed(LeadFactory(organization=org, assigned_to=EmployeeFactory(organization=org))),
        lambda client, lead: client.post(f"/api/trash/leads/{lead.id}/restore/"),
        lambda client, lead: client.delete(f"/api/employees/{lead.assigned_to_id}/"),
        {(200, 204)},
        lambda: Lead.objects.filter(assigned_to__deleted_at__isnull=False),
    ),
]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("make", "write", "delete", "allowed", "broken"),
    WRITE_AND_DELETE,
    ids=["deal-customer", "assign-employee", "restore-deal-customer", "restore-lead-employee"],
)
def test_a_write_and_the_deletion_of_what_it_points_at_never_both_land(
    owner, organization, make, write, delete, allowed, broken
):
    clients = [make_client(owner, organization) for _ in range(2)]
    for _ in range(ROUNDS):
        target = make(organization)
        written, deleted = run_together(
            lambda target=target: write(clients[0], target), lambda target=target: delete(clients[1], target)
        )
        assert (written.status_code, deleted.status_code) in allowed
    assert not broken().exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_merges_of_the_same_records_the_other_way_round_queue_up(owner, organization):
    clients = [make_client(owner, organization) for _ in range(2)]
    for _ in range(ROUNDS):
        first, second = CustomerFactory(organization=organization), CustomerFactory(organization=organization)
        answers = run_together(
            *(
                lambda client=client, target=target, source=source: client.post(
                    f"/api/customers/{target.id}/merge/", {"source_ids": [source.id]}, format="json"
                )
                for client, target, source in ((clients[0], first, second), (clients[1], second, first))
            ),
        )
        statuses = sorted(answer.status_code for answer in answers)
        assert statuses[0] == 200 and statuses[1] in (400, 404), statuses
        assert Customer.objects.filter(pk__in=[first.id, second.id]).count() == 1


def test_an_import_row_that_names_an_employee_trashed_since_the_job_began_is_a_row_error(organization, owner):
    employee = EmployeeFactory(organization=organization)
    job = ImportJob.objects.create(
        organization=organization, resource="leads", encoding="utf-8", file=b"", created_by=owner
    )
    run = ImportRun(job, Tenant.system(organization, user=owner))  # reads the organization's employees
    trashed_meanwhile(employee)
    run.flush(
        [
            (2, {"first_name": "Ada", "last_name": "Late", "assigned_to": str(employee.id)}),
            (3, {"first_name": "Bo", "last_name": "Fine"}),
        ]
    )
    assert list(Lead.objects.values_list("last_name", flat=True)) == ["Fine"]
    assert list(ImportRowError.objects.values_list("row", "field")) == [(2, "assigned_to")]


def test_a_lead_still_naming_an_employee_in_the_trash_converts_unassigned(owner_client, organization):
    # As a restore by an earlier version could leave it (restores now drop such an assignee).
    employee = EmployeeFactory(organization=organization)
    lead = LeadFactory(organization=organization, assigned_to=employee, company="Initech", status="qualified")
    assert owner_client.delete(f"/api/employees/{employee.id}/").status_code == 204
    Lead.objects.filter(pk=lead.pk).update(assigned_to=employee)
    converted = owner_client.post(f"/api/leads/{lead.id}/convert/", {"create_deal": True}, format="json")
    assert converted.status_code == 201, converted.content
    assert Customer.objects.get(converted_from_lead=lead).assigned_to_id is None
    assert Deal.objects.get(lead=lead).assigned_to_id is None


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_writes_that_point_at_the_same_records_do_not_wait_for_each_other(organization):
    customer, employee = CustomerFactory(organization=organization), EmployeeFactory(organization=organization)
    system = Tenant.system(organization)
    deal_written, activity_written = threading.Event(), threading.Event()

    def deal_held_open():
        with transaction.atomic():
            DealService(system).create(title="Renewal", customer=customer, assigned_to=employee)
            deal_written.set()
            return activity_written.wait(timeout=5)  # while this transaction still holds its locks

    def activity():
        deal_written.wait(timeout=5)
        ActivityService(system).create(type="call", subject="Call", customer=customer, assigned_to=employee)
        activity_written.set()

    assert run_together(deal_held_open, activity)[0] is True


class Staged:
    """Calls started one at a time in their own threads, while one row is held locked by another transaction."""

    def __init__(self, held_rows):
        self.release, held, self.threads, self.results = threading.Event(), threading.Event(), [], []

        def hold():
            with transaction.atomic():
                list(held_rows.select_for_update())
                held.set()
                self.release.wait(10)

        self.start(hold)
        held.wait(10)

    def start(self, call, *, waiters: int = 0):
        """Run `call` in a thread of its own; return once `waiters` transactions wait for a lock."""
        index = len(self.results)
        self.results.append(None)

        def run():
            try:
                self.results[index] = call()
            finally:
                close_thread_connections()

        thread = threading.Thread(target=run)
        thread.start()
        self.threads.append(thread)
        with connection.cursor() as cursor:
            for _ in range(200):
                cursor.execute(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
                if cursor.fetchone()[0] >= waiters:
                    return
                time.sleep(0.05)
        raise AssertionError(f"{waiters} transactions never waited for a lock")

    def finish(self) -> list:
        self.release.set()
        for thread in self.threads:
            thread.join()
        return self.results[1:]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_restore_and_the_trash_of_its_employee_queue_up_instead_of_deadlocking(owner, organization):
    # The employee's trash unassigns their customers first (a held one pauses it there), while the restore
    # holds the deal's customer and waits for the employee.
    employee = EmployeeFactory(organization=organization)
    held = CustomerFactory(organization=organization, assigned_to=employee)
    deal = trashed(
        DealFactory(
            organization=organization,
            assigned_to=employee,
            customer=CustomerFactory(organization=organization, assigned_to=employee),
        )
    )
    clients = [make_client(owner, organization) for _ in range(2)]
    staged = Staged(Customer.objects.filter(pk=held.pk))
    staged.start(lambda: clients[0].delete(f"/api/employees/{employee.id}/"), waiters=1)
    staged.start(lambda: clients[1].post(f"/api/trash/deals/{deal.id}/restore/"), waiters=2)
    deleted, restored = staged.finish()
    assert (deleted.status_code, restored.status_code) == (204, 200), restored.content
    assert restored.json()["assigned_to"] is None


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_restore_and_the_merge_of_its_customer_queue_up_instead_of_deadlocking(owner, organization):
    # The merge locks both customers, then the source's deals, trashed ones too (a held one pauses it there).
    target, source = CustomerFactory(organization=organization), CustomerFactory(organization=organization)
    held = trashed(DealFactory(organization=organization, customer=source))
    deal = trashed(DealFactory(organization=organization, customer=source))
    clients = [make_client(owner, organization) for _ in range(2)]
    staged = Staged(Deal.with_trashed.filter(pk=held.pk))
    merge = {"source_ids": [source.id]}
    staged.start(lambda: clients[0].post(f"/api/customers/{target.id}/merge/", merge, format="json"), waiters=1)
    staged.start(lambda: clients[1].post(f"/api/trash/deals/{deal.id}/restore/"), waiters=2)
    merged, restored = staged.finish()
    assert (merged.status_code, restored.status_code) == (200, 200), restored.content
    assert restored.json()["customer"] == target.id  # the merge moved it, and it comes back there


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_bulk_update_counts_only_the_customers_it_updated_not_those_trashed_meanwhile(owner, organization):
    gone, kept = CustomerFactory(organization=organization), CustomerFactory(organization=organization)
    staged, trashing = Staged(Customer.objects.none()), threading.Event()

    def trash_then_wait():
        with transaction.atomic():
            trashed(gone)
            trashing.set()
            staged.release.wait(10)  # committed once the bulk update waits for it

    staged.start(trash_then_wait)
    assert trashing.wait(10)
    staged.start(
        lambda: make_client(owner, organization).post(
            "/api/customers/bulk-update/", {"ids": [gone.id, kept.id], "data": {"status": "inactive"}}, format="json"
        ),
        waiters=1,
    )
    _, updated = staged.finish()

    assert updated.json() == {"updated": 1}
    assert Customer.with_trashed.get(pk=gone.pk).status != "inactive"
