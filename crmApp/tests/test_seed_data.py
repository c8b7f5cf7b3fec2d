"""`manage.py seed_data`: the documented demo, reruns, determinism and the size options."""

from datetime import timedelta
from io import StringIO

import pytest
from django.apps import apps
from django.core.management import CommandError, call_command
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from crmApp.constants import DEFAULT_PIPELINE_STAGES, DealStatus, LeadSource, LeadStatus, ProfileType
from crmApp.models import (
    CodeSequence,
    Customer,
    Deal,
    Employee,
    HistoryEntry,
    Lead,
    Membership,
    Organization,
    User,
    UserRole,
    Vendor,
)
from crmApp.models.deal import expected_revenue
from crmApp.pagination import VersionedCountPaginator
from crmApp.seeding import writer
from crmApp.seeding.fill import LEAD_HISTORY_FIELDS
from crmApp.seeding.writer import DeferredIndexes, check_references, insert_rows
from crmApp.services.lead_scoring import score_lead
from crmApp.tests.factories import OrganizationFactory, VendorFactory

DEMO_ORGANIZATIONS = ("Acme Corporation", "Globex Industries")


def seed(*args) -> str:
    out = StringIO()
    call_command("seed_data", "--no-progress", *args, stdout=out)
    return out.getvalue()


def row_counts() -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in apps.get_app_config("crmApp").get_models()}


@pytest.fixture
def demo(db):
    seed()
    return {name: Organization.objects.get(name=name) for name in DEMO_ORGANIZATIONS}


def test_demo_admin_is_a_verified_superuser_owning_both_organizations(demo):
    admin = User.objects.get(email="admin@crm.com")
    assert (admin.username, admin.is_superuser, admin.is_staff, admin.is_email_verified) == ("admin", True, True, True)
    assert admin.check_password("admin123")
    for organization in demo.values():
        assert Membership.objects.get(user=admin, organization=organization).role == "owner"
    assert admin.default_organization == demo["Acme Corporation"]


@pytest.mark.parametrize(
    "email, organization, role_names, profile_type",
    [
        ("manager@crm.com", "Acme Corporation", ["Sales Manager"], ProfileType.EMPLOYEE),
        ("manager@crm.com", "Globex Industries", ["Sales Manager"], ProfileType.EMPLOYEE),
        ("rep@crm.com", "Acme Corporation", ["Sales Rep"], ProfileType.EMPLOYEE),
        ("viewer@crm.com", "Acme Corporation", ["Viewer"], ProfileType.EMPLOYEE),
        ("viewer@crm.com", "Globex Industries", ["Viewer"], ProfileType.EMPLOYEE),
        ("customer@crm.com", "Acme Corporation", [], ProfileType.CUSTOMER),
    ],
)
def test_demo_members_hold_their_documented_roles(demo, email, organization, role_names, profile_type):
    user = User.objects.get(email=email)
    assert user.check_password("demo12345")
    membership = Membership.objects.get(user=user, organization=demo[organization])
    assert (membership.role, membership.profile_type) == ("member", profile_type)
    roles = UserRole.objects.filter(user=user, organization=demo[organization]).values_list("role__name", flat=True)
    assert list(roles) == role_names


def test_demo_portal_customer_is_linked_to_its_customer_record_and_deals(demo):
    customer = Customer.objects.get(user__email="customer@crm.com")
    assert customer.organization == demo["Acme Corporation"]
    titles = set(Deal.objects.filter(customer=customer).values_list("title", flat=True))
    assert {"Proposal for Claire Dunn", "Closed Won for Claire Dunn"} <= titles
    assert not Membership.objects.filter(user__email="rep@crm.com", organization=demo["Globex Industries"]).exists()


