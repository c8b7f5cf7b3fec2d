"""Idempotency-Key: a retried POST replays the first answer and acts once."""

from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone
from rest_framework.test import APIClient

from crmApp.models import Customer, Deal, IdempotencyKey, Lead, Role, UserRole
from crmApp.services.organization_service import create_organization
from crmApp.services.rbac_service import UserRoleService
from crmApp.tests.conftest import make_client, run_together
from crmApp.tests.factories import DealFactory, LeadFactory, RoleFactory, default_stage

pytestmark = pytest.mark.django_db
LEADS = "/api/leads/"


def post(client, url, body, key, **headers):
    return client.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY=key, **headers)


def test_a_retry_replays_the_first_answer_and_creates_nothing_more(owner_client, organization):
    first = post(owner_client, LEADS, {"first_name": "Once"}, "key-1")
    again = post(owner_client, LEADS, {"first_name": "Once"}, "key-1")

    assert (first.status_code, again.status_code) == (201, 201)
    assert again.content == first.content
    assert again["Idempotent-Replayed"] == "true"
    assert again["ETag"] == first["ETag"] == '"1"'
    assert "Idempotent-Replayed" not in first
    assert Lead.objects.filter(organization=organization).count() == 1


@pytest.mark.parametrize(
    ("url", "body"),
    [
        pytest.param(LEADS, {"first_name": "Other"}, id="other body"),
        pytest.param("/api/customers/", {"first_name": "Once", "last_name": "X"}, id="other path"),
        pytest.param(f"{LEADS}?x=1", {"first_name": "Once"}, id="other query"),
    ],
)
def test_the_same_key_for_another_request_is_422(owner_client, organization, url, body):
    post(owner_client, LEADS, {"first_name": "Once"}, "key-1")

    response = post(owner_client, url, body, "key-1")

    assert (response.status_code, response.json()["code"]) == (422, "idempotency_key_reused")
    assert Lead.objects.count() == 1 and Customer.objects.count() == 0


def test_a_key_still_in_use_is_409(owner, owner_client, organization):
    post(owner_client, LEADS, {"first_name": "Once"}, "key-1")
    IdempotencyKey.objects.filter(key="key-1").update(status_code=None)  # as if the first were still running

    response = post(owner_client, LEADS, {"first_name": "Once"}, "key-1")

    assert (response.status_code, response.json()["code"]) == (409, "idempotency_key_in_use")


def test_a_key_abandoned_by_a_dead_request_is_taken_over(owner_client, organization):
    post(owner_client, LEADS, {"first_name": "Once"}, "key-1")
    # As if that request had died ten minutes ago without an answer (and without its changes).
    Lead.objects.all().delete()
    IdempotencyKey.objects.update(status_code=None, created_at=timezone.now() - timedelta(minutes=10))

    response = post(owner_client, LEADS, {"first_name": "Once"}, "key-1")

    assert response.status_code == 201 and "Idempotent-Replayed" not in response
    assert Lead.objects.count() == 1


@pytest.mark.parametrize("key", ["", "x" * 256, "tab\there", "new\nline", "caf\u00e9"])
def test_a_malformed_key_is_400_and_nothing_happens(owner_client, organization, key):
    response = post(owner_client, LEADS, {"first_name": "Once"}, key)

    assert (response.status_code, response.json()["code"]) == (400, "invalid_idempotency_key")
    assert not Lead.objects.exists()


def test_refused_requests_are_replayed_too(owner_client, organization):
    first = post(owner_client, LEADS, {"first_name": ""}, "key-1")
    again = post(owner_client, LEADS, {"first_name": ""}, "key-1")
    assert (first.status_code, again.status_code, again["Idempotent-Replayed"]) == (400, 400, "true")
    assert again.json() == first.json()


def test_server_errors_are_not_remembered(owner_client, organization, monkeypatch):
    from crmApp.services.lead_service import LeadService

    original = LeadService.create
    monkeypatch.setattr(LeadService, "create", lambda self, **fields: 1 / 0)
    assert post(owner_client, LEADS, {"first_name": "Once"}, "key-1").status_code == 500
    assert not Lead.objects.exists()
    monkeypatch.setattr(LeadService, "create", original)

    assert post(owner_client, LEADS, {"first_name": "Once"}, "key-1").status_code == 201
    assert Lead.objects.count() == 1


class Deadlock(Exception):
    sqlstate = "40P01"


def lost_a_deadlock(self, **fields):
    from django.db import OperationalError

    raise OperationalError("deadlock detected") from Deadlock()


def broke_a_constraint(self, **fields):
    from django.db import IntegrityError

    raise IntegrityError("duplicate key value violates unique constraint")


