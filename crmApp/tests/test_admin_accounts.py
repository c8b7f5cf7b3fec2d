"""The Django admin of accounts keeps the API's rules."""

import pytest
from django.urls import reverse

from crmApp.models import User
from crmApp.tests.factories import UserFactory

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
