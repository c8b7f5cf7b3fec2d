"""Password reset (also an invited user's first password) and email verification, through the mailed links."""

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from django.conf import settings
from django.contrib.auth.tokens import default_token_generator
from rest_framework.test import APIClient

from crmApp import emails
from crmApp.models import User
from crmApp.tests.factories import TEST_PASSWORD, UserFactory

RESET = "/api/auth/password-reset/"
CONFIRM = "/api/auth/password-reset/confirm/"
VERIFY = "/api/auth/verify-email/"
LOGIN = "/api/auth/login/"
NEW_PASSWORD = "Brand-new-s3cret"

pytestmark = pytest.mark.django_db


def mailed_link(mail, path: str) -> dict[str, str]:
    """The query of the one link in `mail`, after checking it points at <FRONTEND_URL>/<path>."""
    (url,) = re.findall(r"https?://\S+", mail.body)
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == f"{settings.FRONTEND_URL}/{path}"
    query = {key: values[0] for key, values in parse_qs(parts.query, strict_parsing=True).items()}
    assert all("=" not in value for value in query.values())  # URL-safe and unpadded
    return query


def can_login(user, password: str) -> bool:
    response = APIClient().post(LOGIN, {"email": user.email, "password": password}, format="json")
    return response.status_code == 200


@pytest.fixture
def user(db):
    return UserFactory(email="jane@example.com")


# --- password reset -------------------------------------------------------------------------------
def test_reset_link_sets_the_password_once(api_client, user, mailoutbox):
    assert api_client.post(RESET, {"email": "JANE@example.com"}, format="json").status_code == 202
    assert [mail.to for mail in mailoutbox] == [["jane@example.com"]]
    link = mailed_link(mailoutbox[0], "reset-password")
    assert set(link) == {"uid", "token"}

    response = api_client.post(CONFIRM, {**link, "new_password": NEW_PASSWORD}, format="json")
    assert response.status_code == 200
    assert set(response.json()) == {"detail"}
    assert can_login(user, NEW_PASSWORD) and not can_login(user, TEST_PASSWORD)
    user.refresh_from_db()
    assert user.is_email_verified  # the link proved the mailbox

    again = api_client.post(CONFIRM, {**link, "new_password": "Yet-another-pa55"}, format="json")
    assert again.status_code == 400
    assert list(again.json()["errors"]) == ["token"]
    assert can_login(user, NEW_PASSWORD)


def test_reset_answer_is_the_same_for_known_and_unknown_addresses(api_client, user, mailoutbox):
    inactive = UserFactory(email="gone@example.com", is_active=False)
    answers = [
        api_client.post(RESET, {"email": email}, format="json")
        for email in ("jane@example.com", "nobody@example.com", inactive.email)
    ]
    assert {response.status_code for response in answers} == {202}
    assert answers[0].json() == answers[1].json() == answers[2].json()
    assert [mail.to for mail in mailoutbox] == [["jane@example.com"]]


def test_reset_answer_stays_202_when_the_mail_cannot_be_sent(api_client, user, monkeypatch):
    def refuse(user):
        raise ConnectionRefusedError("no mail server")

    monkeypatch.setattr(emails, "send_password_reset_email", refuse)
    response = api_client.post(RESET, {"email": "jane@example.com"}, format="json")
    assert response.status_code == 202
    assert response.json() == api_client.post(RESET, {"email": "nobody@example.com"}, format="json").json()


@pytest.mark.parametrize("body", [{}, {"email": "not-an-email"}, {"email": "a" * 250 + "@x.io"}, {"email": ["a@x.io"]}])
def test_reset_request_with_bad_email_is_400(api_client, body, mailoutbox):
    response = api_client.post(RESET, body, format="json")
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["email"]
    assert not mailoutbox


def test_reset_confirm_revokes_every_refresh_token(api_client, user):
    login = APIClient().post(LOGIN, {"email": user.email, "password": TEST_PASSWORD}, format="json").json()
    user.refresh_from_db()  # the token hashes last_login, which the login just moved
    link = {"uid": emails.encode_uid(user), "token": default_token_generator.make_token(user)}
    assert api_client.post(CONFIRM, {**link, "new_password": NEW_PASSWORD}, format="json").status_code == 200
    assert api_client.post("/api/auth/refresh-tokens/", {"refresh": login["refresh"]}, format="json").status_code == 401


@pytest.mark.parametrize(
    "new_password",
    ["password", "short1!", "31415926535897", "jane@example.com", "p" * 129],
    ids=["common", "short", "numeric", "like-email", "too-long"],
)
def test_reset_confirm_weak_password_is_400_and_keeps_the_link_alive(api_client, user, new_password):
    link = {"uid": emails.encode_uid(user), "token": default_token_generator.make_token(user)}
    response = api_client.post(CONFIRM, {**link, "new_password": new_password}, format="json")
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["new_password"]
    assert User.objects.get(pk=user.pk).check_password(TEST_PASSWORD)
    assert api_client.post(CONFIRM, {**link, "new_password": NEW_PASSWORD}, format="json").status_code == 200


