"""A list page's SQL, remembered per process under everything it depends on (crmApp.listing.page_query_key).

A warm page runs the SQL it ran before without building its queryset; every change that could make that
SQL wrong (a write, a narrowed role, another query string, another caller) gives another key.
"""

import pytest
from django.db import connection

from crmApp import listing
from crmApp.constants import RecordScope
from crmApp.models import Lead
from crmApp.serializers.lead import LeadSerializer
from crmApp.tests.conftest import make_client
from crmApp.tests.factories import CustomerFactory, DealFactory, LeadFactory, RoleFactory, UserRoleFactory
from crmApp.viewsets.customer import CustomerViewSet
from crmApp.viewsets.deal import DealViewSet
from crmApp.viewsets.lead import LeadViewSet

pytestmark = pytest.mark.django_db
postgresql_only = pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite's rows need converting")

LISTS = [
    ("/api/leads/", LeadViewSet, LeadFactory),
    ("/api/leads/?status=new&ordering=-score", LeadViewSet, LeadFactory),
    ("/api/leads/?search=a&page_size=2&page=2", LeadViewSet, LeadFactory),
    ("/api/customers/", CustomerViewSet, CustomerFactory),
    ("/api/deals/?ordering=value", DealViewSet, DealFactory),
]


@pytest.fixture
def builds(monkeypatch):
    """The paths whose list queryset was built, in order."""
    built = []
    for viewset in (LeadViewSet, CustomerViewSet, DealViewSet):
        original = viewset.filter_queryset

        def counted(self, queryset, original=original):
            built.append(self.request.get_full_path())
            return original(self, queryset)

        monkeypatch.setattr(viewset, "filter_queryset", counted)
    return built


@postgresql_only
@pytest.mark.parametrize(("path", "viewset", "factory"), LISTS, ids=[path for path, _, _ in LISTS])
def test_a_warm_page_runs_the_sql_it_ran_before_without_building_anything(
    owner_client, organization, builds, path, viewset, factory
):
    factory.create_batch(5, organization=organization)
    answers = [owner_client.get(path) for _ in range(2)]  # the caller's scope, then the page's SQL
    builds.clear()
    answers += [owner_client.get(path) for _ in range(2)]
    assert builds == []
    assert {answer.status_code for answer in answers} == {200}
    assert len({answer.content for answer in answers}) == 1


@postgresql_only
def test_a_long_query_string_is_never_remembered(owner_client, organization, builds):
    LeadFactory.create_batch(2, organization=organization, first_name="Ann")
    path = "/api/leads/?search=" + "+".join(["an"] * 400)
    assert len(path) > listing.MAX_REMEMBERED_QUERY_STRING
    for _ in range(3):
        assert owner_client.get(path).json()["count"] == 2
    assert len(builds) == 3


@postgresql_only
def test_a_write_rebuilds_the_next_page(owner_client, organization, builds):
    LeadFactory.create_batch(3, organization=organization)
    for _ in range(3):
        owner_client.get("/api/leads/")
    builds.clear()
    created = owner_client.post("/api/leads/", {"first_name": "Ada", "last_name": "New"}, format="json")
    assert created.status_code == 201
    listed = owner_client.get("/api/leads/").json()
    assert builds == ["/api/leads/"]
    assert listed["count"] == 4
    assert listed["results"][0]["id"] == created.json()["id"]


@postgresql_only
def test_a_narrowed_role_counts_from_the_next_page(organization, make_member):
    role = RoleFactory(organization=organization, codes=["leads:view"], record_scope=RecordScope.ALL)
    member = make_member()
    UserRoleFactory(user=member, role=role)
    own = LeadFactory(organization=organization, created_by=member)
    LeadFactory.create_batch(2, organization=organization)
    client = make_client(member, organization)
    for _ in range(3):
        assert client.get("/api/leads/").json()["count"] == 3
    role.record_scope = RecordScope.OWN
    role.save()
    listed = client.get("/api/leads/").json()
    assert [lead["id"] for lead in listed["results"]] == [own.id]


@postgresql_only
def test_two_callers_never_share_a_page(organization, other_organization, owner_client, other_client):
    LeadFactory.create_batch(2, organization=organization)
    theirs = LeadFactory(organization=other_organization)
    for _ in range(3):
        owner_client.get("/api/leads/")
    listed = [other_client.get("/api/leads/").json() for _ in range(3)]
    assert [[lead["id"] for lead in page["results"]] for page in listed] == [[theirs.id]] * 3


@postgresql_only
def test_the_last_page_follows_the_count(owner_client, organization):
    LeadFactory.create_batch(3, organization=organization)
    for _ in range(3):
        assert len(owner_client.get("/api/leads/?page_size=2&page=last").json()["results"]) == 1
    owner_client.post("/api/leads/", {"first_name": "Ada", "last_name": "New"}, format="json")
    assert len(owner_client.get("/api/leads/?page_size=2&page=last").json()["results"]) == 2


def test_sql_is_only_taken_for_rows_as_the_orm_reads_them(organization):
    plan = listing.list_plan(LeadSerializer)
    assert listing.plain_sql(plan.select(Lead.objects.none())) is None  # the ORM answers [] by itself
    # SQLite's timestamps and decimals are converted by Django after reading.
    assert (listing.plain_sql(plan.select(Lead.objects.all())) is not None) == (connection.vendor == "postgresql")
