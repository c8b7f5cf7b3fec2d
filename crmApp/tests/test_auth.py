"""Register, login, the 401s of open endpoints and the auth throttle."""

import smtplib

import pytest
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from crmApp import emails
from crmApp.constants import ALL_PERMISSION_CODES, DEFAULT_PIPELINE_NAME
from crmApp.models import Membership, Organization, Pipeline, PipelineStage, Role, User
from crmApp.services import auth_service
from crmApp.tests.factories import TEST_PASSWORD, OrganizationFactory, UserFactory
from crmApp.throttles import AuthRateThrottle

REGISTER = "/api/auth/register/"
LOGIN = "/api/auth/login/"
ME = "/api/users/me/"

pytestmark = pytest.mark.django_db


def registration(**overrides) -> dict:
    body = {
        "email": "Jane.Doe@Example.com",
        "password": TEST_PASSWORD,
        "first_name": "Jane",
        "last_name": "Doe",
        "organization_name": "Doe Trading",
    }
    body.update(overrides)
    return body


def bearer(access: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client


# --- register -------------------------------------------------------------------------------------
def test_register_creates_owner_organization_defaults_and_tokens(api_client, mailoutbox):
    response = api_client.post(REGISTER, registration(username="jane"), format="json")

    assert response.status_code == 201, response.json()
    body = response.json()
    user = User.objects.get(email="jane.doe@example.com")  # stored lower-cased
    organization = Membership.objects.get(user=user).organization
    assert body["organization"]["id"] == organization.id
    assert body["organization"]["name"] == "Doe Trading"
    assert body["user"] == {
        "id": user.id,
        "email": "jane.doe@example.com",
        "username": "jane",
        "first_name": "Jane",
        "last_name": "Doe",
        "is_email_verified": False,
        "active_organization": organization.id,
        "organizations": [{"id": organization.id, "name": "Doe Trading", "role": "owner", "profile_type": "employee"}],
        "permissions": sorted(ALL_PERMISSION_CODES),
    }
    assert user.default_organization_id == organization.id
    assert set(Role.objects.filter(organization=organization).values_list("name", flat=True)) == {
        "Sales Manager",
        "Sales Rep",
        "Viewer",
    }
    assert Pipeline.objects.get(organization=organization).name == DEFAULT_PIPELINE_NAME
    assert PipelineStage.objects.filter(organization=organization).count() == 6
    assert [mail.to for mail in mailoutbox] == [["jane.doe@example.com"]]
    assert bearer(body["access"]).get(ME).json()["id"] == user.id
    assert api_client.post("/api/auth/refresh-tokens/", {"refresh": body["refresh"]}, format="json").status_code == 200


def test_register_without_username_stores_null_and_allows_many(api_client):
    for index, username in enumerate((None, "", "   ")):
        body = registration(email=f"nobody{index}@example.com", username=username)
        response = api_client.post(REGISTER, body, format="json")
        assert response.status_code == 201, response.json()
        assert response.json()["user"]["username"] is None
    assert User.objects.filter(username__isnull=True).count() == 3


@pytest.mark.parametrize(
    "existing, overrides, field",
    [
        ({"email": "jane.doe@example.com"}, {}, "email"),
        ({"email": "JANE.DOE@example.com"}, {}, "email"),
        ({"email": "a@example.com", "username": "Jane"}, {"username": "jane"}, "username"),
        ({"email": "b@example.com", "username": "jane"}, {"username": "JANE"}, "username"),
    ],
)
def test_register_refuses_taken_email_or_username_case_insensitively(api_client, existing, overrides, field):
    UserFactory(**existing)
    response = api_client.post(REGISTER, registration(**overrides), format="json")
    assert response.status_code == 400
    assert list(response.json()["errors"]) == [field]
    assert User.objects.count() == 1


@pytest.mark.parametrize(
    "password",
    ["password", "short1!", "8675309123457", "jane.doe@example.com", "Janedoe1!"],
    ids=["common", "too-short", "numeric", "same-as-email", "like-the-name"],
)
def test_register_weak_password_is_400_on_password_and_creates_nothing(api_client, password, mailoutbox):
    response = api_client.post(REGISTER, registration(password=password, first_name="Janedoe1"), format="json")
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["password"]
    assert User.objects.count() == 0 and not mailoutbox


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"email": None}, "email"),
        ({"email": "not-an-email"}, "email"),
        ({"email": "a" * 245 + "@example.com"}, "email"),
        ({"email": ["jane@example.com"]}, "email"),
        ({"password": None}, "password"),
        ({"password": 12345678}, "password"),
        ({"password": "Aa1!" * 40}, "password"),
        ({"first_name": "x" * 101}, "first_name"),
        ({"first_name": {"a": 1}}, "first_name"),
        ({"last_name": ""}, "last_name"),
        ({"last_name": "y" * 101}, "last_name"),
        ({"organization_name": "o" * 201}, "organization_name"),
        ({"organization_name": True}, "organization_name"),
        ({"username": "u" * 101}, "username"),
        ({"username": "has@sign"}, "username"),
        ({"username": "with space"}, "username"),
        ({"username": 12345}, "username"),
        ({"username": True}, "username"),
    ],
)
def test_register_hostile_input_is_400_on_the_field(api_client, overrides, field):
    response = api_client.post(REGISTER, registration(**overrides), format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert field in response.json()["errors"]
    assert User.objects.count() == 0


@pytest.mark.parametrize("missing", ["email", "password", "first_name", "last_name", "organization_name"])
def test_register_missing_field_is_400(api_client, missing):
    body = registration()
    del body[missing]
    response = api_client.post(REGISTER, body, format="json")
    assert response.status_code == 400
    assert list(response.json()["errors"]) == [missing]


@pytest.mark.parametrize("raw", ["[]", '"text"', "{not json", "null"])
def test_register_body_that_is_not_an_object_is_400(api_client, raw):
    response = api_client.generic("POST", REGISTER, raw, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] in {"invalid", "parse_error"}


@pytest.mark.parametrize("field", ["email", "username"])
def test_register_losing_a_race_for_email_or_username_is_400_and_leaves_nothing(field):
    # The serializer already looked; a concurrent sign-up took the value before the insert.
    UserFactory(email="jane.doe@example.com" if field == "email" else "x@example.com", username="JaneD")
    body = registration(email="jane.doe@example.com" if field == "email" else "new@example.com", username="janed")
    del body["password"]
    with pytest.raises(DjangoValidationError) as caught:
        auth_service.register(password=TEST_PASSWORD, **body)
    assert list(caught.value.message_dict) == [field]
    assert User.objects.count() == 1 and not Organization.objects.exists()


def test_register_succeeds_when_the_verification_mail_cannot_be_sent(api_client, monkeypatch):
    def refuse(user):
        raise smtplib.SMTPServerDisconnected("down")

    monkeypatch.setattr(emails, "send_verification_email", refuse)
    assert api_client.post(REGISTER, registration(), format="json").status_code == 201


# --- login ----------------------------------------------------------------------------------------
@pytest.fixture
def jane(db):
    return UserFactory(email="jane@example.com", username="JaneD")


@pytest.mark.parametrize(
    "credentials",
    [
        {"email": "jane@example.com"},
        {"email": "JANE@Example.COM"},
        {"email": " jane@example.com "},
        {"username": "JaneD"},
        {"username": "janed"},
        {"username": "jane@example.com"},  # a username with @ is matched as an email
        {"email": "", "username": "JANED"},
    ],
)
def test_login_by_email_or_username_case_insensitively(api_client, jane, organization, make_member, credentials):
    make_member(user=jane)
    response = api_client.post(LOGIN, {**credentials, "password": TEST_PASSWORD}, format="json")

    assert response.status_code == 200, response.json()
    body = response.json()
    assert set(body) == {"access", "refresh", "user"}
    assert body["user"]["id"] == jane.id
    assert body["user"]["active_organization"] == organization.id
    assert body["user"]["organizations"] == [
        {"id": organization.id, "name": "Acme", "role": "member", "profile_type": "employee"}
    ]
    assert bearer(body["access"]).get(ME).json()["email"] == "jane@example.com"
    jane.refresh_from_db()
    assert jane.last_login is not None


@pytest.fixture
def refused_login_answer(api_client, jane):
    """The answer to a wrong password for a real account: every other failure must equal it."""
    response = api_client.post(LOGIN, {"email": "jane@example.com", "password": "wrong-password"}, format="json")
    assert response.status_code == 401
    return response.json()


@pytest.mark.parametrize(
    "setup, credentials",
    [
        (None, {"email": "jane@example.com", "password": "wrong-password"}),
        (None, {"email": "nobody@example.com", "password": TEST_PASSWORD}),
        (None, {"username": "nobody", "password": TEST_PASSWORD}),
        (None, {"username": "JaneD", "password": TEST_PASSWORD.lower()}),
        ("inactive", {"email": "jane@example.com", "password": TEST_PASSWORD}),
        ("unusable", {"email": "jane@example.com", "password": TEST_PASSWORD}),
        ("unusable", {"email": "jane@example.com", "password": "!"}),
    ],
    ids=["wrong-password", "unknown-email", "unknown-username", "case-of-password", "inactive", "unusable", "bang"],
)
def test_login_failures_are_401_and_indistinguishable(api_client, jane, refused_login_answer, setup, credentials):
    if setup == "inactive":
        jane.is_active = False
        jane.save()
    elif setup == "unusable":
        jane.set_unusable_password()
        jane.save()
    response = api_client.post(LOGIN, credentials, format="json")
    assert response.status_code == 401
    assert response.json() == refused_login_answer
    assert refused_login_answer == {
        "detail": "No active account found with the given credentials.",
        "code": "invalid_credentials",
    }
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'


@pytest.mark.parametrize(
    "body",
    [
        {"password": TEST_PASSWORD},
        {"email": "", "username": "", "password": TEST_PASSWORD},
        {"email": "jane@example.com", "username": "JaneD", "password": TEST_PASSWORD},
        {"email": "jane@example.com"},
        {"email": "jane@example.com", "password": ["x"]},
        {"email": "e" * 255, "password": TEST_PASSWORD},
        {"username": "u" * 255, "password": TEST_PASSWORD},
        {"email": "jane@example.com", "password": "p" * 129},
        {"email": {"$ne": None}, "password": TEST_PASSWORD},
    ],
)
def test_login_malformed_body_is_400(api_client, jane, body):
    response = api_client.post(LOGIN, body, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"


def test_login_ignores_a_stale_bearer_token(jane):
    client = bearer("not.a.jwt")
    response = client.post(LOGIN, {"email": "jane@example.com", "password": TEST_PASSWORD}, format="json")
    assert response.status_code == 200


def test_user_without_organization_logs_in_with_null_active_organization(api_client, jane):
    response = api_client.post(LOGIN, {"username": "janed", "password": TEST_PASSWORD}, format="json")
    assert response.status_code == 200
    user = response.json()["user"]
    assert (user["active_organization"], user["organizations"], user["permissions"]) == (None, [], [])


def test_login_query_count_does_not_grow_with_organizations(api_client, jane, organization, make_member):
    few = UserFactory(email="few@example.com")
    make_member(codes=["leads:view"], user=few)
    make_member(codes=["leads:view"], user=jane)
    for index in range(5):
        make_member(codes=["deals:view"], org=OrganizationFactory(name=f"Extra {index}"), user=jane)

    def queries(email):
        with CaptureQueriesContext(connection) as context:
            response = api_client.post(LOGIN, {"email": email, "password": TEST_PASSWORD}, format="json")
        assert response.status_code == 200
        return len(context)

    assert queries("jane@example.com") == queries("few@example.com") <= 6


# --- authenticated endpoints answer 401, not 403 ---------------------------------------------------
@pytest.mark.parametrize(
    "method, url",
    [("post", "/api/auth/logout/"), ("post", "/api/auth/change-password/"), ("get", ME), ("patch", ME)],
)
@pytest.mark.parametrize("authorization", [None, "Bearer garbage", "Bearer " + "a.b.c"])
def test_protected_auth_endpoints_answer_401_with_challenge(api_client, method, url, authorization):
    if authorization:
        api_client.credentials(HTTP_AUTHORIZATION=authorization)
    response = getattr(api_client, method)(url, {}, format="json")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert set(response.json()) == {"detail", "code"}


# --- throttling -----------------------------------------------------------------------------------
THROTTLED = [
    (LOGIN, {"email": "nobody@example.com", "password": "whatever-it-is"}),
    (REGISTER, {"email": "bad"}),
    ("/api/auth/password-reset/", {"email": "nobody@example.com"}),
    ("/api/auth/password-reset/confirm/", {"uid": "x", "token": "y", "new_password": TEST_PASSWORD}),
    ("/api/auth/refresh-tokens/", {"refresh": "x"}),
    ("/api/auth/verify-email/", {"token": "x.y"}),
    ("/api/invitations/accept/", {"token": "x", "password": TEST_PASSWORD}),
]


@pytest.fixture
def auth_rate_3(settings):
    rates = {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "auth": "3/minute"}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}


@pytest.mark.parametrize("url, body", THROTTLED)
def test_auth_endpoints_answer_429_past_the_rate(db, auth_rate_3, url, body):
    client = APIClient(REMOTE_ADDR="10.0.0.1")
    statuses = [client.post(url, body, format="json").status_code for _ in range(4)]

    assert 429 not in statuses[:3]
    assert statuses[3] == 429
    response = client.post(url, body, format="json")
    assert response.json()["code"] == "throttled"
    assert set(response.json()) == {"detail", "code", "retry_after"}
    assert int(response["Retry-After"]) == response.json()["retry_after"] > 0
    assert (response["RateLimit-Limit"], response["RateLimit-Remaining"]) == ("3", "0")
    # Another address has its own budget, and a forged X-Forwarded-For does not buy a new one.
    assert APIClient(REMOTE_ADDR="10.0.0.2").post(url, body, format="json").status_code != 429
    assert client.post(url, body, format="json", HTTP_X_FORWARDED_FOR="192.0.2.7").status_code == 429


def test_each_auth_endpoint_counts_separately(db, auth_rate_3):
    client = APIClient(REMOTE_ADDR="10.0.0.1")
    for _ in range(4):
        client.post(LOGIN, THROTTLED[0][1], format="json")
    assert client.post(LOGIN, THROTTLED[0][1], format="json").status_code == 429
    assert client.post("/api/auth/password-reset/", {"email": "a@example.com"}, format="json").status_code == 202


def test_every_answer_of_a_throttled_endpoint_says_its_limit(db, auth_rate_3):
    client = APIClient(REMOTE_ADDR="10.0.0.1")
    answers = [client.post(LOGIN, THROTTLED[0][1], format="json") for _ in range(3)]
    assert [answer["RateLimit-Remaining"] for answer in answers] == ["2", "1", "0"]
    assert {answer["RateLimit-Limit"] for answer in answers} == {"3"}
    assert all(0 < int(answer["RateLimit-Reset"]) <= 2 * 60 for answer in answers)


def test_auth_rate_comes_from_settings(settings):
    assert AuthRateThrottle().get_rate() == settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["auth"]
