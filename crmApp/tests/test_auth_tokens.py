"""Refresh-token rotation (also under a race), logout, and revocation of every older refresh token."""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from rest_framework.test import APIClient
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken

from crmApp.exceptions import PasswordChanged
from crmApp.models import User
from crmApp.services import auth_service
from crmApp.tests.conftest import make_client
from crmApp.tests.factories import TEST_PASSWORD, UserFactory

REFRESH = "/api/auth/refresh-tokens/"
LOGOUT = "/api/auth/logout/"
LOGIN = "/api/auth/login/"
CHANGE_PASSWORD = "/api/auth/change-password/"
ME = "/api/users/me/"


def refresh_with(token: str, client: APIClient | None = None):
    return (client or APIClient()).post(REFRESH, {"refresh": token}, format="json")


def login(user) -> dict:
    response = APIClient().post(LOGIN, {"email": user.email, "password": TEST_PASSWORD}, format="json")
    assert response.status_code == 200, response.json()
    return response.json()


def can_login(user, password: str) -> bool:
    response = APIClient().post(LOGIN, {"email": user.email, "password": password}, format="json")
    return response.status_code == 200


def jti(token: str) -> str:
    return RefreshToken(token, verify=False)["jti"]


@pytest.fixture
def user(db):
    return UserFactory(email="jane@example.com")


# --- rotation -------------------------------------------------------------------------------------
@pytest.mark.django_db
def test_refresh_rotates_and_records_the_new_token(user):
    first = login(user)["refresh"]
    response = refresh_with(first)

    assert response.status_code == 200
    pair = response.json()
    assert set(pair) == {"access", "refresh"}
    assert pair["refresh"] != first
    assert OutstandingToken.objects.filter(jti=jti(pair["refresh"]), user=user).exists()
    assert BlacklistedToken.objects.filter(token__jti=jti(first)).exists()
    assert make_client(user).get(ME).status_code == 200
    assert APIClient(HTTP_AUTHORIZATION=f"Bearer {pair['access']}").get(ME).json()["id"] == user.id


@pytest.mark.django_db
def test_rotated_token_is_refused_and_the_chain_goes_on(user):
    first = login(user)["refresh"]
    second = refresh_with(first).json()["refresh"]

    reused = refresh_with(first)
    assert reused.status_code == 401
    assert reused.json() == {
        "detail": "The refresh token is invalid, expired or already used.",
        "code": "token_not_valid",
    }
    assert reused["WWW-Authenticate"] == 'Bearer realm="api"'
    third = refresh_with(second)
    assert third.status_code == 200
    assert refresh_with(second).status_code == 401


@pytest.mark.django_db
def test_token_issued_by_rotation_can_be_revoked_by_logout(user):
    rotated = refresh_with(login(user)["refresh"]).json()["refresh"]
    assert make_client(user).post(LOGOUT, {"refresh": rotated}, format="json").status_code == 205
    assert refresh_with(rotated).status_code == 401


def expired_refresh(user) -> str:
    token = RefreshToken.for_user(user)
    token.set_exp(lifetime=-timedelta(seconds=1))
    return str(token)


def tampered_refresh(user) -> str:
    header, payload, signature = str(RefreshToken.for_user(user)).split(".")
    return f"{header}.{payload}.{signature[::-1]}"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "make_token",
    [
        lambda user: "garbage",
        lambda user: "a.b.c",
        lambda user: str(RefreshToken.for_user(user).access_token),
        expired_refresh,
        tampered_refresh,
        lambda user: "x" * 2048,
    ],
    ids=["garbage", "three-parts", "access-token", "expired", "tampered", "long"],
)
def test_bad_refresh_token_is_401_never_500(user, make_token):
    response = refresh_with(make_token(user))
    assert response.status_code == 401
    assert response.json()["code"] == "token_not_valid"


@pytest.mark.django_db
@pytest.mark.parametrize("change", ["deactivate", "delete", "new password"])
def test_refresh_token_of_inactive_or_deleted_user_or_older_than_the_password_is_401(user, change):
    token = login(user)["refresh"]
    if change == "deactivate":
        user.is_active = False
        user.save()
    elif change == "delete":
        user.delete()
    else:  # set outside the API, as staff do in the admin: nothing revoked the token itself
        user.set_password("A-new-secret-2026")
        user.save()
    assert refresh_with(token).status_code == 401


