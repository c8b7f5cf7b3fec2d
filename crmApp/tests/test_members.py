"""`/api/organizations/{id}/members/`: listing, inviting, changing and removing members."""

import threading
from datetime import timedelta

import pytest
from django.utils import timezone

from crmApp.constants import MembershipRole, ProfileType
from crmApp.models import Membership, User, UserRole, Webhook, WebhookDelivery
from crmApp.services.integration_service import CREATOR_REMOVED
from crmApp.services.organization_service import MemberService
from crmApp.tests.conftest import close_thread_connections, make_client
from crmApp.tests.factories import MembershipFactory, RoleFactory, UserFactory, UserRoleFactory
from crmApp.tests.test_webhooks import make_webhook, public_dns

pytestmark = pytest.mark.django_db
__all__ = ["public_dns"]  # the fixture

OWNER, ADMIN, MEMBER = MembershipRole.OWNER, MembershipRole.ADMIN, MembershipRole.MEMBER


def members_url(organization) -> str:
    return f"/api/organizations/{organization.id}/members/"


def member_url(organization, user_id) -> str:
    return f"{members_url(organization)}{user_id}/"


def membership(user, organization) -> Membership:
    return Membership.objects.get(user=user, organization=organization)


# --- list -----------------------------------------------------------------------------------------
def test_any_internal_member_lists_the_active_members_and_open_invitations(owner, organization, make_member):
    member = make_member(profile_type=ProfileType.VENDOR)
    gone = make_member()
    Membership.objects.filter(user=gone).update(status="removed")
    invited = MembershipFactory(organization=organization, status="invited", invited_at=timezone.now())

    response = make_client(member).get(members_url(organization))

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 3
    first = body["results"][0]
    assert set(first) == {
        "user_id",
        "email",
        "first_name",
        "last_name",
        "role",
        "profile_type",
        "status",
        "is_active",
        "joined_at",
    }
    assert (first["user_id"], first["email"], first["first_name"], first["role"], first["status"]) == (
        owner.id,
        "owner@example.com",
        owner.first_name,
        "owner",
        "active",
    )
    assert [(m.get("user_id"), m["role"], m["profile_type"]) for m in body["results"][:2]] == [
        (owner.id, "owner", "employee"),
        (member.id, "member", "vendor"),
    ]
    # An invitation shows what the inviter typed and nothing of the account behind the address.
    assert body["results"][2] == {
        "invitation_id": invited.id,
        "email": invited.user.email,
        "role": "member",
        "profile_type": "employee",
        "status": "invited",
        "invited_at": body["results"][2]["invited_at"],
    }


def test_an_expired_invitation_is_neither_listed_nor_changed(owner_client, organization):
    # Past its 7 days its link answers `invalid_token`: it is no open invitation any more.
    expired = MembershipFactory(
        organization=organization, status="invited", invited_at=timezone.now() - timedelta(days=7, minutes=1)
    )
    MembershipFactory(organization=organization, status="invited", invited_at=timezone.now() - timedelta(days=6))
    invitation_url = f"/api/organizations/{organization.id}/invitations/{expired.id}/"

    listed = owner_client.get(members_url(organization)).json()

    assert listed["count"] == 2
    assert expired.id not in [entry.get("invitation_id") for entry in listed["results"]]
    member = member_url(organization, expired.user_id)
    assert owner_client.patch(member, {"role": "admin"}, format="json").status_code == 404
    assert owner_client.delete(member).status_code == 404
    assert owner_client.delete(invitation_url).status_code == 404
    assert Membership.objects.get(pk=expired.pk).role == MEMBER


def test_a_members_is_active_says_whether_their_account_can_sign_in(owner, owner_client, organization, make_member):
    deactivated = make_member()
    User.objects.filter(pk=deactivated.pk).update(is_active=False)

    listed = owner_client.get(members_url(organization)).json()["results"]
    changed = owner_client.patch(member_url(organization, deactivated.id), {"profile_type": "vendor"}, format="json")

    assert {entry["user_id"]: entry["is_active"] for entry in listed} == {owner.id: True, deactivated.id: False}
    assert (changed.status_code, changed.json()["is_active"]) == (200, False)


