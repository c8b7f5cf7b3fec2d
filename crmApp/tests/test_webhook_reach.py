"""A webhook carries every record of its events, so managing one never shows a member more than they see."""

import pytest
from django.urls import reverse

from crmApp.constants import MembershipRole, RecordScope
from crmApp.models import Membership, Permission, User, UserRole, Webhook
from crmApp.services.integration_service import CREATOR_DEACTIVATED, CREATOR_NARROWED, CREATOR_REMOVED
from crmApp.tests.conftest import error_fields, make_client
from crmApp.tests.factories import RoleFactory, UserRoleFactory
from crmApp.tests.test_webhooks import make_webhook, public_dns

pytestmark = pytest.mark.django_db
__all__ = ["public_dns"]  # the fixture
EVERY_VIEW = ["customers:view", "leads:view", "deals:view", "activities:view"]


@pytest.fixture
def manager(make_member, organization):
    """manager(codes, scope) -> a client of a member with webhooks:manage, `codes` and that record scope."""

    def _client(codes, scope=RecordScope.ALL):
        user = make_member()
        role = RoleFactory(organization=organization, codes=["webhooks:manage", *codes], record_scope=scope)
        UserRoleFactory(user=user, role=role)
        return make_client(user, organization)

    return _client


@pytest.mark.parametrize(
    ("codes", "scope", "events", "status"),
    [
        ([], RecordScope.ALL, ["*"], 400),
        (EVERY_VIEW, RecordScope.ALL, ["*"], 201),
        (EVERY_VIEW, RecordScope.OWN, ["*"], 400),
        (EVERY_VIEW, RecordScope.TEAM, ["lead.created"], 400),
        (["leads:view"], RecordScope.ALL, ["lead.created", "lead.converted"], 201),
        (["leads:view"], RecordScope.ALL, ["lead.created", "deal.won"], 400),
        (["leads:view"], RecordScope.ALL, ["*"], 400),
    ],
)
def test_a_member_subscribes_only_to_records_they_see(manager, public_dns, codes, scope, events, status):
    body = {"url": "https://hooks.example.com/crm", "events": events}
    response = manager(codes, scope).post("/api/webhooks/", body, format="json")
    assert response.status_code == status, response.json()
    if status == 400:
        assert error_fields(response) == {"events"} and not Webhook.objects.exists()


def test_widening_a_webhooks_events_is_checked_too(manager, organization, public_dns):
    webhook = make_webhook(organization, events=["lead.created"])
    client = manager(["leads:view"])
    path = f"/api/webhooks/{webhook.id}/"
    assert client.patch(path, {"events": ["deal.won"]}, format="json").status_code == 400
    everything = make_webhook(organization)  # ["*"]: more than this member sees
    moved = client.patch(f"/api/webhooks/{everything.id}/", {"url": "https://mine.example.com/"}, format="json")
    assert moved.status_code == 400 and Webhook.objects.get(pk=everything.pk).url == everything.url
    assert client.patch(path, {"description": "Billing"}, format="json").status_code == 200
    webhook.refresh_from_db()
    assert (webhook.events, webhook.description) == (["lead.created"], "Billing")
    # A form sends the events back as it read them: that chooses nothing, even beyond the member's reach.
    shown = client.get(f"/api/webhooks/{everything.id}/").json()
    resent = client.put(f"/api/webhooks/{everything.id}/", {**shown, "description": "Ops"}, format="json")
    assert resent.status_code == 200, resent.json()
    assert Webhook.objects.get(pk=everything.pk).created_by_id == everything.created_by_id


@pytest.mark.parametrize(
    ("codes", "scope", "status"),
    [
        (EVERY_VIEW, RecordScope.ALL, 200),
        (EVERY_VIEW, RecordScope.OWN, 400),
        (["leads:view"], RecordScope.ALL, 400),
    ],
)
def test_enabling_a_webhook_needs_the_reach_of_its_events(manager, organization, public_dns, codes, scope, status):
    webhook = make_webhook(organization, is_active=False, disabled_reason=CREATOR_REMOVED)
    response = manager(codes, scope).patch(f"/api/webhooks/{webhook.id}/", {"is_active": True}, format="json")
    assert response.status_code == status, response.json()
    webhook.refresh_from_db()
    assert (webhook.is_active, webhook.disabled_reason) == ((True, "") if status == 200 else (False, CREATOR_REMOVED))


