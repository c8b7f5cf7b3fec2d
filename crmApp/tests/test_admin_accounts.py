"""The Django admin of accounts, memberships and role assignments keeps the API's rules."""

import pytest
from django.urls import reverse
from django.utils.html import escape

from crmApp.constants import (
    DEFAULT_PIPELINE_NAME,
    DEFAULT_PIPELINE_STAGES,
    DEFAULT_ROLES,
    ChangeSource,
    MembershipRole,
    MembershipStatus,
)
from crmApp.exceptions import InvalidRefreshToken
from crmApp.history import record_type
from crmApp.models import (
    ApiKey,
    CodeSequence,
    HistoryEntry,
    Membership,
    Organization,
    OutboxEvent,
    Permission,
    Pipeline,
    User,
    UserRole,
    Webhook,
)
from crmApp.services import auth_service
from crmApp.services.organization_service import LAST_OWNER_MESSAGE
from crmApp.tests.factories import (
    ActivityFactory,
    CustomerFactory,
    EmployeeFactory,
    RoleFactory,
    UserFactory,
    VendorFactory,
)

pytestmark = pytest.mark.django_db


def user_form(user, **fields) -> dict:
    """The change form of `user` with `fields` changed; `is_active` is left out, so unticked."""
    return {
        "email": user.email,
        "username": user.username or "",
        "first_name": user.first_name,
        "last_name": user.last_name,
        **fields,
    }


def test_a_default_organization_that_is_not_an_id_is_a_form_error(admin_client):
    user = UserFactory()
    url = reverse("admin:crmApp_user_change", args=[user.id])

    response = admin_client.post(url, user_form(user, default_organization="abc"))

    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()


@pytest.mark.parametrize(("username", "stored"), [("", None), ("   ", None), ("ada.l", "ada.l")])
def test_a_user_without_a_username_can_be_deactivated(admin_client, username, stored):
    user = UserFactory(username=None)
    url = reverse("admin:crmApp_user_change", args=[user.id])

    response = admin_client.post(url, user_form(user, username=username))

    assert response.status_code == 302, response.content[:2000]
    user.refresh_from_db()
    assert (user.is_active, user.username) == (False, stored)


@pytest.mark.parametrize("username", ["ada@example.com", "ada lovelace", "ΑDA"])  # the last: a Greek Alpha
def test_the_admin_refuses_a_username_the_api_refuses(admin_client, username):
    UserFactory(username="ada")
    user = UserFactory(username=None)
    url = reverse("admin:crmApp_user_change", args=[user.id])

    response = admin_client.post(url, user_form(user, username=username))

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["username"]
    assert User.objects.get(pk=user.pk).username is None


@pytest.mark.parametrize(("username", "stored"), [("", None), ("grace", "grace")])
def test_a_user_is_added_with_or_without_a_username(admin_client, username, stored):
    form = {
        "email": "grace@example.com",
        "username": username,
        "usable_password": "true",
        "password1": "A-long-pass-1234",
        "password2": "A-long-pass-1234",
    }

    response = admin_client.post(reverse("admin:crmApp_user_add"), form)

    assert response.status_code == 302, response.content[:2000]
    assert User.objects.get(email="grace@example.com").username == stored


@pytest.mark.parametrize("case", ["foreign_role", "not_member", "removed_member"])
def test_a_role_assignment_the_api_refuses_is_a_form_error(
    admin_client, organization, other_organization, make_member, case
):
    member = make_member()
    role = RoleFactory(organization=organization, codes=["deals:delete"])
    if case == "foreign_role":
        make_member(org=other_organization, user=member)
        role = RoleFactory(organization=other_organization, codes=["deals:delete"])
    elif case == "not_member":
        member = UserFactory()
    else:
        Membership.objects.filter(user=member).update(status=MembershipStatus.REMOVED)

    response = admin_client.post(
        reverse("admin:crmApp_userrole_add"), {"organization": organization.id, "user": member.id, "role": role.id}
    )

    assert response.status_code == 200
    assert not UserRole.objects.filter(role=role).exists()


def test_a_role_is_assigned_to_a_member(admin_client, organization, make_member):
    member = make_member()
    role = RoleFactory(organization=organization, codes=["deals:delete"])

    response = admin_client.post(
        reverse("admin:crmApp_userrole_add"), {"organization": organization.id, "user": member.id, "role": role.id}
    )

    assert response.status_code == 302, response.content[:2000]
    assert UserRole.objects.filter(user=member, role=role, organization=organization).exists()


def owner_membership(organization) -> Membership:
    return Membership.objects.get(organization=organization, role=MembershipRole.OWNER)