@pytest.mark.parametrize("failure", [lost_a_deadlock, broke_a_constraint], ids=["lost race", "constraint race"])
def test_conflicts_of_a_race_are_not_remembered(owner_client, organization, monkeypatch, failure):
    # Nothing was done and the answer says to try again: the retry must run, not replay the refusal.
    from crmApp.services.lead_service import LeadService

    original = LeadService.create
    monkeypatch.setattr(LeadService, "create", failure)
    assert post(owner_client, LEADS, {"first_name": "Once"}, "key-1").json()["code"] == "conflict"
    monkeypatch.setattr(LeadService, "create", original)

    again = post(owner_client, LEADS, {"first_name": "Once"}, "key-1")

    assert (again.status_code, "Idempotent-Replayed" in again) == (201, False)
    assert Lead.objects.count() == 1


def test_a_throttled_request_is_not_remembered(owner_client, organization, settings):
    rates = {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "user": "1/minute"}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}
    assert owner_client.get(LEADS).status_code == 200
    assert post(owner_client, LEADS, {"first_name": "Once"}, "key-1").status_code == 429
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {**rates, "user": "100/minute"}}

    again = post(owner_client, LEADS, {"first_name": "Once"}, "key-1")

    assert (again.status_code, "Idempotent-Replayed" in again) == (201, False)


@pytest.mark.parametrize(
    ("second_body", "status"), [({"first_name": "Once"}, 201), ({"first_name": "Other"}, 422)], ids=["replay", "reused"]
)
def test_answers_of_the_key_count_against_the_rate_limit_and_say_so(
    owner_client, organization, settings, second_body, status
):
    rates = {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "user": "2/minute"}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}
    assert post(owner_client, LEADS, {"first_name": "Once"}, "key-1").status_code == 201

    second = post(owner_client, LEADS, second_body, "key-1")
    third = post(owner_client, LEADS, second_body, "key-1")

    assert second.status_code == status
    assert (second["RateLimit-Limit"], second["RateLimit-Remaining"]) == ("2", "0")
    assert (third.status_code, third.json()["code"], "Idempotent-Replayed" in third) == (429, "throttled", False)
    assert int(third["Retry-After"]) == third.json()["retry_after"] > 0


def test_keys_belong_to_their_user_and_organization(owner_client, organization, make_member, other_client):
    colleague = make_client(make_member(["leads:create", "leads:view"]), organization)
    post(owner_client, LEADS, {"first_name": "Once"}, "shared")

    assert post(colleague, LEADS, {"first_name": "Once"}, "shared").status_code == 201
    assert post(other_client, LEADS, {"first_name": "Once"}, "shared").status_code == 201
    assert Lead.objects.count() == 3


def test_a_key_is_scoped_to_the_organization_acted_in_not_to_the_header_as_sent(owner, organization):
    owner.default_organization = organization
    owner.save(update_fields=["default_organization"])

    first = post(make_client(owner, organization), LEADS, {"first_name": "Once"}, "key-1")
    again = post(make_client(owner), LEADS, {"first_name": "Once"}, "key-1")  # no header: the default, the same

    assert (first.status_code, again.status_code) == (201, 201)
    assert again["Idempotent-Replayed"] == "true"
    assert Lead.objects.filter(organization=organization).count() == 1


def test_a_key_never_replays_another_organizations_answer(owner, organization):
    second = create_organization(name="Second", owner=owner)
    owner.default_organization = second
    owner.save(update_fields=["default_organization"])
    client = make_client(owner)
    assert post(client, LEADS, {"first_name": "Once"}, "key-1").json()["organization"] == second.id

    owner.default_organization = organization  # the default moves, e.g. when the other organization is deleted
    owner.save(update_fields=["default_organization"])
    again = post(client, LEADS, {"first_name": "Once"}, "key-1")

    assert again.status_code == 201 and "Idempotent-Replayed" not in again
    assert again.json()["organization"] == organization.id
    assert Lead.objects.filter(organization=organization).count() == 1


@pytest.mark.parametrize(
    ("path", "body"),
    [("convert/", {"create_deal": True}), ("assign/", {"employee": None})],
)
def test_record_actions_act_once(owner_client, organization, path, body):
    lead = LeadFactory(organization=organization, status="qualified", last_name="Once")
    first = post(owner_client, f"/api/leads/{lead.id}/{path}", body, "action-key")
    again = post(owner_client, f"/api/leads/{lead.id}/{path}", body, "action-key")

    assert first.status_code in (200, 201) and again.content == first.content
    assert Customer.objects.count() == (1 if path == "convert/" else 0)
    assert Deal.objects.count() == (1 if path == "convert/" else 0)