NARROWINGS = {
    "a code taken from the role": lambda owner, role, member: owner.patch(
        f"/api/roles/{role.id}/", {"permissions": ["webhooks:manage", *EVERY_VIEW[1:]]}, format="json"
    ),
    "the role's scope narrowed": lambda owner, role, member: owner.patch(
        f"/api/roles/{role.id}/", {"record_scope": "own"}, format="json"
    ),
    "the role deleted": lambda owner, role, member: owner.delete(f"/api/roles/{role.id}/"),
    "the role taken away": lambda owner, role, member: owner.delete(
        f"/api/user-roles/{UserRole.objects.get(user=member, role=role).id}/"
    ),
}


@pytest.mark.parametrize("narrowing", NARROWINGS)
def test_a_webhook_stops_when_its_creator_no_longer_sees_what_it_carries(
    owner_client, make_member, organization, public_dns, narrowing
):
    member = make_member()
    role = RoleFactory(organization=organization, codes=["webhooks:manage", *EVERY_VIEW])
    UserRoleFactory(user=member, role=role)
    body = {"url": "https://hooks.example.com/crm", "events": ["*"]}
    created = make_client(member, organization).post("/api/webhooks/", body, format="json").json()
    others = make_webhook(organization)  # not theirs: untouched
    kept = (
        make_client(member, organization)
        .post("/api/webhooks/", {**body, "events": ["lead.created"]}, format="json")
        .json()
    )

    assert NARROWINGS[narrowing](owner_client, role, member).status_code in (200, 204)

    states = {w.id: (w.is_active, w.disabled_reason) for w in Webhook.objects.all()}
    assert states[created["id"]] == (False, CREATOR_NARROWED)
    assert states[others.id] == (True, "")
    # Leads stay visible after a customers code goes; every other narrowing stops this one too.
    assert states[kept["id"]][0] == (narrowing == "a code taken from the role")


@pytest.mark.parametrize(
    ("change", "acts_for_the_changer"),
    [
        ({"url": "https://mine.example.com/crm"}, True),
        ({"events": ["*"]}, True),
        ({"is_active": True}, True),
        ({"description": "Billing"}, False),
    ],
)
def test_a_webhook_acts_for_whoever_last_chose_what_it_sends_where(
    owner_client, make_member, organization, public_dns, change, acts_for_the_changer
):
    webhook = make_webhook(organization, is_active="is_active" not in change, events=["lead.created"])
    member = make_member()
    role = RoleFactory(organization=organization, codes=["webhooks:manage", *EVERY_VIEW])
    UserRoleFactory(user=member, role=role)
    response = make_client(member, organization).patch(f"/api/webhooks/{webhook.id}/", change, format="json")
    assert response.status_code == 200, response.json()

    # The member who pointed it at their server, or widened it, is narrowed: it stops with their reach.
    assert owner_client.patch(f"/api/roles/{role.id}/", {"record_scope": "own"}, format="json").status_code == 200

    webhook.refresh_from_db()
    expected = (False, CREATOR_NARROWED) if acts_for_the_changer else (True, "")
    assert (webhook.is_active, webhook.disabled_reason) == expected


def test_a_member_demoted_from_admin_keeps_only_the_webhooks_their_roles_reach(
    owner_client, make_member, organization, public_dns
):
    admin = make_member(role=MembershipRole.ADMIN)
    body = {"url": "https://hooks.example.com/crm", "events": ["*"]}
    created = make_client(admin, organization).post("/api/webhooks/", body, format="json").json()
    path = f"/api/organizations/{organization.id}/members/{admin.id}/"
    assert owner_client.patch(path, {"role": "member"}, format="json").status_code == 200
    assert Membership.objects.get(user=admin, organization=organization).role == MembershipRole.MEMBER

    assert Webhook.objects.filter(pk=created["id"], is_active=False, disabled_reason=CREATOR_NARROWED).exists()


# Staff edit roles in the Django admin: (what the role's form changes, or None to delete the role).
ADMIN_NARROWINGS = {
    "the role's scope narrowed": {"record_scope": RecordScope.OWN},
    "a code taken from the role": {"permissions": ["webhooks:manage", *EVERY_VIEW[1:]]},
    "the role deleted": None,
    "the role deleted with the changelist action": "delete_selected",
}


