"""Tallies: the triggers keep them on every kind of write, and the figures read from them are the records' own."""

import io
import random
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from crmApp import tallies
from crmApp.constants import CustomerStatus, DealStatus, LeadSource, LeadStatus
from crmApp.models import Customer, Deal, Lead, LeadTally
from crmApp.seeding.fill import Counts, fill_organization
from crmApp.services.analytics_service import AnalyticsService
from crmApp.services.lead_service import LeadService
from crmApp.services.organization_service import delete_organization
from crmApp.tenancy import Tenant
from crmApp.tests.factories import (
    CustomerFactory,
    DealFactory,
    EmployeeFactory,
    LeadFactory,
    OrganizationFactory,
    default_stage,
)

pytestmark = pytest.mark.postgres  # SQLite keeps no tallies: its figures are always counted from the records


def _sorted(rows):
    return sorted(rows, key=lambda row: repr(sorted(row.items())))


def counted_both_ways(kind: tallies.Tallied, organization_id: int) -> tuple[list, list]:
    """The organization's totals per full group: from its tally, and counted from its records."""
    by = tuple(kind.groups)
    records = kind.model.objects.filter(organization_id=organization_id)
    tallied = tallies.totals(kind, records, by, organization_id=organization_id, whole=True)
    counted = tallies.totals(kind, records, by, organization_id=organization_id, whole=False)
    return _sorted(tallied), _sorted(counted)


def assert_tallies_match(*organizations):
    for organization in organizations:
        for kind in tallies.TALLIED:
            tallied, counted = counted_both_ways(kind, organization.id)
            assert tallied == counted, kind.model.__name__


@pytest.fixture
def busy(organization):
    """An organization with leads, deals and customers in several groups, two of them assigned."""
    employees = EmployeeFactory.create_batch(2, organization=organization)
    for index, (status, source) in enumerate(
        [(LeadStatus.NEW, LeadSource.WEBSITE), (LeadStatus.QUALIFIED, LeadSource.REFERRAL), (LeadStatus.LOST, "other")]
        * 3
    ):
        LeadFactory(
            organization=organization,
            status=status,
            source=source,
            qualified_at=timezone.now() if status == LeadStatus.QUALIFIED else None,
            assigned_to=employees[index % 2] if index % 3 else None,
            email=f"lead{index}@example.com",
        )
    for value, stage in (("1000.10", "Prospecting"), ("250.05", "Closed Won"), ("99.99", "Closed Lost")):
        stage = default_stage(organization, stage)
        DealFactory(organization=organization, value=Decimal(value), assigned_to=employees[0], stage=stage)
    return organization


def test_the_tallies_follow_every_kind_of_write(busy, other_organization):
    LeadFactory.create_batch(4, organization=other_organization)
    Lead.objects.bulk_create(
        [
            Lead(organization=busy, code=f"LEAD-B{n}", first_name="Bulk", source=LeadSource.EVENT, score=7)
            for n in range(3)
        ]
    )
    assert_tallies_match(busy, other_organization)

    leads = Lead.objects.filter(organization=busy)
    leads.filter(status=LeadStatus.NEW).update(status=LeadStatus.CONTACTED, score=55)  # a bulk move
    leads.filter(source=LeadSource.EVENT).update(first_name="Renamed")  # no group moves: no tally row
    first, second = leads.order_by("id")[:2]
    Lead.objects.filter(pk=first.pk).update(deleted_at=timezone.now())  # to the trash
    Lead.with_trashed.filter(pk=first.pk).update(deleted_at=None)  # and back
    Lead.objects.filter(pk=second.pk).update(deleted_at=timezone.now())
    Lead.with_trashed.filter(pk=second.pk).delete()  # purged from the trash: already gone from the tally
    Lead.objects.filter(assigned_to__isnull=False).order_by("id")[:1].get().delete()  # purged while live
    Deal.objects.filter(organization=busy, status=DealStatus.OPEN).update(value=Decimal("12.34"))
    Customer.objects.filter(organization=busy).update(status=CustomerStatus.INACTIVE)
    CustomerFactory(organization=busy)

    assert_tallies_match(busy, other_organization)
    assert Lead.objects.filter(organization=other_organization).count() == 4


