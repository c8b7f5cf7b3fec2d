"""`/api/api-keys/` and `Authorization: Api-Key`: shown once, hashed, scoped, own organization only, revocable."""

import hashlib
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from crmApp.models import ApiKey, HistoryEntry, IdempotencyKey, Lead, Membership, UserRole
from crmApp.tests.conftest import error_fields, make_client
from crmApp.tests.factories import LeadFactory, MembershipFactory, RoleFactory, UserRoleFactory

pytestmark = pytest.mark.django_db


def issue(client, scopes, **body) -> dict:
    response = client.post("/api/api-keys/", {"name": "Billing sync", "scopes": scopes, **body}, format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def key_client(key: str, organization=None) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    if organization is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}", HTTP_X_ORGANIZATION_ID=str(organization.id))
    return client


def test_the_key_is_shown_once_and_stored_hashed(owner_client, owner):
    created = issue(owner_client, ["leads:view"])
    key = created["key"]
    assert key.startswith("crm_") and len(key) >= 4 + 43 and created["prefix"] == key[:12]
    assert (created["scopes"], created["created_by"], created["revoked_at"]) == (["leads:view"], owner.id, None)

    stored = ApiKey.objects.get()
    assert stored.key_hash == hashlib.sha256(key.encode()).hexdigest() and key not in str(stored.__dict__)
    listed = owner_client.get("/api/api-keys/").json()["results"][0]
    shown = owner_client.get(f"/api/api-keys/{created['id']}/").json()
    assert "key" not in listed and "key" not in shown and listed["prefix"] == created["prefix"]


def test_every_key_is_different(owner_client):
    keys = {issue(owner_client, ["leads:view"])["key"] for _ in range(5)}
    assert len(keys) == 5


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"scopes": ["api_keys:manage"]}, "scopes"),
        ({"scopes": ["webhooks:manage"]}, "scopes"),
        ({"scopes": ["roles:manage", "leads:view"]}, "scopes"),
        ({"scopes": ["members:manage"]}, "scopes"),
        ({"scopes": ["leads:fly"]}, "scopes"),
        ({"scopes": []}, "scopes"),
        ({"scopes": "leads:view"}, "scopes"),
        ({"scopes": ["leads:view"], "expires_at": "2001-01-01T00:00:00Z"}, "expires_at"),
        ({"scopes": ["leads:view"], "expires_at": "tomorrow"}, "expires_at"),
        ({"scopes": ["leads:view"], "name": ""}, "name"),
        ({"scopes": ["leads:view"], "name": "x" * 300}, "name"),
        ({"scopes": ["leads:view"], "key": "crm_mine"}, "key"),
    ],
)
def test_bad_keys_are_a_400_on_the_field(owner_client, body, field):
    response = owner_client.post("/api/api-keys/", {"name": "Sync", **body}, format="json")
    assert response.status_code == 400 and field in error_fields(response), response.json()
    assert not ApiKey.objects.exists()


def test_scopes_must_be_codes_the_creator_holds(member_client):
    client = member_client(["api_keys:manage", "leads:view"])
    response = client.post("/api/api-keys/", {"name": "Sync", "scopes": ["leads:delete"]}, format="json")
    assert response.status_code == 400 and "leads:delete" in response.json()["errors"]["scopes"][0]
    assert client.post("/api/api-keys/", {"name": "Sync", "scopes": ["leads:view"]}, format="json").status_code == 201


def test_managing_keys_needs_api_keys_manage(member_client):
    client = member_client(["leads:view", "webhooks:manage"])
    assert client.get("/api/api-keys/").status_code == 403
    assert client.post("/api/api-keys/", {"name": "S", "scopes": ["leads:view"]}, format="json").status_code == 403