def test_admin_logs_in_with_the_documented_password(demo, api_client):
    response = api_client.post("/api/auth/login/", {"username": "admin", "password": "admin123"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["access"]


@pytest.mark.parametrize("name", DEMO_ORGANIZATIONS)
def test_demo_covers_every_lead_status_source_and_deal_stage(demo, name):
    organization = demo[name]
    leads = Lead.objects.filter(organization=organization)
    assert set(leads.values_list("status", flat=True)) == set(LeadStatus.values)
    assert set(leads.values_list("source", flat=True)) == set(LeadSource.values)
    stages = set(Deal.objects.filter(organization=organization).values_list("stage__name", flat=True))
    assert stages == {stage[0] for stage in DEFAULT_PIPELINE_STAGES}
    for model in (Employee, Vendor, Customer):
        assert model.objects.filter(organization=organization).exists()
    assert set(Customer.objects.filter(organization=organization).values_list("customer_type", flat=True)) == {
        "individual",
        "business",
    }


def test_demo_leads_carry_scores_and_workflow_dates(demo):
    for lead in Lead.objects.all():
        assert lead.score == score_lead(
            email=lead.email,
            phone=lead.phone,
            company=lead.company,
            job_title=lead.job_title,
            source=lead.source,
            estimated_value=lead.estimated_value,
        )
        if lead.status in (LeadStatus.QUALIFIED, LeadStatus.CONVERTED):
            assert lead.created_at <= lead.qualified_at <= timezone.now()
        if lead.status in (LeadStatus.NEW, LeadStatus.CONTACTED, LeadStatus.UNQUALIFIED):
            assert lead.qualified_at is None
        assert (lead.converted_at is not None) == (lead.status == LeadStatus.CONVERTED)
    assert Lead.objects.filter(status=LeadStatus.LOST, qualified_at__isnull=False).exists()
    linked = Customer.objects.filter(converted_from_lead__isnull=False).select_related("converted_from_lead")
    assert linked.count() > 10
    for customer in linked:
        lead = customer.converted_from_lead
        assert (lead.status, lead.organization_id, customer.created_at) == (
            "converted",
            customer.organization_id,
            lead.converted_at,
        )


def test_demo_deals_are_consistent_with_their_stage_and_spread_over_the_year(demo):
    now = timezone.now()
    closed_months = set()
    for deal in Deal.objects.select_related("stage"):
        assert deal.probability == deal.stage.probability
        assert deal.expected_revenue == expected_revenue(deal.value, deal.probability)
        if deal.stage.is_won or deal.stage.is_lost:
            assert deal.status == (DealStatus.WON if deal.stage.is_won else DealStatus.LOST)
            assert now - timedelta(days=366) <= deal.closed_at <= now
            closed_months.add((deal.closed_at.year, deal.closed_at.month))
        else:
            assert (deal.status, deal.closed_at) == (DealStatus.OPEN, None)
            assert now.date() <= deal.expected_close_date <= now.date() + timedelta(days=190)
        assert now - timedelta(days=366) <= deal.created_at <= now
    assert len(closed_months) >= 8


def test_demo_customers_keep_arriving_in_the_last_sixty_days(demo):
    now = timezone.now()
    recent = Customer.objects.filter(created_at__gte=now - timedelta(days=60))
    assert recent.filter(created_at__gte=now - timedelta(days=30)).exists()
    assert recent.filter(created_at__lt=now - timedelta(days=30)).exists()
    months = {(c.year, c.month) for c in Customer.objects.values_list("created_at", flat=True)}
    assert len(months) >= 8


def test_rerunning_the_demo_changes_nothing(demo):
    before = row_counts()
    codes_before = list(CodeSequence.objects.order_by("id").values_list("prefix", "last_value"))
    assert "already present" in seed()
    assert row_counts() == before
    assert list(CodeSequence.objects.order_by("id").values_list("prefix", "last_value")) == codes_before


def test_demo_leaves_an_existing_admin_account_alone(db):
    User.objects.create_user("admin@crm.com", "another-pass-123", username="admin")
    seed()
    admin = User.objects.get(email="admin@crm.com")
    assert admin.check_password("another-pass-123") and not admin.is_superuser
    assert Organization.objects.filter(name__in=DEMO_ORGANIZATIONS, memberships__user=admin).count() == 2


def _snapshot(organization) -> list[tuple]:
    leads = Lead.objects.filter(organization=organization).order_by("id")
    deals = Deal.objects.filter(organization=organization).order_by("id")
    return [
        *leads.values_list("code", "first_name", "last_name", "status", "source", "score", "estimated_value"),
        *deals.values_list("code", "title", "stage__name", "value", "status"),
    ]


def test_same_seed_gives_the_same_demo(db):
    seed("--seed", "7")
    first = _snapshot(Organization.objects.get(name="Acme Corporation"))
    Organization.objects.all().delete()
    User.objects.all().delete()
    seed("--seed", "7")
    assert _snapshot(Organization.objects.get(name="Acme Corporation")) == first
    Organization.objects.all().delete()
    User.objects.all().delete()
    seed("--seed", "8")
    assert _snapshot(Organization.objects.get(name="Acme Corporation")) != first


SIZES = ("--leads", "300", "--customers", "40", "--deals", "60", "--employees", "5", "--vendors", "3")


def test_size_options_create_exactly_the_requested_counts_with_unique_codes(db):
    output = seed("--organization", "Initech", "--owner", "boss@initech.example", *SIZES)
    organization = Organization.objects.get(name="Initech")
    owner = Membership.objects.get(organization=organization, role="owner").user
    assert owner.email == "boss@initech.example" and owner.check_password("demo12345")
    expected = {
        Lead: ("LEAD", 300),
        Customer: ("CUST", 40),
        Deal: ("DEAL", 60),
        Employee: ("EMP", 5),
        Vendor: ("VEN", 3),
    }
    for model, (prefix, count) in expected.items():
        codes = list(model.objects.filter(organization=organization).values_list("code", flat=True))
        assert sorted(codes) == sorted(f"{prefix}-{n:04d}" for n in range(1, count + 1))
        assert CodeSequence.objects.get(organization=organization, prefix=prefix).last_value == count
    assert "+       300" in output


def test_a_lead_created_after_a_fill_gets_the_next_code(db):
    seed("--organization", "Initech", *SIZES)
    organization = Organization.objects.get(name="Initech")
    lead = Lead(organization=organization, first_name="Next")
    lead.save()
    assert lead.code == "LEAD-0301"


def test_a_fill_refreshes_the_cached_list_count_of_its_organization(db):
    seed("--organization", "Initech", "--leads", "10")
    organization = Organization.objects.get(name="Initech")
    leads = Lead.objects.filter(organization=organization)
    assert VersionedCountPaginator(leads, 25, organization_id=organization.id).count == 10
    seed("--organization", "Initech", "--leads", "30")  # COPY sends no signals
    assert VersionedCountPaginator(leads, 25, organization_id=organization.id).count == 30


def test_size_options_top_up_instead_of_duplicating(db):
    seed("--organization", "Initech", *SIZES)
    before = row_counts()
    seed("--organization", "Initech", *SIZES)
    assert row_counts() == before
    seed("--organization", "Initech", "--leads", "320")
    organization = Organization.objects.get(name="Initech")
    assert Lead.objects.filter(organization=organization).count() == 320
    assert Lead.objects.filter(organization=organization, code="LEAD-0320").exists()


def test_filled_organization_keeps_the_business_rules(db):
    seed("--organization", "Initech", *SIZES)
    organization = Organization.objects.get(name="Initech")
    assert set(Lead.objects.filter(organization=organization).values_list("status", flat=True)) == set(
        LeadStatus.values
    )
    for deal in Deal.objects.filter(organization=organization).select_related("stage", "customer"):
        assert deal.customer.organization_id == organization.id
        assert (deal.probability, deal.expected_revenue) == (
            deal.stage.probability,
            expected_revenue(deal.value, deal.stage.probability),
        )
        assert (deal.closed_at is None) == (deal.status == DealStatus.OPEN)


def test_size_fills_are_deterministic_per_seed(db):
    seed("--organization", "One", "--seed", "3", *SIZES)
    seed("--organization", "Two", "--seed", "3", *SIZES)
    seed("--organization", "Three", "--seed", "4", *SIZES)
    one, two, three = (_snapshot(Organization.objects.get(name=name)) for name in ("One", "Two", "Three"))
    assert one == two
    assert one != three


def test_a_fill_never_touches_another_organization(demo):
    acme_before = _snapshot(demo["Acme Corporation"])
    seed("--organization", "Globex Industries", "--leads", "150")
    assert Lead.objects.filter(organization=demo["Globex Industries"]).count() == 150
    assert _snapshot(demo["Acme Corporation"]) == acme_before


@pytest.mark.parametrize(
    "args, message",
    [
        (("--leads", "10"), "need --organization"),
        (("--organization", "Empty", "--deals", "5"), "Deals need customers"),
        (("--organization", "Empty", "--leads", "-1"), "can't be negative"),
    ],
)
def test_bad_size_options_are_refused(db, args, message):
    with pytest.raises(CommandError, match=message):
        seed(*args)
    assert not Lead.objects.exists() and not Deal.objects.exists()


@pytest.mark.parametrize("owner", ["admin", "admin@", "ad min@crm.com"])
def test_an_owner_that_is_no_email_address_is_refused(db, owner):
    """`admin` (the demo admin's username) made a second account, with the address `admin` and the demo password,
    the new organization's owner instead of the admin; no mail (reset, invitation) could ever reach it."""
    with pytest.raises(CommandError, match="--owner must be an email address"):
        seed("--organization", "Initech", "--owner", owner, "--leads", "1")
    assert not User.objects.exists() and not Organization.objects.filter(name="Initech").exists()


def test_insert_rows_refuses_rows_missing_a_column(db):
    with pytest.raises(ValueError, match="miss the columns"):
        insert_rows(Vendor, ("organization_id", "name"), iter([]))


def test_reference_check_catches_a_row_pointing_at_a_missing_record(organization):
    row = (
        organization.id,
        "2025-01-01 00:00:00",
        "2025-01-01 00:00:00",
        None,
        "VEN-9999",
        "Ghost",
        "",
        "",
        "",
        "",
        "active",
        "",
        2**40,
        "",
    )
    columns = (
        "organization_id",
        "created_at",
        "updated_at",
        "created_by_id",
        "code",
        "name",
        "email",
        "phone",
        "contact_person",
        "vendor_type",
        "status",
        "address",
        "user_id",
        "notes",
    )
    insert_rows(Vendor, columns, iter([[row]]))
    with pytest.raises(IntegrityError, match=r"Vendor\.user points at a missing User"):
        check_references(Vendor, organization_id=organization.id, after_id=0)
    Vendor.objects.filter(code="VEN-9999").delete()  # the test database checks constraints on teardown


@pytest.mark.django_db
def test_a_leads_only_fill_makes_no_converted_lead_without_its_customer(organization):
    call_command("seed_data", organization="Acme", leads=300, no_progress=True, stdout=StringIO())

    leads = Lead.objects.filter(organization=organization)
    assert leads.count() >= 300
    assert not leads.filter(status="converted", converted_customer__isnull=True).exists()
    assert leads.filter(status="qualified").exists()


def index_definitions(*models) -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexdef FROM pg_indexes WHERE tablename = ANY(%s)", [[model._meta.db_table for model in models]]
        )
        return {definition for (definition,) in cursor.fetchall()}


def constraint_definitions(*models) -> set[str]:
    """Constraints as PostgreSQL states them: a unique constraint and a bare unique index look alike in pg_indexes."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT conname || ' ' || pg_get_constraintdef(oid) FROM pg_constraint"
            " WHERE conrelid = ANY(%s::regclass[])",
            [[connection.ops.quote_name(model._meta.db_table) for model in models]],
        )
        return {definition for (definition,) in cursor.fetchall()}


@pytest.mark.postgres
@pytest.mark.django_db
def test_a_bulk_load_builds_the_same_indexes_after_the_rows(organization, monkeypatch):
    monkeypatch.setattr(writer, "BULK_LOAD_ROWS", 50)
    models = (Customer, Lead, Deal, HistoryEntry)
    before = index_definitions(*models), constraint_definitions(*models)

    output = seed("--organization", "Acme", "--customers", "60", "--leads", "300", "--deals", "50")

    assert "indexes of the tables loaded in bulk built" in output
    assert (index_definitions(*models), constraint_definitions(*models)) == before
    assert any("UNIQUE (organization_id, code)" in d for d in before[1])
    assert Lead.objects.filter(organization=organization).count() == 300
    assert not Lead.objects.filter(status="converted", converted_customer__isnull=True).exists()


@pytest.mark.postgres
@pytest.mark.django_db
@pytest.mark.parametrize(
    ("rows_there", "rows_added", "deferred"),
    [
        (0, 50, True),  # a first load
        (5, 50, True),  # the fill makes the table ten times bigger
        (6, 50, False),  # a top-up of a table in use keeps its indexes
        (0, 49, False),  # too few rows to be worth rebuilding
    ],
)
def test_only_a_big_load_into_a_small_table_defers_its_indexes(monkeypatch, rows_there, rows_added, deferred):
    monkeypatch.setattr(writer, "BULK_LOAD_ROWS", 50)
    VendorFactory.create_batch(rows_there)
    before = index_definitions(Vendor), constraint_definitions(Vendor)
    indexes = DeferredIndexes()

    assert indexes.defer(Vendor, rows_added) is deferred
    assert (index_definitions(Vendor) != before[0]) is deferred
    assert (constraint_definitions(Vendor) != before[1]) is deferred
    indexes.build()
    assert (index_definitions(Vendor), constraint_definitions(Vendor)) == before


@pytest.mark.postgres
@pytest.mark.django_db
def test_a_bulk_load_defers_declared_unique_constraints_but_not_a_fields_own(monkeypatch):
    monkeypatch.setattr(writer, "BULK_LOAD_ROWS", 1)
    before = index_definitions(Customer)

    assert DeferredIndexes().defer(Customer, 1)

    during = index_definitions(Customer)
    assert {d for d in before - during if "UNIQUE" in d} == {d for d in before if "customer_unique_code_per_org" in d}
    # The primary key and the one-to-one to the converting lead, which the fill's linking reads.
    assert {d for d in during if "UNIQUE" in d} == {
        d for d in before if "_pkey" in d or ("UNIQUE" in d and "(converted_from_lead_id)" in d)
    }


@pytest.mark.postgres
@pytest.mark.django_db
def test_a_bulk_load_that_repeats_a_code_fails_when_its_constraint_is_built_again(monkeypatch):
    monkeypatch.setattr(writer, "BULK_LOAD_ROWS", 1)
    first, second = VendorFactory.create_batch(2, organization=OrganizationFactory())
    indexes = DeferredIndexes()

    with transaction.atomic():
        assert indexes.defer(Vendor, 20)
        # Accepted while the constraint is deferred, refused when it is built again.
        assert Vendor.objects.filter(pk=second.pk).update(code=first.code) == 1
        with pytest.raises(IntegrityError), transaction.atomic():
            indexes.build()
        transaction.set_rollback(True)

    second.refresh_from_db()
    assert second.code != first.code


@pytest.mark.postgres
@pytest.mark.django_db
def test_a_fill_that_would_repeat_a_code_fails_cleanly_and_writes_nothing(organization, monkeypatch):
    monkeypatch.setattr(writer, "BULK_LOAD_ROWS", 10)
    VendorFactory(organization=organization)
    # Codes numbered behind the rows already there, as after a load that skipped the counters.
    CodeSequence.objects.filter(organization=organization, prefix="VEN").update(last_value=0)

    with pytest.raises(CommandError, match="unique constraint; nothing was written"):
        seed("--organization", "Acme", "--vendors", "20")

    assert Vendor.objects.filter(organization=organization).count() == 1


@pytest.mark.postgres
@pytest.mark.django_db
def test_a_failed_bulk_load_keeps_its_indexes(monkeypatch):
    monkeypatch.setattr(writer, "BULK_LOAD_ROWS", 1)
    before = index_definitions(Vendor)

    with pytest.raises(RuntimeError), transaction.atomic():
        assert DeferredIndexes().defer(Vendor, 1)
        raise RuntimeError("the fill failed")

    assert index_definitions(Vendor) == before


@pytest.mark.django_db
def test_a_filled_lead_has_its_creation_history(organization):
    seed("--organization", "Acme", "--leads", "30")

    for lead in Lead.objects.filter(organization=organization):
        entry = HistoryEntry.objects.get(organization=organization, record_type="lead", record_id=lead.id)
        assert (entry.kind, entry.record_code, entry.at, entry.data) == ("change", lead.code, lead.created_at, {})
        assert entry.changes == [
            {"field": name, "old": None, "new": getattr(lead, name)} for name in LEAD_HISTORY_FIELDS
        ]
