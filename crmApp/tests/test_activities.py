"""Activities: about a customer, lead or deal of the organization; complete, reopen, filters, RBAC."""

from datetime import timedelta

import pytest
from django.utils import timezone

from crmApp.constants import ProfileType
from crmApp.models import Activity
from crmApp.tests.conftest import error_fields, make_client
from crmApp.tests.factories import CustomerFactory, DealFactory, EmployeeFactory, LeadFactory

pytestmark = pytest.mark.django_db
ACTIVITIES = "/api/activities/"


def create(client, **fields):
    return client.post(ACTIVITIES, {"type": "call", "subject": "Intro call", **fields}, format="json")


def test_an_activity_is_created_with_its_code_and_links(owner_client, owner, organization):
    lead = LeadFactory(organization=organization)
    employee = EmployeeFactory(organization=organization)
    due = (timezone.now() + timedelta(days=2)).replace(microsecond=0)

    response = create(
        owner_client, lead=lead.id, assigned_to=employee.id, due_at=due.isoformat(), body="Ask for budget"
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["code"], body["type"], body["lead"], body["assigned_to"]) == ("ACT-0001", "call", lead.id, employee.id)
    assert (body["is_done"], body["done_at"], body["done_by"], body["version"]) == (False, None, None, 1)
    assert body["created_by"] == owner.id
    assert response["ETag"] == '"1"'


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({}, "non_field_errors"),
        ({"lead": None, "customer": None}, "non_field_errors"),
        ({"lead": "foreign"}, "lead"),
        ({"customer": "foreign"}, "customer"),
        ({"deal": "foreign"}, "deal"),
        ({"lead": "mine", "type": "fax"}, "type"),
        ({"lead": "mine", "subject": ""}, "subject"),
        ({"lead": "mine", "subject": "x" * 201}, "subject"),
        ({"lead": "mine", "body": "x" * 10_001}, "body"),
        ({"lead": "mine", "due_at": "tomorrow"}, "due_at"),
        ({"lead": "mine", "due_at": "2024-01-01T00:00:00+16:00"}, "due_at"),
        ({"lead": "mine", "is_done": True, "done_at": "2024-01-01T00:00:00Z"}, None),
    ],
)
def test_invalid_activities_are_400_on_the_field(owner_client, organization, other_organization, fields, field):
    mine, foreign = LeadFactory(organization=organization), LeadFactory(organization=other_organization)
    links = {"mine": mine.id, "foreign": foreign.id}
    other = {
        "customer": CustomerFactory(organization=other_organization).id,
        "deal": DealFactory(organization=other_organization).id,
    }
    body = {
        key: (links.get(value, value) if key == "lead" else other[key] if value == "foreign" else value)
        for key, value in fields.items()
    }

    response = create(owner_client, **body)

    if field is None:  # read-only fields sent by the client are ignored
        assert response.status_code == 201 and response.json()["is_done"] is False
        return
    assert response.status_code == 400, response.content
    assert field in error_fields(response)
    assert not Activity.objects.exists()


def test_complete_keeps_the_first_done_at_and_reopen_clears_it(owner_client, owner, organization):
    activity = create(owner_client, lead=LeadFactory(organization=organization).id).json()
    url = f"{ACTIVITIES}{activity['id']}/"

    done = owner_client.post(f"{url}complete/").json()
    again = owner_client.post(f"{url}complete/").json()
    assert (done["is_done"], done["done_by"], done["version"]) == (True, owner.id, 2)
    assert (again["done_at"], again["version"]) == (done["done_at"], 2)

    reopened = owner_client.post(f"{url}reopen/").json()
    assert (reopened["is_done"], reopened["done_at"], reopened["done_by"], reopened["version"]) == (
        False,
        None,
        None,
        3,
    )


def test_the_overdue_count_moves_with_the_clock_without_any_write(owner_client, organization, monkeypatch):
    lead = LeadFactory(organization=organization)
    soon = timezone.now() + timedelta(hours=1)
    create(owner_client, lead=lead.id, due_at=soon.isoformat())
    assert owner_client.get(ACTIVITIES, {"overdue": "true"}).json()["count"] == 0

    later = soon + timedelta(minutes=1)
    monkeypatch.setattr(timezone, "now", lambda: later)  # no write: only time passed

    assert owner_client.get(ACTIVITIES, {"overdue": "true"}).json()["count"] == 1
    assert owner_client.get(ACTIVITIES, {"overdue": "false"}).json()["count"] == 0


