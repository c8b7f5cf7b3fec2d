"""A form sends a record back as it read it: what the API answers, it accepts again unchanged."""

import pytest

from crmApp.models import Customer, Employee, Membership, Team, Vendor
from crmApp.tests.conftest import error_fields
from crmApp.tests.factories import CustomerFactory, EmployeeFactory, VendorFactory

pytestmark = pytest.mark.django_db

LINKED_TO_A_USER = {
    "customers": (CustomerFactory, Customer, "city"),
    "vendors": (VendorFactory, Vendor, "notes"),
    "employees": (EmployeeFactory, Employee, "department"),
}


def make_team(organization, members) -> Team:
    team = Team.objects.create(organization=organization, name="Field")
    team.members.set(members)
    return team


def leave(user, organization) -> None:
    Membership.objects.filter(user=user, organization=organization).update(status="removed")


@pytest.mark.parametrize("method", ["put", "patch"])
@pytest.mark.parametrize("resource", sorted(LINKED_TO_A_USER))
def test_a_record_linked_to_a_member_who_left_may_be_sent_back_with_that_link(
    owner_client, organization, make_member, resource, method
):
    factory, model, label = LINKED_TO_A_USER[resource]
    gone = make_member()
    record = factory(organization=organization, user=gone)
    leave(gone, organization)
    path = f"/api/{resource}/{record.id}/"
    shown = owner_client.get(path).json()

    response = getattr(owner_client, method)(path, {**shown, label: "Changed"}, format="json")

    assert response.status_code == 200, response.content
    record = model.objects.get(pk=record.pk)
    assert (record.user_id, getattr(record, label)) == (gone.id, "Changed")
    # Linking a record to someone who is no longer a member is still refused.
    other = factory(organization=organization)
    assert error_fields(owner_client.patch(f"/api/{resource}/{other.id}/", {"user": gone.id}, format="json")) == {
        "user"
    }


def test_a_member_who_leaves_leaves_their_teams_so_the_team_may_be_sent_back(
    owner_client, organization, other_organization, make_member
):
    gone, staying = make_member(), make_member()
    make_member(user=gone, org=other_organization)
    team, theirs = make_team(organization, [gone, staying]), make_team(other_organization, [gone])
    assert owner_client.delete(f"/api/organizations/{organization.id}/members/{gone.id}/").status_code == 204
    path = f"/api/teams/{team.id}/"
    shown = owner_client.get(path).json()

    response = owner_client.put(path, {**shown, "name": "Renamed"}, format="json")

    assert shown["members"] == [staying.id]
    assert response.status_code == 200, response.content
    assert response.json()["members"] == [staying.id]
    # Their teams in another organization are not this one's to change.
    assert list(theirs.members.all()) == [gone]


def profile_form(client, owner, member, members):
    shown = client.get("/api/users/me/").json()
    answer = client.patch("/api/users/me/", {**shown, "first_name": "Renamed"}, format="json")
    return answer, lambda body: (body["id"], body["first_name"]) == (owner.id, "Renamed")


def member_form(client, owner, member, members):
    shown = next(entry for entry in client.get(members).json()["results"] if entry.get("user_id") == member.id)
    answer = client.patch(f"{members}{member.id}/", {**shown, "profile_type": "vendor"}, format="json")
    return answer, lambda body: (body["user_id"], body["profile_type"]) == (member.id, "vendor")


def invitation_form(client, owner, member, members):
    shown = client.post(members, {"email": "first@example.com"}, format="json").json()
    answer = client.post(members, {**shown, "email": "second@example.com"}, format="json")
    return answer, lambda body: (body["email"], body["status"]) == ("second@example.com", "invited")


def api_key_form(client, owner, member, members):
    created = client.post("/api/api-keys/", {"name": "Zap", "scopes": ["leads:view"]}, format="json").json()
    shown = client.get(f"/api/api-keys/{created['id']}/").json()
    answer = client.post("/api/api-keys/", {**shown, "name": "Zap again"}, format="json")
    return answer, lambda body: body["name"] == "Zap again" and body["id"] != shown["id"]


@pytest.mark.parametrize("form", [profile_form, member_form, invitation_form, api_key_form])
def test_an_account_level_form_may_send_back_what_it_read(owner, owner_client, organization, make_member, form):
    members = f"/api/organizations/{organization.id}/members/"

    answer, stored = form(owner_client, owner, make_member(), members)

    assert answer.status_code in (200, 201), answer.content
    assert stored(answer.json())