def test_a_portal_customer_cannot_list_the_members(make_member, organization):
    portal = make_member(profile_type=ProfileType.CUSTOMER)
    assert make_client(portal).get(members_url(organization)).status_code == 403


def test_members_of_an_organization_the_caller_is_not_in_are_404(owner_client, other_organization):
    assert owner_client.get(members_url(other_organization)).status_code == 404
    response = owner_client.post(members_url(other_organization), {"email": "x@example.com"}, format="json")
    assert response.status_code == 404
    assert not User.objects.filter(email="x@example.com").exists()


@pytest.mark.parametrize("page_size", [1, 100])
def test_member_list_runs_a_constant_number_of_queries(
    owner_client, organization, make_member, page_size, django_assert_max_num_queries
):
    for _ in range(4):
        make_member()
    # user, membership, count, page
    with django_assert_max_num_queries(4):
        response = owner_client.get(members_url(organization), {"page_size": page_size})
    assert len(response.json()["results"]) == min(page_size, 5)


# --- invite (the whole invitation flow is in test_invitations.py) ---------------------------------
def test_an_active_member_cannot_be_added_twice(owner_client, organization, make_member):
    member = make_member()

    response = owner_client.post(members_url(organization), {"email": member.email.upper()}, format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "already_member"
    assert Membership.objects.filter(user=member).count() == 1


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "email"),
        ({"email": "not-an-email"}, "email"),
        ({"email": "a" * 250 + "@example.com"}, "email"),
        ({"email": "x@example.com", "role": "superuser"}, "role"),
        ({"email": "x@example.com", "profile_type": "partner"}, "profile_type"),
        ({"email": ["x@example.com"]}, "email"),
    ],
)
def test_invalid_member_input_is_400_on_the_field(owner_client, organization, payload, field):
    response = owner_client.post(members_url(organization), payload, format="json")

    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert Membership.objects.filter(organization=organization).count() == 1


# Who may give which role when adding a member: (caller role, caller codes, role given, status).
ADD_MATRIX = [
    (OWNER, (), OWNER, 201),
    (OWNER, (), ADMIN, 201),
    (ADMIN, (), OWNER, 403),
    (ADMIN, (), ADMIN, 201),
    (ADMIN, (), MEMBER, 201),
    (MEMBER, ("members:manage",), MEMBER, 201),
    (MEMBER, ("members:manage",), ADMIN, 403),
    (MEMBER, ("members:manage",), OWNER, 403),
    (MEMBER, ("roles:manage",), MEMBER, 403),
    (MEMBER, (), MEMBER, 403),
]


@pytest.mark.parametrize(("caller_role", "codes", "given", "expected"), ADD_MATRIX)
def test_who_may_add_a_member_with_which_role(make_member, organization, caller_role, codes, given, expected):
    caller = make_member(codes, role=caller_role)

    response = make_client(caller).post(
        members_url(organization), {"email": "new@example.com", "role": given}, format="json"
    )

    assert response.status_code == expected
    assert Membership.objects.filter(organization=organization, user__email="new@example.com").exists() == (
        expected == 201
    )


def test_membership_rights_come_from_the_url_organization_not_the_header(make_member, organization, other_organization):
    manager_elsewhere = make_member(("members:manage",), org=other_organization)
    MembershipFactory(user=manager_elsewhere, organization=organization)

    response = make_client(manager_elsewhere, other_organization).post(
        members_url(organization), {"email": "new@example.com"}, format="json"
    )

    assert response.status_code == 403


# --- change ---------------------------------------------------------------------------------------
def test_owner_changes_a_members_role_and_profile_type(owner_client, organization, make_member):
    member = make_member()

    response = owner_client.patch(
        member_url(organization, member.id), {"role": "admin", "profile_type": "vendor"}, format="json"
    )

    assert response.status_code == 200
    assert (response.json()["user_id"], response.json()["role"], response.json()["profile_type"]) == (
        member.id,
        "admin",
        "vendor",
    )
    assert (membership(member, organization).role, membership(member, organization).profile_type) == (ADMIN, "vendor")


