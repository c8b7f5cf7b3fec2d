"""Invitations: an address is invited, and only that exact account accepts, once, within 7 days."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from crmApp.models import Membership, User
from crmApp.tests.conftest import make_client
from crmApp.tests.factories import UserFactory
from crmApp.tests.test_auth_passwords import mailed_link

pytestmark = pytest.mark.django_db
ACCEPT = "/api/invitations/accept/"
NEW_PASSWORD = "A-brand-new-pa55phrase"


def members_url(organization) -> str:
    return f"/api/organizations/{organization.id}/members/"


def invite(client, organization, email, **fields):
    return client.post(members_url(organization), {"email": email, **fields}, format="json")


def token_of(mail) -> str:
    return mailed_link(mail, "accept-invitation")["token"]


def test_an_unknown_address_is_invited_and_accepts_signed_out(owner_client, organization, mailoutbox):
    response = invite(owner_client, organization, "New.Person@Example.com", role="admin", profile_type="vendor")

    assert response.status_code == 201
    assert set(response.json()) == {"invitation_id", "email", "role", "profile_type", "status", "invited_at"}
    assert (response.json()["email"], response.json()["status"]) == ("new.person@example.com", "invited")
    assert [mail.to for mail in mailoutbox] == [["new.person@example.com"]]
    invited = User.objects.get(email="new.person@example.com")
    assert not invited.has_usable_password()

    # Nothing is granted before acceptance.
    assert make_client(invited, organization).get("/api/leads/").status_code == 403

    body = {"token": token_of(mailoutbox[0]), "password": NEW_PASSWORD, "first_name": "New", "last_name": "Person"}
    accepted = APIClient().post(ACCEPT, body, format="json")

    assert accepted.status_code == 200
    assert {"access", "refresh", "user", "organization"} <= set(accepted.json())
    assert accepted.json()["organization"]["id"] == organization.id
    invited.refresh_from_db()
    assert (invited.first_name, invited.is_email_verified, invited.check_password(NEW_PASSWORD)) == ("New", True, True)
    membership = Membership.objects.get(user=invited, organization=organization)
    assert (membership.status, membership.role, membership.profile_type) == ("active", "admin", "vendor")
    token = accepted.json()["access"]
    assert APIClient().get("/api/leads/", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 200
    # The token works once.
    again = APIClient().post(ACCEPT, body, format="json")
    assert (again.status_code, again.json()["code"]) == (400, "invalid_token")


def test_an_existing_account_accepts_signed_in_and_only_its_own_invitation(owner_client, organization, mailoutbox):
    known = UserFactory(email="known@example.com", first_name="Jane", last_name="Known")
    stranger = UserFactory(email="stranger@example.com")

    response = invite(owner_client, organization, "KNOWN@example.com")

    # The answer and the list never show the account's name or id before it accepts.
    assert "Jane" not in response.content.decode() and "user_id" not in response.json()
    listed = owner_client.get(members_url(organization)).json()["results"]
    assert "Jane" not in str(listed)
    token = token_of(mailoutbox[0])
    assert make_client(stranger).post(ACCEPT, {"token": token}, format="json").status_code == 403
    # Signed out, an account that has a password can't take its invitation by setting another.
    signed_out = APIClient().post(ACCEPT, {"token": token, "password": NEW_PASSWORD}, format="json")
    assert signed_out.status_code == 403
    assert not known.__class__.objects.get(pk=known.pk).check_password(NEW_PASSWORD)

    accepted = make_client(known).post(ACCEPT, {"token": token}, format="json")

    assert accepted.status_code == 200
    assert "access" not in accepted.json()
    assert Membership.objects.get(user=known, organization=organization).status == "active"
    assert Membership.objects.filter(user=stranger, organization=organization).exists() is False


@pytest.mark.parametrize(
    "spoil",
    [
        pytest.param(
            lambda m: Membership.objects.filter(pk=m.pk).update(invited_at=timezone.now() - timedelta(days=8)),
            id="expired",
        ),
        pytest.param(lambda m: Membership.objects.filter(pk=m.pk).update(status="removed"), id="cancelled"),
        pytest.param(lambda m: User.objects.filter(pk=m.user_id).update(is_active=False), id="account-deactivated"),
    ],
)
def test_an_expired_or_cancelled_invitation_is_400_invalid_token(owner_client, organization, mailoutbox, spoil):
    invite(owner_client, organization, "late@example.com")
    spoil(Membership.objects.get(user__email="late@example.com"))

    response = APIClient().post(ACCEPT, {"token": token_of(mailoutbox[0]), "password": NEW_PASSWORD}, format="json")

    assert (response.status_code, response.json()["code"]) == (400, "invalid_token")
    assert Membership.objects.get(user__email="late@example.com").status != "active"
    assert not User.objects.get(email="late@example.com").has_usable_password()


@pytest.mark.parametrize("route", ["members/{user_id}/", "invitations/{invitation_id}/"])
def test_deleting_an_invitation_cancels_it(owner_client, organization, mailoutbox, route):
    invitation = invite(owner_client, organization, "cancel@example.com").json()
    user_id = User.objects.get(email="cancel@example.com").id
    url = members_url(organization).replace("members/", "") + route.format(
        user_id=user_id, invitation_id=invitation["invitation_id"]
    )

    assert owner_client.delete(url).status_code == 204
    assert (
        APIClient()
        .post(ACCEPT, {"token": token_of(mailoutbox[0]), "password": NEW_PASSWORD}, format="json")
        .status_code
        == 400
    )
    assert owner_client.get(members_url(organization)).json()["count"] == 1


def test_inviting_again_renews_the_token(owner_client, organization, mailoutbox):
    invite(owner_client, organization, "twice@example.com")
    invite(owner_client, organization, "twice@example.com", role="admin")

    first, second = (token_of(mail) for mail in mailoutbox)
    assert APIClient().post(ACCEPT, {"token": first, "password": NEW_PASSWORD}, format="json").status_code == 400
    assert APIClient().post(ACCEPT, {"token": second, "password": NEW_PASSWORD}, format="json").status_code == 200
    assert Membership.objects.get(user__email="twice@example.com").role == "admin"


def test_a_look_alike_of_an_existing_address_cannot_be_invited(owner_client, organization, mailoutbox):
    UserFactory(email="newhire@corp.example")

    response = invite(owner_client, organization, "newh\u0131re@corp.example")

    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["email"]
    assert mailoutbox == []
    assert User.objects.filter(email__startswith="newh").count() == 1


def test_a_failing_mail_server_never_fails_a_committed_invitation(owner_client, organization, monkeypatch):
    def broken(*args, **kwargs):
        raise ConnectionRefusedError("mail server down")

    monkeypatch.setattr("crmApp.emails.send_mail", broken)

    response = invite(owner_client, organization, "unlucky@example.com")

    assert response.status_code == 201
    assert Membership.objects.get(user__email="unlucky@example.com").status == "invited"


def test_a_removed_member_is_invited_again_and_regains_nothing_until_accepting(owner_client, organization, make_member):
    member = make_member(role="admin")
    Membership.objects.filter(user=member).update(status="removed")

    response = invite(owner_client, organization, member.email, role="member")

    assert (response.status_code, response.json()["status"]) == (201, "invited")
    assert make_client(member, organization).get("/api/leads/").status_code == 403


@pytest.mark.parametrize("invited_role", ["owner", "admin"])
def test_inviting_again_cannot_change_an_invitation_the_caller_may_not_touch(
    owner_client, organization, make_member, mailoutbox, invited_role
):
    # A member who may invite plain members only: they can neither cancel nor change an invitation to
    # the owner or admin role, so sending the address a member invitation (which replaces it) is refused too.
    manager = make_client(make_member(["members:manage"]), organization)
    invite(owner_client, organization, "vip@example.com", role=invited_role)
    before = Membership.objects.get(user__email="vip@example.com")

    response = invite(manager, organization, "vip@example.com", role="member")

    assert (response.status_code, response.json()["code"]) == (403, "permission_denied")
    after = Membership.objects.get(pk=before.pk)
    assert (after.role, after.invitation_token_hash, after.invited_at) == (
        invited_role,
        before.invitation_token_hash,
        before.invited_at,
    )
    assert len(mailoutbox) == 1
    token = token_of(mailoutbox[0])
    assert APIClient().post(ACCEPT, {"token": token, "password": NEW_PASSWORD}, format="json").status_code == 200


def test_an_expired_invitation_is_no_obstacle_to_inviting_again(owner_client, organization, make_member, mailoutbox):
    # Expired, an owner invitation is dead: who may invite plain members may invite the address again.
    manager = make_client(make_member(["members:manage"]), organization)
    invite(owner_client, organization, "late-vip@example.com", role="owner")
    Membership.objects.filter(user__email="late-vip@example.com").update(invited_at=timezone.now() - timedelta(days=8))

    response = invite(manager, organization, "late-vip@example.com", role="member")

    assert (response.status_code, response.json()["role"]) == (201, "member")
    token = token_of(mailoutbox[-1])
    assert APIClient().post(ACCEPT, {"token": token, "password": NEW_PASSWORD}, format="json").status_code == 200


@pytest.mark.parametrize("signed_in", [True, False])
def test_accepting_keeps_what_changed_on_the_account_since_the_invitation_was_read(
    owner_client, organization, mailoutbox, monkeypatch, signed_in
):
    # Staff deactivate the account (or it gets a new password) while its acceptance runs: the
    # acceptance writes only the fields it sets, so it neither re-activates the account nor puts
    # the password it read back.
    from crmApp.services import organization_service

    known = UserFactory(email="racer@example.com") if signed_in else None
    invite(owner_client, organization, "racer@example.com")
    invited = User.objects.get(email="racer@example.com")
    read = organization_service.open_invitation

    def read_then_changed(token):
        membership = read(token)
        User.objects.filter(pk=invited.pk).update(is_active=False, last_name="Changed")
        return membership

    monkeypatch.setattr(organization_service, "open_invitation", read_then_changed)
    body = {"token": token_of(mailoutbox[0])}
    client = make_client(known) if signed_in else APIClient()
    if not signed_in:
        body.update(password=NEW_PASSWORD, first_name="Racer")

    assert client.post(ACCEPT, body, format="json").status_code == 200

    invited.refresh_from_db()
    assert (invited.is_active, invited.last_name, invited.is_email_verified) == (False, "Changed", True)
    assert invited.check_password(NEW_PASSWORD) == (not signed_in)
