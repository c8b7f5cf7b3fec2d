"""The cached caller (user, membership, codes, scope): cheap on repeat, never a request out of date."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework_simplejwt import tokens
from rest_framework_simplejwt.backends import TokenBackend
from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.tokens import RefreshToken
from rest_framework_simplejwt.utils import aware_utcnow

from crmApp import authentication
from crmApp.constants import MembershipStatus, RecordScope
from crmApp.models import Membership, Permission, Role, User, UserRole
from crmApp.services.organization_service import delete_organization
from crmApp.tests.conftest import make_client
from crmApp.tests.factories import EmployeeFactory, LeadFactory

pytestmark = pytest.mark.django_db


def access_queries(client, path="/api/leads/") -> int:
    """Queries a request spends on the user, the membership and the codes."""
    with CaptureQueriesContext(connection) as context:
        assert client.get(path).status_code == 200
    tables = ('"crmApp_user"', '"crmApp_membership"', '"crmApp_userrole"')
    return sum(1 for query in context.captured_queries if any(table in query["sql"] for table in tables))


def test_a_repeat_request_reads_nothing_about_the_caller(member_client):
    client = member_client(["leads:view"])
    assert access_queries(client) >= 3  # user, membership, codes
    assert access_queries(client) == 0


@pytest.fixture
def reader(make_member, organization):
    user = make_member(["leads:view"])
    client = make_client(user, organization)
    assert client.get("/api/leads/").status_code == 200  # cached from here on
    return user, client


def test_a_removed_member_is_refused_on_the_next_request(reader, organization):
    user, client = reader
    membership = Membership.objects.get(user=user, organization=organization)
    membership.status = MembershipStatus.REMOVED
    membership.save()  # as the admin does
    assert client.get("/api/leads/").status_code == 403


def test_removal_through_the_api_counts_at_once(reader, owner_client, organization):
    user, client = reader
    assert owner_client.delete(f"/api/organizations/{organization.id}/members/{user.id}/").status_code == 204
    assert client.get("/api/leads/").status_code == 403


@pytest.mark.parametrize("side", ["role", "permission"])
def test_a_role_losing_a_code_counts_at_once(reader, organization, side):
    user, client = reader
    role, code = Role.objects.get(user_roles__user=user), Permission.objects.get(code="leads:view")
    if side == "role":
        role.permissions.remove(code)
    else:  # from the other side of the relation, as the admin's permission page could
        code.roles.remove(role)
    assert client.get("/api/leads/").status_code == 403


def test_an_unassigned_role_counts_at_once(reader):
    user, client = reader
    UserRole.objects.filter(user=user).delete()
    assert client.get("/api/leads/").status_code == 403


def test_a_narrower_record_scope_counts_at_once(reader, organization, owner):
    user, client = reader
    LeadFactory(organization=organization, created_by=owner)
    assert client.get("/api/leads/").json()["count"] == 1
    Role.objects.filter(user_roles__user=user).update(record_scope=RecordScope.OWN)
    role = Role.objects.get(user_roles__user=user)
    role.save()
    assert client.get("/api/leads/").json()["count"] == 0


def test_an_unlinked_employee_record_counts_at_once(reader, organization):
    """A record assigned to the caller's employee record leaves an `own` scope when the link goes, saved in a shell."""
    user, client = reader
    Role.objects.filter(user_roles__user=user).update(record_scope=RecordScope.OWN)
    Role.objects.get(user_roles__user=user).save()
    employee = EmployeeFactory(organization=organization, user=user)
    LeadFactory(organization=organization, assigned_to=employee)
    assert client.get("/api/leads/").json()["count"] == 1
    employee.user = None
    employee.save()  # a model save: the organization's data version stays, its access version moves
    response = client.get("/api/leads/").json()
    assert (response["count"], response["results"]) == (0, [])


def test_a_linked_employee_record_counts_at_once_for_assigned_to_me(reader, organization):
    user, client = reader
    employee = EmployeeFactory(organization=organization)
    LeadFactory(organization=organization, assigned_to=employee)
    assert client.get("/api/leads/?assigned_to=me").json()["count"] == 0
    employee.user = user
    employee.save()  # a model save, as in a shell
    assert client.get("/api/leads/?assigned_to=me").json()["count"] == 1


def test_a_deactivated_user_is_refused_on_the_next_request(reader):
    user, client = reader
    user.is_active = False
    user.save()
    assert client.get("/api/leads/").status_code == 401


def test_a_new_password_ends_the_old_tokens_on_the_next_request(reader):
    user, client = reader
    user.set_password("A-whole-new-secret-42")
    user.save()
    response = client.get("/api/leads/")
    assert response.status_code == 401 and response.json()["code"] in ("password_changed", "authentication_failed")


def test_a_deactivated_organization_is_refused_on_the_next_request(reader, organization):
    _, client = reader
    organization.is_active = False
    organization.save()
    assert client.get("/api/leads/").status_code == 403


def test_a_deleted_organization_is_refused_on_the_next_request(reader, organization):
    user, client = reader
    delete_organization(organization)
    assert client.get("/api/leads/").status_code == 403
    assert User.objects.filter(pk=user.pk).exists()


def test_a_removed_default_organization_is_not_served_from_the_cache(make_member, organization):
    user = make_member(["leads:view"])
    User.objects.filter(pk=user.pk).update(default_organization=organization)
    client = make_client(user)  # no X-Organization-ID: the default organization
    assert client.get("/api/leads/").status_code == 200
    membership = Membership.objects.get(user=user, organization=organization)
    membership.status = MembershipStatus.REMOVED
    membership.save()
    assert client.get("/api/leads/").json()["code"] == "no_organization"


def test_an_access_token_is_verified_once_per_process_and_its_expiry_on_every_request(owner, organization, monkeypatch):
    decoded = []
    decode = TokenBackend.decode
    monkeypatch.setattr(
        TokenBackend, "decode", lambda backend, token, *a, **k: decoded.append(1) or decode(backend, token, *a, **k)
    )
    client = make_client(owner, organization)
    for _ in range(3):
        assert client.get("/api/leads/").status_code == 200
    assert len(decoded) == 1

    # Past its expiry the remembered token is refused exactly as a token never seen before.
    later = aware_utcnow() + jwt_settings.ACCESS_TOKEN_LIFETIME + timedelta(seconds=1)
    monkeypatch.setattr(authentication, "aware_utcnow", lambda: later)
    monkeypatch.setattr(tokens, "aware_utcnow", lambda: later)
    remembered, fresh = client.get("/api/leads/"), make_client(owner, organization).get("/api/leads/")
    assert remembered.status_code == fresh.status_code == 401
    assert remembered.json() == fresh.json()
    assert remembered.json()["code"] == "token_not_valid"


@pytest.mark.parametrize("tamper", [lambda t: t[:-2] + ("A" if t[-2] != "A" else "B") + t[-1], lambda t: t + "x"])
def test_a_refused_token_is_never_remembered(owner, organization, tamper):
    token = tamper(str(RefreshToken.for_user(owner).access_token))
    client = make_client(owner, organization)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}", HTTP_X_ORGANIZATION_ID=str(organization.id))
    remembered = authentication.verified_token.cache_info().currsize
    for _ in range(2):
        assert client.get("/api/leads/").status_code == 401
    assert authentication.verified_token.cache_info().currsize == remembered