def test_win_and_bulk_actions_act_once(owner_client, organization):
    deal = DealFactory(organization=organization, stage=default_stage(organization))
    assert post(owner_client, f"/api/deals/{deal.id}/win/", {}, "win").status_code == 200
    assert post(owner_client, f"/api/deals/{deal.id}/win/", {}, "win")["Idempotent-Replayed"] == "true"
    assert Deal.objects.get(pk=deal.pk).version == 2


def test_auth_endpoints_and_anonymous_callers_ignore_the_key(api_client, db):
    body = {"email": "nobody@example.com"}
    first = post(api_client, "/api/auth/password-reset/", body, "k")
    assert first.status_code == 202 and "Idempotent-Replayed" not in post(
        api_client, "/api/auth/password-reset/", body, "k"
    )
    assert not IdempotencyKey.objects.exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_simultaneous_duplicates_execute_once(owner, organization):
    clients = [make_client(owner, organization) for _ in range(4)]
    lock = __import__("threading").Lock()

    def send():
        with lock:
            client = clients.pop()
        return post(client, LEADS, {"first_name": "Once"}, "storm").status_code

    statuses = run_together(*[send] * 4)

    assert Lead.objects.filter(organization=organization).count() == 1
    assert statuses.count(201) >= 1 and set(statuses) <= {201, 409}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("key", [None, "k-deferred"], ids=["no-key", "key"])
def test_a_foreign_key_broken_by_a_race_is_a_409_with_or_without_a_key(
    owner, organization, make_member, monkeypatch, key
):
    # A role deleted between the check and the commit: PostgreSQL checks the foreign key at commit,
    # which with a key is the middleware's, after the view has answered.
    member, role = make_member(), RoleFactory(organization=organization)

    @transaction.atomic
    def assign_a_role_deleted_meanwhile(service, *, user, role):
        assignment = UserRole.objects.create(organization=service.organization, user=user, role=role)
        with connection.cursor() as cursor:  # as a concurrent delete, committed first, leaves it
            cursor.execute(f'DELETE FROM "{Role._meta.db_table}" WHERE id = %s', [role.pk])
        return assignment

    monkeypatch.setattr(UserRoleService, "create", assign_a_role_deleted_meanwhile)
    headers = {} if key is None else {"HTTP_IDEMPOTENCY_KEY": key}
    client = make_client(owner, organization)
    body = {"user": member.id, "role": role.id}

    responses = [client.post("/api/user-roles/", body, format="json", **headers) for _ in range(2)]

    assert [(r.status_code, r.json()["code"]) for r in responses] == [(409, "conflict")] * 2
    assert not UserRole.objects.filter(user=member).exists()


def import_form(content: bytes) -> dict:
    from django.core.files.uploadedfile import SimpleUploadedFile

    return {"resource": "leads", "dry_run": "true", "file": SimpleUploadedFile("data.csv", content, "text/csv")}


def test_an_upload_over_the_json_body_limit_runs_and_replays_with_a_key(owner_client, organization, settings):
    # An import may be far larger than any other body (51 MB against 5 MB); the key must not refuse it.
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    content = b"first_name,last_name\n" + b"Ann,Lee\n" * 500
    first = owner_client.post("/api/imports/", import_form(content), HTTP_IDEMPOTENCY_KEY="big-upload")
    again = owner_client.post("/api/imports/", import_form(content), HTTP_IDEMPOTENCY_KEY="big-upload")

    assert first.status_code == 202, first.content
    assert (again.status_code, again.content, again["Idempotent-Replayed"]) == (202, first.content, "true")


def test_a_retried_upload_replays_though_its_multipart_boundary_is_new(owner_client, organization):
    # Browsers and HTTP libraries draw a new random boundary each time they encode the same form.
    from django.test.client import encode_multipart

    content = b"first_name,last_name\nAnn,Lee\n"
    answers = [
        owner_client.post(
            "/api/imports/",
            encode_multipart(boundary, import_form(content)),
            content_type=f"multipart/form-data; boundary={boundary}",
            HTTP_IDEMPOTENCY_KEY="upload",
        )
        for boundary in ("----FormBoundaryA1b2C3", "----FormBoundaryZ9y8X7")
    ]

    assert [a.status_code for a in answers] == [202, 202], answers[1].content
    assert answers[1].content == answers[0].content and answers[1]["Idempotent-Replayed"] == "true"
    assert len({a.json()["id"] for a in answers}) == 1
    other = owner_client.post("/api/imports/", import_form(content + b"Bo,Ng\n"), HTTP_IDEMPOTENCY_KEY="upload")
    assert (other.status_code, other.json()["code"]) == (422, "idempotency_key_reused")