def test_a_key_acts_in_its_organization_with_its_scopes(owner_client, owner, organization):
    LeadFactory(organization=organization, first_name="Ada")
    key = issue(owner_client, ["leads:view", "leads:create"])["key"]
    client = key_client(key)

    assert [lead["first_name"] for lead in client.get("/api/leads/").json()["results"]] == ["Ada"]
    created = client.post("/api/leads/", {"first_name": "Bo"}, format="json")
    assert created.status_code == 201
    entry = HistoryEntry.objects.get(record_type="lead", record_id=created.json()["id"], event="created")
    assert entry.actor == owner  # changes are the creator's, made through the key
    assert client.delete(f"/api/leads/{created.json()['id']}/").status_code == 403
    assert client.get("/api/customers/").status_code == 403


def test_a_key_never_reaches_another_organization(owner, owner_client, organization, other_organization):
    MembershipFactory(user=owner, organization=other_organization)  # even one its creator belongs to
    LeadFactory(organization=other_organization)
    key = issue(owner_client, ["leads:view"])["key"]
    assert key_client(key, other_organization).get("/api/leads/").status_code == 403
    assert key_client(key, organization).get("/api/leads/").status_code == 200


def test_a_key_never_manages_keys_webhooks_roles_or_members(owner_client, organization):
    key = issue(owner_client, ["leads:view"])["key"]
    client = key_client(key)
    assert client.get("/api/api-keys/").status_code == 403
    assert client.post("/api/api-keys/", {"name": "x", "scopes": ["leads:view"]}, format="json").status_code == 403
    assert client.get("/api/webhooks/").status_code == 403
    assert client.post("/api/roles/", {"name": "Boss", "permissions": []}, format="json").status_code == 403
    assert client.get(f"/api/organizations/{organization.id}/members/").status_code == 401
    assert client.get("/api/users/me/").status_code == 401
    # Accepting an invitation is open to the signed out; a key must not pass for one.
    accepted = client.post("/api/invitations/accept/", {"token": "x", "password": "Long-enough-9"}, format="json")
    assert accepted.status_code == 401


def test_a_key_loses_what_its_creator_loses(member_client, organization, make_member):
    creator = make_member(["api_keys:manage", "leads:view", "customers:view"])
    key = issue(make_client(creator, organization), ["leads:view", "customers:view"])["key"]
    client = key_client(key)
    assert client.get("/api/leads/").status_code == 200

    UserRole.objects.filter(user=creator).delete()  # the creator no longer holds any code
    assert client.get("/api/leads/").status_code == 403


def test_a_member_who_leaves_loses_their_keys_there_for_good(
    owner_client, organization, other_organization, make_member
):
    creator = make_member(["api_keys:manage", "leads:view"])
    make_member(["api_keys:manage", "leads:view"], org=other_organization, user=creator)
    here = issue(make_client(creator, organization), ["leads:view"])
    there = issue(make_client(creator, other_organization), ["leads:view"])

    assert owner_client.delete(f"/api/organizations/{organization.id}/members/{creator.id}/").status_code == 204
    # Back in the organization with their codes, the keys they made before stay revoked.
    Membership.objects.filter(organization=organization, user=creator).update(status="active")
    UserRoleFactory(user=creator, role=RoleFactory(organization=organization, codes=["leads:view"]))

    assert make_client(creator, organization).get("/api/leads/").status_code == 200
    assert key_client(here["key"]).get("/api/leads/").status_code == 401
    assert owner_client.get(f"/api/api-keys/{here['id']}/").json()["revoked_at"] is not None
    assert key_client(there["key"]).get("/api/leads/").status_code == 200


@pytest.mark.parametrize("problem", ["revoked", "expired", "unknown", "malformed"])
def test_revoked_expired_and_unknown_keys_are_a_401(owner_client, problem):
    created = issue(owner_client, ["leads:view"])
    key = created["key"]
    if problem == "revoked":
        assert owner_client.delete(f"/api/api-keys/{created['id']}/").status_code == 204
    elif problem == "expired":
        ApiKey.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    elif problem == "unknown":
        key = key[:-4] + "AAAA"
    else:
        key = "crm_ key with spaces"
    response = key_client(key).get("/api/leads/")
    assert response.status_code == 401 and response.json()["code"] in ("authentication_failed", "not_authenticated")


