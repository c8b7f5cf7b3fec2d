"""API.md › Business rules › Lead workflow: every from × to pair, qualified_at, start states, and assignment."""

import pytest

from crmApp.constants import LeadStatus
from crmApp.exceptions import InvalidTransition
from crmApp.models import Lead
from crmApp.services.lead_service import LeadService
from crmApp.tenancy import Tenant
from crmApp.tests.factories import EmployeeFactory, LeadFactory

ALLOWED = {
    "new": {"contacted", "qualified", "unqualified", "lost"},
    "contacted": {"qualified", "unqualified", "lost"},
    "qualified": {"lost"},  # and converted, but only through convert
    "unqualified": {"contacted", "lost"},
    "converted": set(),
    "lost": set(),
}
STATUSES = [status.value for status in LeadStatus]
PAIRS = [(source, target) for source in STATUSES for target in STATUSES]


def expected_outcome(source: str, target: str) -> int:
    if source == target:
        return 200  # same status: nothing to move
    return 200 if target in ALLOWED[source] else 400


def test_the_table_covers_every_pair():
    assert len(PAIRS) == 36
    assert sum(expected_outcome(s, t) == 200 and s != t for s, t in PAIRS) == 10


@pytest.mark.django_db
@pytest.mark.parametrize(("source", "target"), PAIRS)
def test_patch_status_follows_the_workflow_table(owner_client, organization, source, target):
    lead = LeadFactory(organization=organization, status=source)
    response = owner_client.patch(f"/api/leads/{lead.id}/", {"status": target}, format="json")
    expected = expected_outcome(source, target)
    assert response.status_code == expected, response.json()
    lead.refresh_from_db()
    if expected == 200:
        assert response.json()["status"] == target
        assert lead.status == target
    else:
        assert response.json()["code"] == "invalid_transition"
        assert lead.status == source


@pytest.mark.django_db
@pytest.mark.parametrize(("source", "target"), [pair for pair in PAIRS if pair[0] != pair[1]])
def test_change_status_service_follows_the_workflow_table(organization, owner, source, target):
    lead = LeadFactory(organization=organization, status=source)
    service = LeadService(Tenant.system(organization, user=owner))
    if target in ALLOWED[source]:
        assert service.change_status(lead, target).status == target
        assert Lead.objects.get(pk=lead.pk).status == target
    else:
        with pytest.raises(InvalidTransition):
            service.change_status(lead, target)
        assert Lead.objects.get(pk=lead.pk).status == source


@pytest.mark.django_db
def test_patch_to_converted_is_refused_even_from_qualified(owner_client, organization):
    lead = LeadFactory(organization=organization, status="qualified")
    response = owner_client.patch(f"/api/leads/{lead.id}/", {"status": "converted"}, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_transition"
    assert "convert" in response.json()["detail"]
    lead.refresh_from_db()
    assert (lead.status, lead.converted_at) == ("qualified", None)


@pytest.mark.django_db
def test_entering_qualified_sets_qualified_at_and_losing_keeps_it(owner_client, organization):
    lead = LeadFactory(organization=organization)
    assert lead.qualified_at is None
    contacted = owner_client.patch(f"/api/leads/{lead.id}/", {"status": "contacted"}, format="json")
    assert contacted.json()["qualified_at"] is None
    qualified = owner_client.patch(f"/api/leads/{lead.id}/", {"status": "qualified"}, format="json")
    stamp = qualified.json()["qualified_at"]
    assert stamp is not None
    lost = owner_client.patch(f"/api/leads/{lead.id}/", {"status": "lost"}, format="json")
    assert lost.json()["status"] == "lost"
    assert lost.json()["qualified_at"] == stamp
    lead.refresh_from_db()
    assert lead.qualified_at is not None


@pytest.mark.django_db
def test_illegal_status_in_a_patch_stores_none_of_the_other_fields(owner_client, organization):
    lead = LeadFactory(organization=organization, status="lost", company="Old")
    response = owner_client.patch(f"/api/leads/{lead.id}/", {"status": "new", "company": "New"}, format="json")
    assert response.status_code == 400
    lead.refresh_from_db()
    assert (lead.status, lead.company) == ("lost", "Old")


@pytest.mark.django_db
def test_sent_qualified_at_and_converted_at_are_ignored(owner_client, organization):
    lead = LeadFactory(organization=organization)
    body = {"qualified_at": "2020-01-01T00:00:00Z", "converted_at": "2020-01-01T00:00:00Z", "converted_customer": 1}
    response = owner_client.patch(f"/api/leads/{lead.id}/", body, format="json")
    assert response.status_code == 200
    lead.refresh_from_db()
    assert (lead.qualified_at, lead.converted_at) == (None, None)
    assert response.json()["converted_customer"] is None


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (None, 201),
        ("new", 201),
        ("contacted", 201),
        ("qualified", 201),
        ("unqualified", 201),
        ("converted", 400),
        ("lost", 400),
        ("bogus", 400),
    ],
)
def test_create_starts_in_any_non_final_status(owner_client, status, expected):
    body = {"first_name": "Ada"} | ({"status": status} if status else {})
    response = owner_client.post("/api/leads/", body, format="json")
    assert response.status_code == expected, response.json()
    if expected == 201:
        assert response.json()["status"] == (status or "new")
        assert (response.json()["qualified_at"] is not None) == (status == "qualified")
    else:
        assert Lead.objects.count() == 0
        if status in ("converted", "lost"):
            assert response.json()["code"] == "invalid_transition"