def membership_form(membership, **fields) -> dict:
    return {
        "user": membership.user_id,
        "organization": membership.organization_id,
        "role": membership.role,
        "profile_type": membership.profile_type,
        "status": membership.status,
        **fields,
    }


def organization_form(organization, *rows: tuple[Membership, dict]) -> dict:
    """The organization's change form with these membership rows inline, each with its fields changed."""
    form = {
        "name": organization.name,
        "slug": organization.slug,
        "is_active": "on",
        "memberships-TOTAL_FORMS": str(len(rows)),
        "memberships-INITIAL_FORMS": str(len(rows)),
        "memberships-MIN_NUM_FORMS": "0",
        "memberships-MAX_NUM_FORMS": "1000",
    }
    for index, (membership, changes) in enumerate(rows):
        form[f"memberships-{index}-id"] = membership.id
        form.update({f"memberships-{index}-{k}": v for k, v in membership_form(membership, **changes).items()})
    return form


def test_an_organization_added_in_the_admin_starts_with_its_defaults(admin_client):
    """As one created through the API: the default roles and the default pipeline, so deals can be added."""
    form = {"name": "Initech", "slug": "initech", "is_active": "on"}
    form.update({f"memberships-{key}": "0" for key in ("TOTAL_FORMS", "INITIAL_FORMS", "MIN_NUM_FORMS")})

    response = admin_client.post(reverse("admin:crmApp_organization_add"), form)

    assert response.status_code == 302, response.content[:2000]
    organization = Organization.objects.get(slug="initech")
    assert set(organization.roles.values_list("name", flat=True)) == set(DEFAULT_ROLES)
    pipeline = Pipeline.objects.get(organization=organization, is_default=True)
    assert (pipeline.name, pipeline.stages.count()) == (DEFAULT_PIPELINE_NAME, len(DEFAULT_PIPELINE_STAGES))


@pytest.mark.parametrize("page", ["membership", "organization"])
@pytest.mark.parametrize("change", [{"role": MembershipRole.MEMBER}, {"status": MembershipStatus.REMOVED}])
def test_the_admin_keeps_the_last_owner(admin_client, organization, page, change):
    owner = owner_membership(organization)
    if page == "membership":
        url, form = reverse("admin:crmApp_membership_change", args=[owner.id]), membership_form(owner, **change)
    else:
        url, form = (
            reverse("admin:crmApp_organization_change", args=[organization.id]),
            organization_form(organization, (owner, change)),
        )

    response = admin_client.post(url, form)

    assert response.status_code == 200  # the form again, with the rule as its error
    assert escape(LAST_OWNER_MESSAGE) in response.content.decode()
    owner.refresh_from_db()
    assert (owner.role, owner.status) == (MembershipRole.OWNER, MembershipStatus.ACTIVE)


@pytest.mark.parametrize("page", ["membership", "organization"])
def test_the_last_owner_cannot_be_deleted(admin_client, organization, page):
    owner = owner_membership(organization)
    if page == "membership":
        url, form = reverse("admin:crmApp_membership_delete", args=[owner.id]), {"post": "yes"}
    else:
        url, form = (
            reverse("admin:crmApp_organization_change", args=[organization.id]),
            organization_form(organization, (owner, {"DELETE": "on"})),
        )

    response = admin_client.post(url, form, follow=True)

    assert escape(LAST_OWNER_MESSAGE) in response.content.decode()
    assert Membership.objects.filter(pk=owner.pk, status=MembershipStatus.ACTIVE).exists()


@pytest.mark.parametrize("page", ["membership", "organization"])
@pytest.mark.parametrize("change", [{"status": MembershipStatus.REMOVED}, {"DELETE": "on"}])
def test_a_member_removed_in_the_admin_loses_their_roles(admin_client, organization, make_member, page, change):
    member = make_member(["leads:view"])
    membership = Membership.objects.get(user=member, organization=organization)
    if page == "membership" and "DELETE" in change:
        response = admin_client.post(reverse("admin:crmApp_membership_delete", args=[membership.id]), {"post": "yes"})
    elif page == "membership":
        response = admin_client.post(
            reverse("admin:crmApp_membership_change", args=[membership.id]), membership_form(membership, **change)
        )
    else:
        owner = owner_membership(organization)
        form = organization_form(organization, (membership, change))
        form.update({"memberships-TOTAL_FORMS": "2", "memberships-INITIAL_FORMS": "2", "memberships-1-id": owner.id})
        form.update({f"memberships-1-{name}": value for name, value in membership_form(owner).items()})
        response = admin_client.post(reverse("admin:crmApp_organization_change", args=[organization.id]), form)

    assert response.status_code == 302, response.content[:2000]
    assert not UserRole.objects.filter(user=member).exists()