def test_revoking_keeps_the_key_listed_with_its_revocation(owner_client):
    created = issue(owner_client, ["leads:view"])
    owner_client.delete(f"/api/api-keys/{created['id']}/")
    first = owner_client.get(f"/api/api-keys/{created['id']}/").json()["revoked_at"]
    assert first is not None
    assert owner_client.delete(f"/api/api-keys/{created['id']}/").status_code == 204
    assert owner_client.get(f"/api/api-keys/{created['id']}/").json()["revoked_at"] == first


def test_a_key_that_expires_later_works_until_then(owner_client):
    later = (timezone.now() + timedelta(days=1)).isoformat()
    created = issue(owner_client, ["leads:view"], expires_at=later)
    assert created["expires_at"] is not None
    assert key_client(created["key"]).get("/api/leads/").status_code == 200


def test_last_used_at_follows_use_within_a_minute(owner_client):
    created = issue(owner_client, ["leads:view"])
    assert created["last_used_at"] is None
    client = key_client(created["key"])
    client.get("/api/leads/")
    first = ApiKey.objects.get().last_used_at
    assert first is not None and timezone.now() - first < timedelta(seconds=5)

    client.get("/api/leads/")  # within the minute: not rewritten
    assert ApiKey.objects.get().last_used_at == first
    ApiKey.objects.update(last_used_at=timezone.now() - timedelta(seconds=61))
    client.get("/api/leads/")
    assert timezone.now() - ApiKey.objects.get().last_used_at < timedelta(seconds=5)


def test_keys_are_throttled_per_key_apart_from_their_creator(owner_client, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "api_key": "2/minute"},
    }
    first, second = issue(owner_client, ["leads:view"])["key"], issue(owner_client, ["leads:view"])["key"]
    client = key_client(first)
    assert [client.get("/api/leads/").status_code for _ in range(3)] == [200, 200, 429]
    assert key_client(second).get("/api/leads/").status_code == 200
    assert owner_client.get("/api/leads/").status_code == 200


def test_an_idempotent_retry_with_a_key_replays(owner_client):
    client = key_client(issue(owner_client, ["leads:create"])["key"])
    first = client.post("/api/leads/", {"first_name": "Ada"}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    again = client.post("/api/leads/", {"first_name": "Ada"}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert again.headers["Idempotent-Replayed"] == "true" and again.json() == first.json()
    assert Lead.objects.count() == 1


def test_a_retried_key_creation_replays_without_the_key_which_is_stored_nowhere(owner_client):
    body = {"name": "Billing sync", "scopes": ["leads:view"]}
    first = owner_client.post("/api/api-keys/", body, format="json", HTTP_IDEMPOTENCY_KEY="new-key-1")
    again = owner_client.post("/api/api-keys/", body, format="json", HTTP_IDEMPOTENCY_KEY="new-key-1")

    key = first.json()["key"]
    assert first.status_code == again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == {**first.json(), "key": None}
    assert ApiKey.objects.count() == 1
    stored = b"".join(bytes(body) for body in IdempotencyKey.objects.values_list("body", flat=True))
    assert key.encode() not in stored and b"crm_" in stored  # the prefix stays; the key is in no table


def test_the_schema_documents_the_api_key_scheme(api_client):
    schema = api_client.get("/api/schema/?format=json").json()
    scheme = schema["components"]["securitySchemes"]["ApiKeyAuth"]
    assert (scheme["type"], scheme["in"], scheme["name"]) == ("apiKey", "header", "Authorization")
    assert {"ApiKeyAuth": []} in schema["paths"]["/api/leads/"]["get"]["security"]