def test_filters_mine_overdue_and_open(owner_client, owner, organization):
    me = EmployeeFactory(organization=organization, user=owner)
    someone = EmployeeFactory(organization=organization)
    lead = LeadFactory(organization=organization)
    past, future = timezone.now() - timedelta(days=1), timezone.now() + timedelta(days=1)
    mine_overdue = create(owner_client, lead=lead.id, assigned_to=me.id, due_at=past.isoformat()).json()
    mine_later = create(owner_client, lead=lead.id, assigned_to=me.id, due_at=future.isoformat()).json()
    theirs_overdue = create(owner_client, lead=lead.id, assigned_to=someone.id, due_at=past.isoformat()).json()
    done_overdue = create(owner_client, lead=lead.id, assigned_to=me.id, due_at=past.isoformat()).json()
    owner_client.post(f"{ACTIVITIES}{done_overdue['id']}/complete/")

    def ids(**params):
        response = owner_client.get(ACTIVITIES, params)
        assert response.status_code == 200, response.content
        return {row["id"] for row in response.json()["results"]}

    assert ids(assigned_to="me", is_done="false") == {mine_overdue["id"], mine_later["id"]}
    assert ids(overdue="true") == {mine_overdue["id"], theirs_overdue["id"]}
    assert ids(overdue="false") == {mine_later["id"], done_overdue["id"]}
    assert ids(is_done="true") == {done_overdue["id"]}
    assert ids(due_after=timezone.now().isoformat()) == {mine_later["id"]}
    assert ids(lead=lead.id, type="call") == {
        mine_overdue["id"],
        mine_later["id"],
        theirs_overdue["id"],
        done_overdue["id"],
    }
    by_due = [row["due_at"] for row in owner_client.get(ACTIVITIES, {"ordering": "due_at"}).json()["results"]]
    assert by_due == sorted(by_due)
    for bad in ({"is_done": "maybe"}, {"overdue": ""}, {"assigned_to": "you"}, {"type": "fax"}):
        assert owner_client.get(ACTIVITIES, bad).status_code == 400


@pytest.mark.parametrize(
    ("method", "path", "code"),
    [
        ("get", "", "activities:view"),
        ("post", "", "activities:create"),
        ("patch", "{id}/", "activities:update"),
        ("post", "{id}/complete/", "activities:update"),
        ("delete", "{id}/", "activities:delete"),
    ],
)
def test_each_activity_action_needs_its_code(member_client, organization, method, path, code):
    lead = LeadFactory(organization=organization)
    activity = Activity.objects.create(organization=organization, subject="Call", lead=lead)
    url = f"{ACTIVITIES}{path.format(id=activity.id)}"
    body = (
        {"subject": "Call again", "lead": lead.id} if method in ("post", "patch") and "complete" not in path else None
    )

    without = getattr(member_client(["leads:view"]), method)(url, body, format="json")
    holding = getattr(member_client([code, "activities:view"]), method)(url, body, format="json")

    assert without.status_code == 403
    assert holding.status_code in (200, 201, 204)


def test_portal_customers_never_see_activities(make_member, organization):
    portal = make_client(make_member(profile_type=ProfileType.CUSTOMER), organization)
    assert portal.get(ACTIVITIES).status_code == 403


def test_another_organizations_activities_are_404_and_never_listed(owner_client, other_organization):
    foreign = Activity.objects.create(
        organization=other_organization, subject="Theirs", lead=LeadFactory(organization=other_organization)
    )
    assert owner_client.get(f"{ACTIVITIES}{foreign.id}/").status_code == 404
    assert owner_client.post(f"{ACTIVITIES}{foreign.id}/complete/").status_code == 404
    assert owner_client.get(ACTIVITIES).json()["count"] == 0


@pytest.mark.parametrize("page_size", [1, 100])
def test_the_activity_list_runs_a_constant_number_of_queries(
    owner_client, organization, page_size, django_assert_max_num_queries
):
    lead = LeadFactory(organization=organization)
    for number in range(5):
        create(owner_client, lead=lead.id, subject=f"Call {number}")
    with django_assert_max_num_queries(4):
        response = owner_client.get(ACTIVITIES, {"page_size": page_size})
    assert len(response.json()["results"]) == min(page_size, 5)