def test_the_tallies_follow_the_api(busy, owner_client):
    """Create, qualify and convert a lead, win its deal, trash and restore it, and bulk-edit customers."""
    lead = owner_client.post(
        "/api/leads/", {"first_name": "Ada", "company": "Engines", "source": "website"}, format="json"
    )
    lead_url = f"/api/leads/{lead.json()['id']}/"
    assert owner_client.patch(lead_url, {"status": "qualified"}, format="json").status_code == 200
    converted = owner_client.post(
        f"{lead_url}convert/", {"create_deal": True, "deal_value": "512.25"}, format="json"
    ).json()
    deal_url = f"/api/deals/{converted['deal']['id']}/"
    won = default_stage(busy, "Closed Won").id
    assert owner_client.post(f"{deal_url}move-stage/", {"stage": won}, format="json").status_code == 200
    assert owner_client.delete(deal_url).status_code == 204
    assert_tallies_match(busy)
    assert owner_client.post(f"/api/trash/deals/{converted['deal']['id']}/restore/").status_code == 200
    ids = list(Customer.objects.filter(organization=busy).values_list("id", flat=True))
    body = {"ids": ids, "data": {"status": CustomerStatus.PROSPECT}}
    assert owner_client.post("/api/customers/bulk-update/", body, format="json").json()["updated"] == len(ids)
    assert_tallies_match(busy)
    figures = owner_client.get("/api/analytics/dashboard/").json()
    assert figures["revenue"]["total"] == "762.30"  # 250.05 + 512.25, both won
    assert figures["leads"]["converted"] == 1


def test_a_change_that_moves_no_group_adds_no_tally_row(busy):
    rows = LeadTally.objects.count()
    Lead.objects.filter(organization=busy).update(first_name="Same groups", last_name="Same totals")
    assert LeadTally.objects.count() == rows


def test_a_rolled_back_write_leaves_the_tallies_as_they_were(busy):
    before = counted_both_ways(tallies.LEADS, busy.id)[0]
    with pytest.raises(RuntimeError), transaction.atomic():
        LeadFactory.create_batch(2, organization=busy)
        raise RuntimeError
    assert counted_both_ways(tallies.LEADS, busy.id)[0] == before


def test_a_read_sums_many_changes_into_one_row_per_group(busy, other_organization, monkeypatch):
    LeadFactory.create_batch(2, organization=other_organization)
    monkeypatch.setattr(tallies, "COMPACT_AFTER", 3)
    leads = Lead.objects.filter(organization=busy).order_by("id")
    for lead in leads[:4]:
        Lead.objects.filter(pk=lead.pk).update(score=lead.score + 1)
    before = counted_both_ways(tallies.LEADS, busy.id)

    tallies.totals(tallies.LEADS, leads, ("status",), organization_id=busy.id, whole=True)

    mine = LeadTally.objects.filter(organization_id=busy.id)
    assert not mine.filter(pending=True).exists()
    assert mine.count() == len(before[1])  # one row per group that holds a lead
    assert counted_both_ways(tallies.LEADS, busy.id) == before
    assert LeadTally.objects.filter(organization_id=other_organization.id, pending=True).exists()  # untouched


def test_a_compaction_keeps_a_group_whose_amounts_alone_moved(busy):
    """Another compaction may have taken the group's other rows: a new score is all this one sees of it."""
    LeadTally.objects.filter(organization_id=busy.id).delete()
    group = {"status": LeadStatus.NEW, "source": LeadSource.WEBSITE, "qualified": False, "assigned_to_id": None}
    LeadTally.objects.create(organization_id=busy.id, records=0, score_sum=40, **group)
    LeadTally.objects.create(organization_id=busy.id, records=1, score_sum=-5, **{**group, "status": "lost"})
    LeadTally.objects.create(organization_id=busy.id, records=-1, score_sum=5, **{**group, "status": "lost"})

    tallies.compact(tallies.LEADS, busy.id)

    assert list(LeadTally.objects.filter(organization_id=busy.id).values("status", "records", "score_sum")) == [
        {"status": LeadStatus.NEW, "records": 0, "score_sum": 40}
    ]