@pytest.mark.parametrize("narrowing", ADMIN_NARROWINGS)
def test_a_webhook_stops_when_staff_narrow_its_creators_role_in_the_admin(
    admin_client, make_member, organization, public_dns, narrowing
):
    member = make_member()
    role = RoleFactory(organization=organization, codes=["webhooks:manage", *EVERY_VIEW])
    UserRoleFactory(user=member, role=role)
    body = {"url": "https://hooks.example.com/crm", "events": ["*"]}
    created = make_client(member, organization).post("/api/webhooks/", body, format="json").json()

    change = ADMIN_NARROWINGS[narrowing]
    if change is None:
        response = admin_client.post(reverse("admin:crmApp_role_delete", args=[role.id]), {"post": "yes"})
    elif change == "delete_selected":
        form = {"action": "delete_selected", "_selected_action": [role.id], "post": "yes"}
        response = admin_client.post(reverse("admin:crmApp_role_changelist"), form)
    else:
        codes = change.get("permissions", ["webhooks:manage", *EVERY_VIEW])
        form = {"name": role.name, "description": "", "record_scope": role.record_scope, **change}
        permissions = Permission.objects.filter(code__in=codes).values_list("id", flat=True)
        form |= {"organization": organization.id, "permissions": list(permissions)}
        response = admin_client.post(reverse("admin:crmApp_role_change", args=[role.id]), form)

    assert response.status_code == 302, response.content[:2000]
    assert Webhook.objects.filter(pk=created["id"], is_active=False, disabled_reason=CREATOR_NARROWED).exists()


@pytest.mark.parametrize(
    ("how", "reason"),
    [
        ("delete page", CREATOR_REMOVED),
        ("changelist action", CREATOR_REMOVED),
        ("deactivation", CREATOR_DEACTIVATED),
    ],
)
def test_a_webhook_stops_when_staff_delete_or_deactivate_its_creators_account(
    admin_client, make_member, organization, public_dns, how, reason
):
    member = make_member()
    UserRoleFactory(user=member, role=RoleFactory(organization=organization, codes=["webhooks:manage", *EVERY_VIEW]))
    body = {"url": "https://hooks.example.com/crm", "events": ["*"]}
    created = make_client(member, organization).post("/api/webhooks/", body, format="json").json()
    others = make_webhook(organization)

    if how == "delete page":
        response = admin_client.post(reverse("admin:crmApp_user_delete", args=[member.id]), {"post": "yes"})
    elif how == "changelist action":
        form = {"action": "delete_selected", "_selected_action": [member.id], "post": "yes"}
        response = admin_client.post(reverse("admin:crmApp_user_changelist"), form)
    else:  # the change form without `is_active` ticked
        form = {"email": member.email, "username": member.username or "", "first_name": "", "last_name": ""}
        response = admin_client.post(reverse("admin:crmApp_user_change", args=[member.id]), form)

    assert response.status_code == 302, response.content[:2000]
    states = {w.id: (w.is_active, w.disabled_reason) for w in Webhook.objects.all()}
    assert states == {created["id"]: (False, reason), others.id: (True, "")}


@pytest.mark.parametrize(
    ("behind", "enabled"),
    [("a member who sees every record", True), ("a deactivated account", False), ("a deleted account", False)],
)
def test_staff_enable_only_a_webhook_that_its_member_may_still_send(
    admin_client, make_member, organization, public_dns, behind, enabled
):
    member = make_member()
    UserRoleFactory(user=member, role=RoleFactory(organization=organization, codes=["webhooks:manage", *EVERY_VIEW]))
    webhook = make_webhook(organization, is_active=False, disabled_reason=CREATOR_REMOVED, created_by=member)
    if behind == "a deactivated account":
        User.objects.filter(pk=member.pk).update(is_active=False)
    elif behind == "a deleted account":
        Webhook.objects.filter(pk=webhook.pk).update(created_by=None)

    form = {"action": "enable", "_selected_action": [webhook.id]}
    response = admin_client.post(reverse("admin:crmApp_webhook_changelist"), form)

    assert response.status_code == 302, response.content[:2000]
    assert Webhook.objects.get(pk=webhook.pk).is_active is enabled