def test_the_last_owner_cannot_be_demoted(owner, owner_client, organization):
    response = owner_client.patch(member_url(organization, owner.id), {"role": "admin"}, format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "last_owner"
    assert membership(owner, organization).role == OWNER


def test_the_last_owner_may_still_change_profile_type(owner, owner_client, organization):
    response = owner_client.patch(
        member_url(organization, owner.id), {"role": "owner", "profile_type": "vendor"}, format="json"
    )

    assert response.status_code == 200
    assert membership(owner, organization).profile_type == "vendor"


def test_an_owner_can_be_demoted_while_another_owner_remains(owner, owner_client, organization, make_member):
    make_member(role=OWNER)

    response = owner_client.patch(member_url(organization, owner.id), {"role": "member"}, format="json")

    assert response.status_code == 200
    assert membership(owner, organization).role == MEMBER


# (caller role, caller codes, target role, new role, status)
CHANGE_MATRIX = [
    (ADMIN, (), OWNER, MEMBER, 403),
    (ADMIN, (), MEMBER, OWNER, 403),
    (ADMIN, (), MEMBER, ADMIN, 200),
    (ADMIN, (), ADMIN, MEMBER, 200),
    (MEMBER, ("members:manage",), ADMIN, MEMBER, 403),
    (MEMBER, ("members:manage",), MEMBER, ADMIN, 403),
    (MEMBER, (), MEMBER, MEMBER, 403),
]


@pytest.mark.parametrize(("caller_role", "codes", "target_role", "new_role", "expected"), CHANGE_MATRIX)
def test_who_may_change_which_role(make_member, organization, caller_role, codes, target_role, new_role, expected):
    make_member(role=OWNER)  # so the last-owner rule never decides here
    caller = make_member(codes, role=caller_role)
    target = make_member(role=target_role)

    response = make_client(caller).patch(member_url(organization, target.id), {"role": new_role}, format="json")

    assert response.status_code == expected
    assert membership(target, organization).role == (new_role if expected == 200 else target_role)


def test_member_with_members_manage_changes_a_plain_members_profile(member_client, organization, make_member):
    target = make_member()

    response = member_client(["members:manage"]).patch(
        member_url(organization, target.id), {"profile_type": "customer"}, format="json"
    )

    assert response.status_code == 200
    assert membership(target, organization).profile_type == "customer"


@pytest.mark.parametrize("which", ["foreign", "removed", "missing", "huge"])
def test_changing_someone_who_is_not_an_active_member_is_404(
    owner_client, organization, other_owner, make_member, which
):
    removed = make_member()
    Membership.objects.filter(user=removed).update(status="removed")
    user_id = {"foreign": other_owner.id, "removed": removed.id, "missing": 10**6, "huge": 10**25}[which]

    for method, body in (("patch", {"role": "admin"}), ("delete", None)):
        response = getattr(owner_client, method)(member_url(organization, user_id), body, format="json")
        assert response.status_code == 404, method
    assert membership(removed, organization).role == MEMBER


def test_invalid_role_on_change_is_400(owner_client, organization, make_member):
    target = make_member()

    response = owner_client.patch(member_url(organization, target.id), {"role": "god"}, format="json")

    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["role"]


# --- remove ---------------------------------------------------------------------------------------
def test_removing_a_member_deactivates_it_and_drops_their_roles_here_only(
    owner_client, organization, other_organization, make_member
):
    member = make_member(["leads:view"])
    MembershipFactory(user=member, organization=other_organization)
    foreign_role = UserRoleFactory(user=member, role=RoleFactory(organization=other_organization))

    response = owner_client.delete(member_url(organization, member.id))

    assert response.status_code == 204
    assert membership(member, organization).is_active is False
    assert not UserRole.objects.filter(user=member, organization=organization).exists()
    assert UserRole.objects.filter(pk=foreign_role.pk).exists()
    assert make_client(member, organization).get("/api/roles/").status_code == 403


@pytest.mark.parametrize("removed_by", ["owner", "themselves"])
def test_removal_disables_the_webhooks_the_member_created_here_until_an_owner_enables_them(
    owner_client, organization, other_organization, make_member, public_dns, removed_by
):
    member = make_member(["webhooks:manage", "customers:view", "leads:view", "deals:view", "activities:view"])
    MembershipFactory(user=member, organization=other_organization)
    body = {"url": "https://hooks.example.com/theirs", "events": ["*"]}
    theirs = make_client(member, organization).post("/api/webhooks/", body, format="json").json()["id"]
    kept = [make_webhook(organization).id, make_webhook(other_organization, created_by=member).id]

    remover = owner_client if removed_by == "owner" else make_client(member, organization)
    assert remover.delete(member_url(organization, member.id)).status_code == 204
    owner_client.post("/api/leads/", {"first_name": "Ada"}, format="json")

    shown = owner_client.get(f"/api/webhooks/{theirs}/").json()
    assert (shown["is_active"], shown["disabled_reason"]) == (False, CREATOR_REMOVED)
    assert not WebhookDelivery.objects.filter(webhook_id=theirs).exists()
    assert set(Webhook.objects.filter(is_active=True).values_list("id", flat=True)) == set(kept)
    enabled = owner_client.patch(f"/api/webhooks/{theirs}/", {"is_active": True}, format="json")
    assert (enabled.status_code, enabled.json()["disabled_reason"]) == (200, "")


def test_a_removed_member_disappears_from_the_list(owner, owner_client, organization, make_member):
    member = make_member()

    owner_client.delete(member_url(organization, member.id))

    assert [m["user_id"] for m in owner_client.get(members_url(organization)).json()["results"]] == [owner.id]


def test_the_last_owner_cannot_be_removed(owner, owner_client, organization):
    response = owner_client.delete(member_url(organization, owner.id))

    assert response.status_code == 400
    assert response.json()["code"] == "last_owner"
    assert membership(owner, organization).is_active


def test_removal_moves_the_default_organization_to_another_one(
    owner_client, organization, other_organization, make_member
):
    member = make_member()
    MembershipFactory(user=member, organization=other_organization)
    User.objects.filter(pk=member.pk).update(default_organization=organization)

    assert owner_client.delete(member_url(organization, member.id)).status_code == 204

    assert User.objects.get(pk=member.pk).default_organization_id == other_organization.id


@pytest.mark.parametrize("role", [MEMBER, ADMIN])
def test_a_member_may_leave_without_members_manage(make_member, organization, role):
    member = make_member(role=role)

    response = make_client(member).delete(member_url(organization, member.id))

    assert response.status_code == 204
    assert membership(member, organization).is_active is False


def test_a_member_without_members_manage_cannot_remove_others(make_member, organization):
    caller, target = make_member(), make_member()

    assert make_client(caller).delete(member_url(organization, target.id)).status_code == 403
    assert membership(target, organization).is_active


# (caller role, caller codes, target role, status)
REMOVE_MATRIX = [
    (ADMIN, (), OWNER, 403),
    (ADMIN, (), ADMIN, 204),
    (MEMBER, ("members:manage",), ADMIN, 403),
    (MEMBER, ("members:manage",), MEMBER, 204),
    (OWNER, (), OWNER, 204),
]


@pytest.mark.parametrize(("caller_role", "codes", "target_role", "expected"), REMOVE_MATRIX)
def test_who_may_remove_whom(make_member, organization, caller_role, codes, target_role, expected):
    caller = make_member(codes, role=caller_role)
    target = make_member(role=target_role)

    response = make_client(caller).delete(member_url(organization, target.id))

    assert response.status_code == expected
    assert membership(target, organization).is_active == (expected != 204)


# --- concurrency ----------------------------------------------------------------------------------
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_owners_demoting_each_other_at_once_leave_one_owner(organization, owner):
    second = UserFactory()
    MembershipFactory(user=second, organization=organization, role=OWNER)
    barrier = threading.Barrier(2)
    outcomes = []

    def demote(actor, target):
        try:
            barrier.wait()
            service = MemberService(organization=organization, actor=actor)
            service.change_member(service.get_member(target.id), role=MEMBER)
            outcomes.append("ok")
        except Exception as error:
            outcomes.append(error.get_codes() if hasattr(error, "get_codes") else repr(error))
        finally:
            close_thread_connections()  # this thread's own connections; close_old_connections keeps them

    threads = [threading.Thread(target=demote, args=pair) for pair in ((owner, owner), (second, second))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes) == ["last_owner", "ok"]
    assert Membership.objects.filter(organization=organization, role=OWNER, status="active").count() == 1
