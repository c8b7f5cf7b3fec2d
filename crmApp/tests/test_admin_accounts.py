"""The Django admin of accounts and role assignments keeps the API's rules."""

import pytest
from django.urls import reverse

from crmApp.constants import MembershipStatus
from crmApp.models import Membership, User, UserRole
from crmApp.tests.factories import RoleFactory, UserFactory

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
