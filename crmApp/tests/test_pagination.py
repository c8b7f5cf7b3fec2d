"""List counts are cached per organization data version, and never stale."""

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from crmApp.caching import mark_organization_changed, query_fingerprint
from crmApp.constants import LeadStatus
from crmApp.models import Lead
from crmApp.pagination import VersionedCountPaginator
from crmApp.services.employee_service import EmployeeService
from crmApp.services.lead_service import LeadService
from crmApp.tenancy import Tenant
from crmApp.tests.factories import EmployeeFactory, LeadFactory, RoleFactory
from crmApp.tests.test_webhooks import make_webhook


def count_of(queryset, organization):
    """The paginator's count, keyed (as a request's key would) by what selects the rows."""
    return VersionedCountPaginator(queryset, 25, organization_id=organization.id, key=query_fingerprint(queryset)).count


def count_queries(queryset, organization) -> int:
    with CaptureQueriesContext(connection) as captured:
        count_of(queryset, organization)
    return len(captured)


@pytest.mark.django_db
def test_repeated_count_of_an_unchanged_list_runs_no_query(organization):
    LeadFactory.create_batch(3, organization=organization)
    leads = Lead.objects.filter(organization=organization)
    assert count_of(leads, organization) == 3
    assert count_queries(leads, organization) == 0


def leads(organization) -> LeadService:
    return LeadService(Tenant.system(organization))


@pytest.mark.django_db
@pytest.mark.parametrize(
    "write",
    [
        pytest.param(lambda org, lead: leads(org).create(first_name="New"), id="create"),
        pytest.param(lambda org, lead: leads(org).delete(lead), id="delete"),
        pytest.param(lambda org, lead: leads(org).update(lead, status=LeadStatus.LOST), id="update"),
        pytest.param(
            lambda org, lead: leads(org).update_rows(Lead.objects.filter(pk=lead.pk), status="lost"), id="bulk"
        ),
        pytest.param(
            lambda org, lead: (
                Lead.objects.filter(pk=lead.pk).update(status="lost") and mark_organization_changed(org.id)
            ),
            id="raw-update-then-invalidate",
        ),
    ],
)
def test_any_write_in_the_organization_makes_the_next_count_exact(organization, write):
    lead = LeadFactory(organization=organization)
    LeadFactory(organization=organization)
    new_leads = Lead.objects.filter(organization=organization, status=LeadStatus.NEW)
    before = count_of(new_leads, organization)
    write(organization, lead)
    assert count_of(new_leads, organization) == new_leads.count() != before


@pytest.mark.django_db
def test_deleting_an_employee_refreshes_the_counts_of_the_records_it_unassigns(organization):
    employee = EmployeeFactory(organization=organization)
    LeadFactory.create_batch(2, organization=organization, assigned_to=employee)
    assigned = Lead.objects.filter(organization=organization, assigned_to__isnull=False)
    assert count_of(assigned, organization) == 2
    EmployeeService(Tenant.system(organization)).delete(employee)
    assert count_of(assigned, organization) == 0


@pytest.mark.django_db
def test_counts_are_cached_per_organization_and_per_filter(organization, other_organization):
    LeadFactory.create_batch(2, organization=organization)
    LeadFactory.create_batch(5, organization=other_organization)
    mine = Lead.objects.filter(organization=organization)
    theirs = Lead.objects.filter(organization=other_organization)
    assert count_of(mine, organization) == 2
    assert count_of(theirs, other_organization) == 5
    assert count_of(mine.filter(status=LeadStatus.LOST), organization) == 0
    leads(other_organization).create(first_name="Theirs")
    assert count_queries(mine, organization) == 0  # another tenant's write leaves our cache alone
    assert count_of(theirs, other_organization) == 6


@pytest.mark.django_db
def test_a_lists_count_is_keyed_by_its_filters_but_not_by_its_page_or_order(owner_client, organization):
    LeadFactory.create_batch(3, organization=organization, status=LeadStatus.NEW)
    LeadFactory(organization=organization, status=LeadStatus.LOST)
    assert owner_client.get("/api/leads/").json()["count"] == 4
    assert owner_client.get("/api/leads/", {"status": "lost"}).json()["count"] == 1
    assert owner_client.get("/api/leads/", {"search": "zzz-nobody"}).json()["count"] == 0
    with CaptureQueriesContext(connection) as captured:
        body = owner_client.get("/api/leads/", {"ordering": "-score", "page_size": 2}).json()
    assert body["count"] == 4
    assert not any("COUNT(" in query["sql"].upper() for query in captured.captured_queries)


# Lists of what is written outside the services' log (roles, teams, keys, webhooks): counted on every request.
UNLOGGED_LISTS = {
    "roles": lambda client, org, owner: client.post("/api/roles/", {"name": "Support"}, format="json"),
    "teams": lambda client, org, owner: client.post("/api/teams/", {"name": "North"}, format="json"),
    "user-roles": lambda client, org, owner: client.post(
        "/api/user-roles/", {"user": owner.id, "role": RoleFactory(organization=org).id}, format="json"
    ),
    "api-keys": lambda client, org, owner: client.post(
        "/api/api-keys/", {"name": "Sync", "scopes": ["leads:view"]}, format="json"
    ),
    "webhooks": lambda client, org, owner: make_webhook(org),
}


@pytest.mark.django_db
@pytest.mark.parametrize("resource", list(UNLOGGED_LISTS))
def test_a_list_of_settings_shows_a_new_entry_in_its_count_at_once(owner_client, owner, organization, resource):
    before = owner_client.get(f"/api/{resource}/").json()["count"]
    UNLOGGED_LISTS[resource](owner_client, organization, owner)
    listed = owner_client.get(f"/api/{resource}/").json()
    assert listed["count"] == before + 1 == len(listed["results"])


@pytest.mark.django_db
def test_purging_the_trash_shows_in_the_audit_log_count_at_once(owner_client, organization):
    lead = LeadFactory(organization=organization)
    owner_client.delete(f"/api/leads/{lead.id}/")
    before = owner_client.get("/api/audit-log/").json()["count"]
    call_command("purge_trash", "--days", "0")
    assert owner_client.get("/api/audit-log/").json()["count"] == before + 1  # its `purged` entry