def lose_membership(owner_client, organization, member):
    removed = owner_client.delete(f"/api/organizations/{organization.id}/members/{member.id}/")
    assert removed.status_code == 204


def lose_the_role(owner_client, organization, member):
    role = Role.objects.get(user_roles__user=member)
    narrowed = owner_client.patch(f"/api/roles/{role.id}/", {"permissions": ["leads:view"]}, format="json")
    assert narrowed.status_code == 200, narrowed.content


@pytest.mark.parametrize(
    ("taken_away", "refusal"),
    [
        pytest.param(lose_membership, (403, "organization_forbidden"), id="member removed"),
        pytest.param(lose_the_role, (403, "permission_denied"), id="role narrowed"),
    ],
)
@pytest.mark.parametrize("second_body", [{"first_name": "Once"}, {"first_name": "Other"}], ids=["replay", "reused"])
def test_a_retry_answers_only_a_caller_who_may_still_make_the_request(
    owner_client, organization, make_member, taken_away, refusal, second_body
):
    member = make_member(["leads:create", "leads:view"])
    client = make_client(member, organization)
    assert post(client, LEADS, {"first_name": "Once"}, "k-123").status_code == 201

    taken_away(owner_client, organization, member)
    again = post(client, LEADS, second_body, "k-123")

    # As a fresh request is refused: neither the stored lead nor anything about the key is told.
    assert (again.status_code, again.json()["code"]) == refusal
    assert "Idempotent-Replayed" not in again
    assert client.post(LEADS, second_body, format="json").status_code == again.status_code
    assert Lead.objects.count() == 1


def test_a_retry_in_the_organization_of_the_url_is_refused_once_the_caller_left_it(
    owner_client, organization, make_member
):
    # The organizations' own routes check the organization of the URL (a 404), not the header.
    member = make_member(["members:manage"])
    client = make_client(member, organization)
    invite = f"/api/organizations/{organization.id}/members/"
    assert post(client, invite, {"email": "new@example.com"}, "invite").status_code == 201

    lose_membership(owner_client, organization, member)
    again = post(client, invite, {"email": "new@example.com"}, "invite")

    assert (again.status_code, "Idempotent-Replayed" in again) == (404, False)


def test_a_retry_naming_another_organization_is_refused_there_and_replays_at_home(
    owner, owner_client, organization, other_organization
):
    assert post(owner_client, LEADS, {"first_name": "Once"}, "k-123").status_code == 201

    elsewhere = post(make_client(owner, other_organization), LEADS, {"first_name": "Once"}, "k-123")
    at_home = post(owner_client, LEADS, {"first_name": "Once"}, "k-123")

    assert (elsewhere.status_code, elsewhere.json()["code"]) == (403, "organization_forbidden")
    assert (at_home.status_code, at_home["Idempotent-Replayed"]) == (201, "true")
    assert Lead.objects.count() == 1


def test_a_retry_with_a_revoked_api_key_is_a_401(owner_client, organization):
    created = owner_client.post("/api/api-keys/", {"name": "sync", "scopes": ["leads:create"]}, format="json").json()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {created['key']}")
    assert post(client, LEADS, {"first_name": "Once"}, "k-123").status_code == 201

    assert owner_client.delete(f"/api/api-keys/{created['id']}/").status_code == 204
    again = post(client, LEADS, {"first_name": "Once"}, "k-123")

    assert (again.status_code, "Idempotent-Replayed" in again) == (401, False)
    assert Lead.objects.count() == 1


def test_every_route_taking_a_post_checks_a_retry_before_answering_it():
    from django.urls import URLPattern, URLResolver, get_resolver

    from crmApp.idempotency import AnswersOnlyAfterTheChecks

    def routes(patterns, prefix=""):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                yield from routes(pattern.url_patterns, prefix + str(pattern.pattern))
            elif isinstance(pattern, URLPattern):
                yield prefix + str(pattern.pattern), pattern.callback

    unchecked, checked = set(), 0
    for route, callback in routes(get_resolver().url_patterns):
        view_class = getattr(callback, "cls", None)
        actions = getattr(callback, "actions", None)
        takes_a_post = "post" in actions if actions is not None else hasattr(view_class, "post")
        replayable = route.startswith("api/") and not route.startswith("api/auth/") and takes_a_post
        if replayable and not issubclass(view_class, AnswersOnlyAfterTheChecks):
            unchecked.add(f"{route} ({view_class.__name__})")
        checked += replayable

    assert checked > 20 and not unchecked