def test_a_removed_membership_can_be_deleted(admin_client, organization, make_member):
    membership = Membership.objects.get(user=make_member(), organization=organization)
    Membership.objects.filter(pk=membership.pk).update(status=MembershipStatus.REMOVED)

    response = admin_client.post(reverse("admin:crmApp_membership_delete", args=[membership.id]), {"post": "yes"})

    assert response.status_code == 302
    assert not Membership.objects.filter(pk=membership.pk).exists()


@pytest.mark.parametrize(
    ("first_changes", "second_changes"),
    [
        ({"DELETE": "on"}, {"DELETE": "on"}),
        ({"role": MembershipRole.MEMBER}, {"role": MembershipRole.MEMBER}),
        ({"status": MembershipStatus.REMOVED}, {"DELETE": "on"}),
    ],
)
def test_rows_that_together_leave_no_owner_are_a_form_error(
    admin_client, organization, make_member, first_changes, second_changes
):
    owner = owner_membership(organization)
    second = Membership.objects.get(user=make_member(role=MembershipRole.OWNER), organization=organization)

    response = admin_client.post(
        reverse("admin:crmApp_organization_change", args=[organization.id]),
        organization_form(organization, (owner, first_changes), (second, second_changes)),
    )

    assert response.status_code == 200  # the form again, with the last-owner rule as its error
    assert Membership.objects.filter(organization=organization, role=MembershipRole.OWNER).count() == 2


def test_owners_swap_in_one_save(admin_client, organization, make_member):
    owner = owner_membership(organization)
    successor = Membership.objects.get(user=make_member(), organization=organization)

    response = admin_client.post(
        reverse("admin:crmApp_organization_change", args=[organization.id]),
        organization_form(
            organization, (owner, {"role": MembershipRole.MEMBER}), (successor, {"role": MembershipRole.OWNER})
        ),
    )

    assert response.status_code == 302
    assert owner_membership(organization).pk == successor.pk


@pytest.mark.parametrize("page", ["membership", "organization"])
def test_a_membership_never_moves_to_another_user(admin_client, organization, make_member, page):
    member = Membership.objects.get(user=make_member(["leads:view"]), organization=organization)
    other = UserFactory()
    if page == "membership":
        url = reverse("admin:crmApp_membership_change", args=[member.id])
        form = membership_form(member, user=other.id)
    else:
        url = reverse("admin:crmApp_organization_change", args=[organization.id])
        form = organization_form(organization, (owner_membership(organization), {}), (member, {"user": other.id}))

    admin_client.post(url, form)

    assert Membership.objects.get(pk=member.pk).user_id == member.user_id
    assert not Membership.objects.filter(user=other).exists()


@pytest.mark.parametrize(("deactivated", "still_signed_in"), [(True, False), (False, True)])
def test_deactivating_a_user_ends_their_sessions_and_keys_for_good(
    admin_client, organization, deactivated, still_signed_in
):
    user = UserFactory()
    refresh = auth_service.issue_tokens(user).refresh
    key = ApiKey.objects.create(organization=organization, name="Sync", key_hash="h" * 64, created_by=user)
    url = reverse("admin:crmApp_user_change", args=[user.id])

    if deactivated:
        assert admin_client.post(url, user_form(user)).status_code == 302
    # Active again (or still): only a token issued before a deactivation stays dead.
    assert admin_client.post(url, user_form(user, is_active="on", first_name="Renamed")).status_code == 302

    if still_signed_in:
        assert auth_service.rotate_refresh_token(refresh).refresh
    else:
        with pytest.raises(InvalidRefreshToken):
            auth_service.rotate_refresh_token(refresh)
    assert (ApiKey.objects.get(pk=key.pk).revoked_at is None) == still_signed_in


@pytest.mark.parametrize(
    ("factory", "field", "event"),
    [
        (CustomerFactory, "user", "customer.updated"),
        (EmployeeFactory, "user", None),
        (VendorFactory, "user", None),
        (ActivityFactory, "done_by", "activity.updated"),
    ],
)
@pytest.mark.parametrize("how", ["delete page", "changelist action"])
def test_deleting_an_account_unlinks_its_records_as_logged_changes(
    admin_client, admin_user, organization, make_member, factory, field, event, how
):
    member = make_member()
    record = factory(organization=organization, **{field: member})
    Webhook.objects.create(organization=organization, events=["*"], url="https://hooks.example.com/crm", secret="x")

    if how == "delete page":
        response = admin_client.post(reverse("admin:crmApp_user_delete", args=[member.id]), {"post": "yes"})
    else:
        form = {"action": "delete_selected", "_selected_action": [member.id], "post": "yes"}
        response = admin_client.post(reverse("admin:crmApp_user_changelist"), form)

    assert response.status_code == 302, response.content[:2000]
    record = type(record).with_trashed.get(pk=record.pk)
    assert (getattr(record, f"{field}_id"), record.version) == (None, 2)
    entry = HistoryEntry.objects.get(record_type=record_type(type(record)), record_id=record.pk)
    assert (entry.source, entry.actor, entry.changes) == (
        ChangeSource.ADMIN,
        admin_user,
        [{"field": field, "old": member.id, "new": None}],
    )
    assert list(OutboxEvent.objects.values_list("type", flat=True)) == ([event] if event else [])