@pytest.mark.django_db
@pytest.mark.parametrize("body", [{}, {"refresh": ""}, {"refresh": None}, {"refresh": ["x"]}, {"refresh": "x" * 2049}])
def test_malformed_refresh_body_is_400(body):
    response = APIClient().post(REFRESH, body, format="json")
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["refresh"]


# --- the race: exactly one of two simultaneous uses wins ---------------------------------------------
def race(token: str, monkeypatch) -> list[int]:
    """Send `token` twice at once; both requests pass the blacklist check before either claims it."""
    barrier = threading.Barrier(2, timeout=10)
    parse = auth_service._parse_refresh

    def parse_then_wait(raw):
        refresh = parse(raw)
        barrier.wait()
        return refresh

    monkeypatch.setattr(auth_service, "_parse_refresh", parse_then_wait)
    statuses = []

    def use():
        try:
            statuses.append(refresh_with(token).status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=use) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return sorted(statuses)


@pytest.mark.django_db(transaction=True)
@pytest.mark.postgres
def test_same_refresh_token_sent_twice_at_once_succeeds_once(monkeypatch):
    user = UserFactory(email="racer@example.com")
    for _ in range(3):
        token = str(RefreshToken.for_user(user))
        assert race(token, monkeypatch) == [200, 401]
        assert BlacklistedToken.objects.filter(token__jti=jti(token)).count() == 1
        monkeypatch.undo()


@pytest.mark.django_db(transaction=True)
@pytest.mark.postgres
def test_token_minted_elsewhere_is_still_claimed_once(monkeypatch):
    # A refresh token that was never recorded as outstanding: both requests create the record.
    user = UserFactory(email="racer@example.com")
    token = RefreshToken.for_user(user)
    OutstandingToken.objects.filter(jti=token["jti"]).delete()
    assert race(str(token), monkeypatch) == [200, 401]


# --- logout ---------------------------------------------------------------------------------------
@pytest.mark.django_db
def test_logout_revokes_the_refresh_token_for_good(user):
    session = login(user)
    client = make_client(user)

    response = client.post(LOGOUT, {"refresh": session["refresh"]}, format="json")
    assert response.status_code == 205
    assert not response.content
    assert refresh_with(session["refresh"]).status_code == 401
    assert client.post(LOGOUT, {"refresh": session["refresh"]}, format="json").status_code == 401


@pytest.mark.django_db
def test_logout_leaves_other_sessions_alone(user):
    kept, dropped = login(user)["refresh"], login(user)["refresh"]
    assert make_client(user).post(LOGOUT, {"refresh": dropped}, format="json").status_code == 205
    assert refresh_with(kept).status_code == 200


@pytest.mark.django_db
def test_logout_cannot_revoke_someone_elses_token(user):
    other = UserFactory()
    theirs = login(other)["refresh"]
    response = make_client(user).post(LOGOUT, {"refresh": theirs}, format="json")
    assert response.status_code == 401
    assert refresh_with(theirs).status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body, status",
    [
        ({"refresh": "garbage"}, 401),
        ({"refresh": "a.b.c"}, 401),
        ({}, 400),
        ({"refresh": 12}, 400),
        ({"refresh": {"x": 1}}, 400),
    ],
)
def test_logout_with_bad_token_is_401_or_400_never_500(user, body, status):
    response = make_client(user).post(LOGOUT, body, format="json")
    assert response.status_code == status
    assert set(response.json()) >= {"detail", "code"}


@pytest.mark.django_db
def test_logout_with_expired_token_is_401(user):
    response = make_client(user).post(LOGOUT, {"refresh": expired_refresh(user)}, format="json")
    assert response.status_code == 401


# --- change password revokes every older refresh token ----------------------------------------------
@pytest.mark.django_db
def test_change_password_revokes_older_tokens_and_returns_a_new_pair(user):
    older = [login(user)["refresh"] for _ in range(3)]
    older_access = login(user)["access"]
    client = make_client(user)

    response = client.post(
        CHANGE_PASSWORD, {"old_password": TEST_PASSWORD, "new_password": "An0ther-good-one"}, format="json"
    )

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"detail", "access", "refresh"}
    assert [refresh_with(token).status_code for token in older] == [401, 401, 401]
    assert refresh_with(body["refresh"]).status_code == 200
    assert APIClient(HTTP_AUTHORIZATION=f"Bearer {body['access']}").get(ME).status_code == 200
    assert APIClient(HTTP_AUTHORIZATION=f"Bearer {older_access}").get(ME).status_code == 401
    assert can_login(user, "An0ther-good-one") and not can_login(user, TEST_PASSWORD)