def forged_links(user, other):
    good_uid, good_token = emails.encode_uid(user), default_token_generator.make_token(user)
    return {
        "garbage-token": {"uid": good_uid, "token": "garbage"},
        "others-token": {"uid": good_uid, "token": default_token_generator.make_token(other)},
        "others-uid": {"uid": emails.encode_uid(other), "token": good_token},
        "uid-not-base64": {"uid": "!!!", "token": good_token},
        "uid-not-a-number": {"uid": "YWJj", "token": good_token},
        "uid-overflows": {"uid": "OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5", "token": good_token},
        "uid-missing-user": {"uid": "OTk5OTk5", "token": good_token},
        "uid-not-utf8": {"uid": "_-8", "token": good_token},
    }


@pytest.mark.parametrize(
    "case",
    [
        "garbage-token",
        "others-token",
        "others-uid",
        "uid-not-base64",
        "uid-not-a-number",
        "uid-overflows",
        "uid-missing-user",
        "uid-not-utf8",
    ],
)
def test_reset_confirm_with_forged_link_is_400_on_token(api_client, user, case):
    other = UserFactory(email="other@example.com")
    link = forged_links(user, other)[case]
    response = api_client.post(CONFIRM, {**link, "new_password": NEW_PASSWORD}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == {"token": ["This password reset link is invalid or has already been used."]}
    assert can_login(user, TEST_PASSWORD) and can_login(other, TEST_PASSWORD)


def test_reset_confirm_for_inactive_user_is_400(api_client, user):
    link = {"uid": emails.encode_uid(user), "token": default_token_generator.make_token(user)}
    User.objects.filter(pk=user.pk).update(is_active=False)
    assert api_client.post(CONFIRM, {**link, "new_password": NEW_PASSWORD}, format="json").status_code == 400


@pytest.mark.parametrize(
    "body, field",
    [
        ({"token": "t", "new_password": NEW_PASSWORD}, "uid"),
        ({"uid": "u" * 65, "token": "t", "new_password": NEW_PASSWORD}, "uid"),
        ({"uid": "MQ", "new_password": NEW_PASSWORD}, "token"),
        ({"uid": "MQ", "token": "t" * 2049, "new_password": NEW_PASSWORD}, "token"),
        ({"uid": "MQ", "token": "t"}, "new_password"),
        ({"uid": ["MQ"], "token": "t", "new_password": NEW_PASSWORD}, "uid"),
    ],
)
def test_reset_confirm_malformed_body_is_400_on_the_field(api_client, body, field):
    response = api_client.post(CONFIRM, body, format="json")
    assert response.status_code == 400
    assert list(response.json()["errors"]) == [field]


# --- email verification ---------------------------------------------------------------------------
def register(api_client, email="new@example.com"):
    body = {
        "email": email,
        "password": TEST_PASSWORD,
        "first_name": "New",
        "last_name": "User",
        "organization_name": "New Co",
    }
    response = api_client.post("/api/auth/register/", body, format="json")
    assert response.status_code == 201
    return User.objects.get(email=email)


def test_mailed_verification_link_verifies_once(api_client, mailoutbox):
    user = register(api_client)
    link = mailed_link(mailoutbox[0], "verify-email")
    assert set(link) == {"token"}

    response = api_client.post(VERIFY, link, format="json")
    assert response.status_code == 200
    assert set(response.json()) == {"detail"}
    user.refresh_from_db()
    assert user.is_email_verified

    again = api_client.post(VERIFY, link, format="json")
    assert again.status_code == 400
    assert again.json()["errors"] == {"token": ["This verification link is invalid or has already been used."]}


def test_verification_link_of_one_user_cannot_verify_another(api_client, mailoutbox):
    first = register(api_client, "first@example.com")
    second = register(api_client, "second@example.com")
    secret = mailed_link(mailoutbox[0], "verify-email")["token"].split(".")[1]
    forged = f"{emails.encode_uid(second)}.{secret}"
    assert api_client.post(VERIFY, {"token": forged}, format="json").status_code == 400
    assert not User.objects.filter(pk__in=[first.pk, second.pk], is_email_verified=True).exists()


@pytest.mark.parametrize(
    "token",
    ["garbage", "no-dot-at-all", ".", "MQ.", ".abc-def", "!!.abc", "OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5.abc", "MQ.a.b"],
)
def test_forged_verification_token_is_400(api_client, user, token):
    response = api_client.post(VERIFY, {"token": token}, format="json")
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["token"]
    user.refresh_from_db()
    assert not user.is_email_verified


def test_password_reset_token_is_not_a_verification_token(api_client, user):
    token = f"{emails.encode_uid(user)}.{default_token_generator.make_token(user)}"
    assert api_client.post(VERIFY, {"token": token}, format="json").status_code == 400


@pytest.mark.parametrize("body", [{}, {"token": ""}, {"token": None}, {"token": "t" * 2049}, {"token": {"a": 1}}])
def test_verify_malformed_body_is_400(api_client, body):
    response = api_client.post(VERIFY, body, format="json")
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["token"]