def delete_users(admin_client, how: str, *users):
    if how == "delete page":
        (user,) = users
        return admin_client.post(reverse("admin:crmApp_user_delete", args=[user.id]), {"post": "yes"}, follow=True)
    form = {"action": "delete_selected", "_selected_action": [user.id for user in users], "post": "yes"}
    return admin_client.post(reverse("admin:crmApp_user_changelist"), form, follow=True)


@pytest.mark.parametrize("how", ["delete page", "changelist action"])
def test_the_last_owner_of_an_organization_cannot_be_deleted(admin_client, owner, organization, how):
    # Deleting the account would delete its memberships with it, past the member rules.
    response = delete_users(admin_client, how, owner)

    assert response.status_code == 200
    assert "last owner of Acme" in response.content.decode()
    assert User.objects.filter(pk=owner.pk).exists()
    assert owner_membership(organization).user_id == owner.id


def test_of_the_only_owners_deleted_together_one_stays(admin_client, owner, organization, make_member):
    co_owner = make_member(role=MembershipRole.OWNER)
    plain = make_member()

    response = delete_users(admin_client, "changelist action", owner, co_owner, plain)

    assert "last owner of Acme" in response.content.decode()
    assert not User.objects.filter(pk=plain.pk).exists()
    assert Membership.objects.filter(organization=organization, role=MembershipRole.OWNER).count() == 1


@pytest.mark.parametrize("how", ["delete page", "changelist action"])
def test_an_owner_is_deleted_while_another_owner_remains(admin_client, owner, organization, make_member, how):
    successor = make_member(role=MembershipRole.OWNER)

    delete_users(admin_client, how, owner)

    assert not User.objects.filter(pk=owner.pk).exists()
    assert owner_membership(organization).user_id == successor.id


def test_code_counters_are_read_only_in_the_admin(admin_client, organization):
    """Deleted, a counter starts again at 1 and every later create collides with a code in use (a 409);
    added, it had no organization to save (a 500)."""
    EmployeeFactory(organization=organization)
    counter = CodeSequence.objects.get(organization=organization, prefix="EMP")

    added = admin_client.post(reverse("admin:crmApp_codesequence_add"), {})
    deleted = admin_client.post(reverse("admin:crmApp_codesequence_delete", args=[counter.id]), {"post": "yes"})
    changed = admin_client.post(reverse("admin:crmApp_codesequence_change", args=[counter.id]), {"last_value": "0"})

    assert (added.status_code, deleted.status_code, changed.status_code) == (403, 403, 403)
    assert CodeSequence.objects.get(pk=counter.pk).last_value == 1
    assert admin_client.get(reverse("admin:crmApp_codesequence_change", args=[counter.id])).status_code == 200


def test_the_permission_catalogue_is_read_only_in_the_admin(admin_client):
    """Its codes are the API's fixed set: a deleted one could no longer be granted (400 unknown_permission)
    and left every role that held it; an added one was a code nothing checks."""
    permission = Permission.objects.get(code="employees:view")

    added = admin_client.post(reverse("admin:crmApp_permission_add"), {"code": "reports:view", "description": "x"})
    deleted = admin_client.post(reverse("admin:crmApp_permission_delete", args=[permission.id]), {"post": "yes"})
    changed = admin_client.post(
        reverse("admin:crmApp_permission_change", args=[permission.id]), {"code": "staff:view", "description": ""}
    )

    assert (added.status_code, deleted.status_code, changed.status_code) == (403, 403, 403)
    assert Permission.objects.get(pk=permission.pk).code == "employees:view"
    assert not Permission.objects.filter(code="reports:view").exists()


def test_a_role_never_moves_to_another_organization(admin_client, organization, other_organization, make_member):
    """Its assignments stay in its organization: moved, they pointed at another organization's role."""
    member = make_member(["leads:view"])
    assignment = UserRole.objects.get(user=member, organization=organization)
    role = assignment.role
    form = {"name": role.name, "description": "", "organization": other_organization.id, "record_scope": "all"}
    form["permissions"] = list(role.permissions.values_list("id", flat=True))

    admin_client.post(reverse("admin:crmApp_role_change", args=[role.id]), form)

    role.refresh_from_db()
    assert role.organization_id == organization.id