@pytest.mark.django_db
@pytest.mark.parametrize("second_password", ["An0ther-good-one", "Yet-an0ther-one"], ids=["double-submit", "different"])
def test_second_of_two_simultaneous_password_changes_sees_the_first(user, second_password):
    # Both requests loaded the account before either saved: the second must not go through as well,
    # or the first answer's tokens are dead on arrival. It answers as if it had come a moment later.
    first, second = User.objects.get(pk=user.pk), User.objects.get(pk=user.pk)
    tokens = auth_service.change_password(first, old_password=TEST_PASSWORD, new_password="An0ther-good-one")

    with pytest.raises(PasswordChanged):
        auth_service.change_password(second, old_password=TEST_PASSWORD, new_password=second_password)

    assert can_login(user, "An0ther-good-one")
    assert APIClient(HTTP_AUTHORIZATION=f"Bearer {tokens.access}").get(ME).status_code == 200
    assert refresh_with(tokens.refresh).status_code == 200


@pytest.mark.django_db(transaction=True)
@pytest.mark.postgres
def test_a_password_change_being_checked_does_not_hold_up_the_accounts_other_sessions(user, monkeypatch):
    # While one request hashes and checks a new password, another session of the account refreshes its
    # tokens: the new token's row points at the account, and that insert must not wait for the hashing.
    session = login(user)
    checking, refreshed = threading.Event(), threading.Event()
    check = auth_service._check_new_password

    def check_slowly(password, account, *, field):
        checking.set()
        refreshed.wait(timeout=10)
        check(password, account, field=field)

    monkeypatch.setattr(auth_service, "_check_new_password", check_slowly)

    def change():
        try:
            account = User.objects.get(pk=user.pk)
            auth_service.change_password(account, old_password=TEST_PASSWORD, new_password="An0ther-good-one")
        finally:
            connection.close()

    changing = threading.Thread(target=change)
    changing.start()
    assert checking.wait(timeout=10)
    with connection.cursor() as cursor:
        cursor.execute("SET lock_timeout = '2s'")  # a wait for the change's lock fails instead of hanging
    try:
        response = refresh_with(session["refresh"])
    finally:
        refreshed.set()
        changing.join(timeout=30)
        with connection.cursor() as cursor:
            cursor.execute("RESET lock_timeout")

    assert response.status_code == 200, response.content
    assert can_login(user, "An0ther-good-one")


@pytest.mark.django_db
def test_revoking_all_tokens_is_a_fixed_number_of_queries(user, django_assert_num_queries):
    other = UserFactory()
    others = str(RefreshToken.for_user(other))
    for count in (1, 25):
        for _ in range(count):
            RefreshToken.for_user(user)
        with django_assert_num_queries(2):
            auth_service.revoke_all_refresh_tokens(user)
    assert not OutstandingToken.objects.filter(user=user, blacklistedtoken__isnull=True).exists()
    assert refresh_with(others).status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body, field",
    [
        ({"old_password": "wrong-password", "new_password": "An0ther-good-one"}, "old_password"),
        ({"old_password": TEST_PASSWORD, "new_password": "password"}, "new_password"),
        ({"old_password": TEST_PASSWORD, "new_password": "123456789012"}, "new_password"),
        ({"old_password": TEST_PASSWORD, "new_password": "jane@example.com"}, "new_password"),
        ({"old_password": TEST_PASSWORD, "new_password": "x" * 129}, "new_password"),
        ({"old_password": TEST_PASSWORD}, "new_password"),
        ({"new_password": "An0ther-good-one"}, "old_password"),
        ({"old_password": ["x"], "new_password": "An0ther-good-one"}, "old_password"),
    ],
)
def test_change_password_refusals_are_400_and_change_nothing(user, body, field):
    session = login(user)
    response = make_client(user).post(CHANGE_PASSWORD, body, format="json")

    assert response.status_code == 400
    assert list(response.json()["errors"]) == [field]
    user.refresh_from_db()
    assert user.check_password(TEST_PASSWORD)
    assert refresh_with(session["refresh"]).status_code == 200