def test_counting_again_holds_writes_off_until_the_transaction_ends(busy):
    tallies.rebuild(busy.id)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relation::regclass::text, mode FROM pg_locks WHERE pid = pg_backend_pid() AND relation IS NOT NULL"
        )
        held = set(cursor.fetchall())
    assert {('"crmApp_lead"', "ShareLock"), ('"crmApp_leadtally"', "ShareRowExclusiveLock")} <= held
    assert_tallies_match(busy)


def test_count_tallies_counts_every_organization_again(busy, other_organization):
    LeadFactory(organization=other_organization)
    LeadTally.objects.all().delete()
    call_command("count_tallies", stdout=io.StringIO())
    assert_tallies_match(busy, other_organization)
    with pytest.raises(CommandError, match="No organization with id 999999"):
        call_command("count_tallies", organization=[999999])


def test_deleting_an_organization_deletes_its_tallies(busy, other_organization):
    LeadFactory(organization=other_organization)
    delete_organization(busy)
    assert not LeadTally.objects.filter(organization_id=busy.id).exists()
    assert LeadTally.objects.filter(organization_id=other_organization.id).exists()


def test_a_seeded_organization_starts_with_its_tallies(db, owner):
    organization = OrganizationFactory(name="Seeded")
    fill_organization(
        organization,
        targets=Counts(employees=3, customers=20, leads=60, deals=30),
        rng=random.Random(5),
        author=owner,
    )
    assert_tallies_match(organization)
    assert sum(row["records"] for row in counted_both_ways(tallies.LEADS, organization.id)[0]) == 60


REPORTS = {
    "dashboard": lambda tenant: AnalyticsService(tenant).dashboard(),
    "sales funnel": lambda tenant: AnalyticsService(tenant).sales_funnel(),
    "employee performance": lambda tenant: AnalyticsService(tenant).employee_performance(),
    "lead stats": lambda tenant: LeadService(tenant).stats(),
}


@pytest.mark.parametrize("report", REPORTS.values(), ids=REPORTS.keys())
def test_a_report_gives_the_same_figures_from_the_tallies_and_from_the_records(busy, report, monkeypatch):
    trashed = Lead.objects.filter(organization=busy).earliest("id")
    Lead.objects.filter(pk=trashed.pk).update(deleted_at=timezone.now() - timedelta(days=1))
    tenant = Tenant.system(busy)
    tallied = report(tenant)
    with monkeypatch.context() as patched:
        patched.setattr(tallies, "kept", lambda: False)
        counted = report(tenant)
    assert tallied == counted


def test_the_whole_organization_reads_its_tally(busy, django_assert_num_queries):
    """One query for the lead stats, whatever the number of leads."""
    service = LeadService(Tenant.system(busy))
    with django_assert_num_queries(1) as captured:
        service.stats()
    assert LeadTally._meta.db_table in captured.captured_queries[0]["sql"]


LISTS = {"/api/leads/": tallies.LEADS, "/api/deals/": tallies.DEALS, "/api/customers/": tallies.CUSTOMERS}


def reads_table(captured, table: str) -> bool:
    return any(f'"{table}"' in query["sql"] for query in captured.captured_queries)


@pytest.mark.parametrize("path", LISTS)
def test_a_whole_list_takes_its_count_from_the_tally(busy, owner_client, path):
    model, table = LISTS[path].model, LISTS[path].tally._meta.db_table
    model.objects.filter(pk=model.objects.filter(organization=busy).earliest("id").pk).update(deleted_at=timezone.now())
    live = model.objects.filter(organization=busy).count()
    with CaptureQueriesContext(connection) as plain:
        assert owner_client.get(path).json()["count"] == live
    assert reads_table(plain, table)
    with CaptureQueriesContext(connection) as filtered:  # a filter may leave records out: they are counted
        assert owner_client.get(path, {"created_after": "2000-01-01"}).json()["count"] == live
    assert not reads_table(filtered, table)