@pytest.mark.django_db
def test_change_status_to_the_same_status_is_a_no_op(organization, owner):
    lead = LeadFactory(organization=organization, status="converted")
    assert LeadService(Tenant.system(organization, user=owner)).change_status(lead, "converted").status == "converted"


# --- assign ---------------------------------------------------------------------------------------
@pytest.mark.django_db
def test_assign_sets_and_null_clears_the_employee(owner_client, organization):
    lead = LeadFactory(organization=organization, status="contacted")
    employee = EmployeeFactory(organization=organization)
    response = owner_client.post(f"/api/leads/{lead.id}/assign/", {"employee": employee.id}, format="json")
    assert response.status_code == 200
    assert (response.json()["assigned_to"], response.json()["status"]) == (employee.id, "contacted")
    assert Lead.objects.get(pk=lead.pk).assigned_to_id == employee.id
    cleared = owner_client.post(f"/api/leads/{lead.id}/assign/", {"employee": None}, format="json")
    assert cleared.status_code == 200
    assert Lead.objects.get(pk=lead.pk).assigned_to_id is None


@pytest.mark.django_db
@pytest.mark.parametrize("employee", ["foreign", 999999, "abc", 2**70, True, {}, "missing"])
def test_assign_refuses_foreign_missing_and_malformed_employees(
    owner_client, organization, other_organization, employee
):
    lead = LeadFactory(organization=organization)
    if employee == "foreign":
        employee = EmployeeFactory(organization=other_organization).id
    body = {} if employee == "missing" else {"employee": employee}
    response = owner_client.post(f"/api/leads/{lead.id}/assign/", body, format="json")
    assert response.status_code == 400
    assert "employee" in response.json()["errors"]
    assert Lead.objects.get(pk=lead.pk).assigned_to_id is None


@pytest.mark.django_db
def test_foreign_employee_in_assigned_to_is_a_400(owner_client, organization, other_organization):
    foreign = EmployeeFactory(organization=other_organization)
    response = owner_client.post("/api/leads/", {"first_name": "Ada", "assigned_to": foreign.id}, format="json")
    assert response.status_code == 400
    assert "assigned_to" in response.json()["errors"]
    assert Lead.objects.count() == 0


@pytest.mark.django_db
def test_service_refuses_employees_and_pipelines_of_another_organization(organization, other_organization, owner):
    from crmApp.exceptions import BusinessRuleViolation
    from crmApp.models import Pipeline

    service = LeadService(Tenant.system(organization, user=owner))
    lead = LeadFactory(organization=organization, status="qualified")
    with pytest.raises(BusinessRuleViolation):
        service.assign(lead, EmployeeFactory(organization=other_organization))
    with pytest.raises(BusinessRuleViolation):
        service.update(lead, assigned_to=EmployeeFactory(organization=other_organization))
    with pytest.raises(BusinessRuleViolation):
        service.convert(lead, create_deal=True, pipeline=Pipeline.objects.get(organization=other_organization))
    lead.refresh_from_db()
    assert (lead.assigned_to_id, lead.status) == (None, "qualified")


@pytest.mark.django_db
def test_a_converted_lead_keeps_its_status_while_other_fields_change(owner_client, organization):
    lead = LeadFactory(organization=organization, status="converted")
    response = owner_client.patch(f"/api/leads/{lead.id}/", {"notes": "Follow-up done."}, format="json")
    assert response.status_code == 200
    lead.refresh_from_db()
    assert (lead.status, lead.notes) == ("converted", "Follow-up done.")
