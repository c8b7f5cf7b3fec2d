"""Every error is JSON `{detail, code, errors?}`: 400, 401, 403, 404, 405, 409, 411, 413 and 500."""

import contextlib
import re
import socket
import threading

import pytest
import redis
from django.core.cache import cache
from django.db import connection
from django.db.models import ProtectedError
from django.urls import URLResolver, get_resolver, path
from rest_framework.test import APIClient

from crmApp import redis_cache
from crmApp.models import Activity, Deal, Lead, Role, Webhook
from crmApp.serializers.rbac import RoleSerializer
from crmApp.services.rbac_service import RoleService
from crmApp.tests.conftest import make_client
from crmApp.tests.factories import ActivityFactory, DealFactory, LeadFactory
from crmApp.tests.test_tenancy import api_views
from crmApp.tests.test_webhooks import make_webhook, public_dns
from crmApp.viewsets.rbac import RoleViewSet

pytestmark = pytest.mark.django_db
__all__ = ["public_dns"]  # the fixture

HUGE_ID = "99999999999999999999999"


def assert_error(response, status: int, code: str, *, errors: bool = False) -> dict:
    """The response is JSON of exactly {detail, code} (plus `errors` for validation) with this status and code."""
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == ({"detail", "code", "errors"} if errors else {"detail", "code"})
    assert isinstance(body["detail"], str) and body["detail"]
    assert body["code"] == code
    return body


def boom(request):
    raise RuntimeError("secret internals")


# A Django (non-DRF) route, so the test below reaches the project's handler500.
urlpatterns = [path("api/boom/", boom)]
handler500 = "crmApp.exceptions.server_error"


@pytest.fixture(params=[False, True], ids=["debug off", "debug on"])
def debug(request, settings):
    settings.DEBUG = request.param
    return request.param


def test_400_lists_the_field_errors(owner_client):
    body = assert_error(
        owner_client.post("/api/roles/", {"name": "", "permissions": ["nope"]}, format="json"),
        400,
        "invalid",
        errors=True,
    )

    assert set(body["errors"]) == {"name", "permissions"}
    assert all(isinstance(message, str) for message in body["errors"]["name"])


def test_400_for_a_malformed_json_body(owner_client):
    response = owner_client.generic("POST", "/api/roles/", '{"name": ', content_type="application/json")

    assert_error(response, 400, "parse_error")


def test_400_for_a_business_rule_keeps_the_shape(owner, owner_client, organization):
    body = assert_error(
        owner_client.delete(f"/api/organizations/{organization.id}/members/{owner.id}/"), 400, "last_owner"
    )

    assert "owner" in body["detail"]


@pytest.mark.parametrize("authorization", [None, "Bearer not-a-token", "Basic dXNlcjpwYXNz"])
def test_401_without_valid_credentials(api_client, organization, authorization):
    if authorization:
        api_client.credentials(HTTP_AUTHORIZATION=authorization)

    response = api_client.get("/api/roles/")

    assert response.status_code == 401
    assert set(response.json()) == {"detail", "code"}
    assert response.json()["code"] in {"not_authenticated", "token_not_valid"}
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_403_for_a_missing_code(member_client):
    assert_error(member_client().post("/api/roles/", {"name": "X"}, format="json"), 403, "permission_denied")


def test_403_for_a_foreign_organization_header(owner, other_organization):
    assert_error(make_client(owner, other_organization).get("/api/roles/"), 403, "organization_forbidden")


def test_404_for_a_record_of_another_organization(owner_client, other_organization):
    foreign = Role.objects.filter(organization=other_organization).first()

    assert_error(owner_client.get(f"/api/roles/{foreign.id}/"), 404, "not_found")


@pytest.mark.parametrize(
    "url",
    [
        "/api/no-such-resource/",
        "/api/roles/abc/",
        "/api/roles/1/extra/",
        f"/api/roles/{HUGE_ID}/",
        "/api/organizations/abc/members/",
        f"/api/organizations/{HUGE_ID}/members/",
        "/api/organizations/1/members/abc/",
    ],
)
def test_404_is_json_for_unknown_and_impossible_urls(owner_client, debug, url):
    assert_error(owner_client.get(url), 404, "not_found")


def test_the_api_root_lists_the_top_level_resources(api_client):
    resources = api_client.get("/api/").json()
    assert {"leads", "customers", "deals", "organizations"} <= set(resources)
    assert resources["leads"].endswith("/api/leads/")


def test_404_for_an_anonymous_unknown_url(api_client, debug):
    assert_error(api_client.get("/api/nothing/here/"), 404, "not_found")


def test_404_for_a_page_past_the_end(owner_client):
    assert_error(owner_client.get("/api/roles/", {"page": 99}), 404, "not_found")


def detail_routes():
    """Every router detail route under /api/ as a URL template with `{id}` for the record id."""
    routes = []
    for route, _view in api_views(get_resolver().url_patterns):
        match = re.fullmatch(r"\^?api/\^?([\w-]+)/\(\?P<pk>\[0-9\]\+\)/\$", route)
        if match:
            routes.append(f"/api/{match.group(1)}/{{id}}/")
    return sorted(set(routes))


@pytest.mark.parametrize("url", detail_routes())
@pytest.mark.parametrize("record_id", [HUGE_ID, str(2**63), "0"])
def test_an_impossible_id_is_404_on_every_detail_route(owner_client, url, record_id):
    assert_error(owner_client.get(url.format(id=record_id)), 404, "not_found")


def test_the_detail_route_walk_found_the_resources():
    assert {"/api/roles/{id}/", "/api/user-roles/{id}/", "/api/organizations/{id}/"} <= set(detail_routes())


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("delete", "/api/roles/"),
        ("put", "/api/permissions/"),
        ("patch", "/api/user-roles/{ur}/"),
        ("put", "/api/organizations/{org}/"),
        ("delete", "/api/organizations/"),
    ],
)
def test_405_for_a_method_the_route_does_not_offer(owner_client, organization, method, url):
    url = url.format(org=organization.id, ur=1)

    assert_error(getattr(owner_client, method)(url, {}, format="json"), 405, "method_not_allowed")


def viewset_routes(patterns, prefix=""):
    """(route, {method: action}) for every router route under /api/."""
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            yield from viewset_routes(pattern.url_patterns, route)
        elif route.startswith("api/") and "<format>" not in route and getattr(pattern.callback, "actions", None):
            yield route, pattern.callback.actions


def routes_with_an_unoffered_method():
    """(method, url) per router route: the first of PUT/PATCH/DELETE/POST that the route doesn't offer."""
    cases = set()
    for route, actions in viewset_routes(get_resolver().url_patterns):
        url = "/" + re.sub(r"\(\?P<\w+>[^)]*\)", "1", route).replace("^", "").replace("$", "")
        method = next((m for m in ("put", "patch", "delete", "post") if m not in actions), None)
        if method:
            cases.add((method, url))
    return sorted(cases, key=lambda case: case[1])


@pytest.mark.parametrize(("method", "url"), routes_with_an_unoffered_method())
def test_405_on_every_route_for_a_method_it_does_not_offer(owner_client, method, url):
    assert_error(getattr(owner_client, method)(url, {}, format="json"), 405, "method_not_allowed")


def test_409_when_a_record_is_still_referenced(owner_client, organization, monkeypatch):
    role = Role.objects.filter(organization=organization).first()

    def refuse(self, instance):
        raise ProtectedError("referenced", {role})

    monkeypatch.setattr(RoleService, "delete", refuse)

    assert_error(owner_client.delete(f"/api/roles/{role.id}/"), 409, "protected")
    assert Role.objects.filter(pk=role.pk).exists()


def test_409_when_a_constraint_fails_in_a_race(owner_client, organization, monkeypatch):
    # As if a concurrent request took the name between validation and the insert.
    monkeypatch.setattr(RoleSerializer, "validate_name", lambda self, value: value)

    assert_error(owner_client.post("/api/roles/", {"name": "Viewer"}, format="json"), 409, "conflict")
    assert Role.objects.filter(organization=organization, name="Viewer").count() == 1


@pytest.mark.parametrize("url", ["/api/roles/", "/api/organizations/", "/api/organizations/{org}/members/"])
def test_413_for_a_body_over_5_mb_stores_nothing(owner_client, organization, url):
    roles, memberships = Role.objects.count(), organization.memberships.count()
    body = '{"name": "Big", "email": "big@example.com", "description": "' + "x" * (5 * 1024 * 1024) + '"}'

    response = owner_client.generic("POST", url.format(org=organization.id), body, content_type="application/json")

    assert_error(response, 413, "request_too_large")
    assert (Role.objects.count(), organization.memberships.count()) == (roles, memberships)


@pytest.mark.parametrize(
    ("headers", "status"),
    [({"HTTP_TRANSFER_ENCODING": "chunked"}, 411), ({"CONTENT_LENGTH": str(6 * 1024 * 1024)}, 413)],
)
def test_a_refused_body_carries_the_cors_headers_a_browser_needs_to_read_it(owner_client, headers, status):
    origin = "http://localhost:3000"  # the development default of CORS_ALLOWED_ORIGINS
    response = owner_client.generic(
        "POST", "/api/roles/", '{"name": "x"}', content_type="application/json", HTTP_ORIGIN=origin, **headers
    )
    assert response.status_code == status
    assert response["Access-Control-Allow-Origin"] == origin


@pytest.mark.parametrize(
    ("method", "transfer_encoding", "status"),
    [("PATCH", "chunked", 411), ("POST", "chunked", 411), ("PATCH", "gzip, chunked", 411), ("PATCH", "identity", 200)],
)
def test_a_body_without_a_content_length_is_a_411_not_an_empty_body(
    owner_client, organization, method, transfer_encoding, status
):
    # Django reads only Content-Length bytes: a chunked PATCH would otherwise answer 200 having changed nothing.
    role = Role.objects.create(organization=organization, name="Support")
    url = f"/api/roles/{role.id}/" if method == "PATCH" else "/api/roles/"
    response = owner_client.generic(
        method, url, '{"name": "Renamed"}', content_type="application/json", HTTP_TRANSFER_ENCODING=transfer_encoding
    )
    if status == 411:
        assert_error(response, 411, "length_required")
    assert response.status_code == status
    assert Role.objects.filter(name="Renamed").exists() == (status == 200)


def test_the_schema_documents_the_411_on_every_write_with_a_body(api_client):
    schema = api_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    operations = [(path, method, op) for path, item in schema["paths"].items() for method, op in item.items()]
    with_body = [(path, method) for path, method, op in operations if method in ("post", "put", "patch")]
    assert with_body and all("411" in schema["paths"][path][method]["responses"] for path, method in with_body)


def test_a_body_just_under_the_limit_is_read(owner_client):
    body = '{"name": "Fits", "description": "' + "x" * (4 * 1024 * 1024) + '"}'

    response = owner_client.generic("POST", "/api/roles/", body, content_type="application/json")

    assert response.status_code == 400  # parsed and validated (description is too long), not refused
    assert list(response.json()["errors"]) == ["description"]


def test_500_from_a_view_is_json_without_a_traceback(owner_client, monkeypatch, debug):
    def explode(self, request, *args, **kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(RoleViewSet, "list", explode)

    response = owner_client.get("/api/roles/")

    body = assert_error(response, 500, "server_error")
    assert "secret internals" not in response.content.decode()
    assert "Traceback" not in response.content.decode()
    assert body["detail"] == "Internal server error."


@pytest.mark.parametrize(
    "failure",
    [
        redis.exceptions.ConnectionError,
        redis.exceptions.TimeoutError,
        redis.exceptions.ReadOnlyError,
        redis.exceptions.OutOfMemoryError,
    ],
)
def test_an_unreachable_redis_is_a_503_to_retry_not_a_500(owner_client, monkeypatch, failure):
    def unreachable(self, request, *args, **kwargs):
        raise failure("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(RoleViewSet, "list", unreachable)

    response = owner_client.get("/api/roles/")

    body = assert_error(response, 503, "cache_unavailable")
    assert response["Retry-After"] == "5"
    assert "6379" not in body["detail"]


@pytest.fixture
def stalled_redis(monkeypatch):
    """A Redis address that accepts connections and never answers; the bytes each connection sent."""
    listener = socket.create_server(("127.0.0.1", 0))
    received: list[bytes] = []

    def accept():
        with contextlib.suppress(OSError):
            while True:
                conn, _ = listener.accept()
                conn.settimeout(0.5)
                with contextlib.suppress(OSError):
                    received.append(conn.recv(65536))

    threading.Thread(target=accept, daemon=True).start()
    monkeypatch.setattr(redis_cache, "_stalled_until", 0.0)
    yield f"redis://127.0.0.1:{listener.getsockname()[1]}/0", received
    listener.close()
    redis_cache._stalled_until = 0.0  # before other fixtures' teardown reaches a real Redis


def test_after_redis_times_out_calls_fail_at_once_until_the_pause_ends(stalled_redis, monkeypatch):
    url, received = stalled_redis
    stalled = redis_cache.ReusedClientRedisCache(url, {"OPTIONS": {"socket_timeout": 0.2}})

    with pytest.raises(redis.exceptions.TimeoutError):
        stalled.get("crm:a")
    assert len(received) == 1  # the first call waited out its timeout
    for call in (lambda: stalled.get("crm:b"), lambda: stalled.get_many_along(["crm:c"], lambda pipe: pipe.ping())):
        with pytest.raises(redis.exceptions.ConnectionError, match="timed out moments ago"):
            call()
    assert len(received) == 1  # the next ones were refused without sending

    monkeypatch.setattr(redis_cache, "_stalled_until", 0.0)  # the pause is over
    with pytest.raises(redis.exceptions.TimeoutError):
        stalled.get("crm:d")


@pytest.mark.urls("crmApp.tests.test_errors")
def test_500_outside_the_api_framework_is_json_too(settings):
    settings.DEBUG = False
    client = APIClient(raise_request_exception=False)

    response = client.get("/api/boom/")

    assert_error(response, 500, "server_error")
    assert "secret internals" not in response.content.decode()


@pytest.mark.parametrize("url", ["/static/missing.css", "/nonexistent", "/admin-nope/"])
def test_paths_outside_the_api_answer_ordinary_404_pages(client, url):
    response = client.get(url)
    assert response.status_code == 404
    assert not response["Content-Type"].startswith("application/json")


def test_a_staff_admin_session_browses_the_api_and_needs_csrf_to_write(admin_user, organization, owner):
    from django.test import Client

    from crmApp.tests.factories import MembershipFactory

    MembershipFactory(user=admin_user, organization=organization, role="owner")
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(admin_user)

    assert browser.get("/api/leads/").status_code == 200
    refused = browser.post("/api/leads/", {"first_name": "Ada"}, content_type="application/json")
    assert (refused.status_code, refused.json()["code"]) == (403, "permission_denied")


# Actions that take no body: (path, with the record ids filled in), the record they change and how to read it.
BODYLESS_ACTIONS = {
    "win a deal": "/api/deals/{deal}/win/",
    "complete an activity": "/api/activities/{activity}/complete/",
    "reopen an activity": "/api/activities/{activity}/reopen/",
    "rotate a webhook's secret": "/api/webhooks/{webhook}/rotate-secret/",
    "ping a webhook": "/api/webhooks/{webhook}/ping/",
}


@pytest.mark.parametrize("action", BODYLESS_ACTIONS)
@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"value": "5000.00"}, {"value"}),
        (["value"], {"non_field_errors"}),
        # A body that parses to something falsy is still a body, refused as any other value is.
        ([], {"non_field_errors"}),
        (False, {"non_field_errors"}),
        (0, {"non_field_errors"}),
        ("", {"non_field_errors"}),
        ({}, None),
    ],
    ids=["a field", "a list", "an empty list", "false", "zero", "an empty string", "empty"],
)
def test_an_action_that_takes_no_body_refuses_one(owner_client, organization, public_dns, action, body, fields):
    ids = {
        "deal": DealFactory(organization=organization, value="100.00").id,
        "activity": ActivityFactory(organization=organization).id,
        "webhook": make_webhook(organization).id,
    }
    before = (Deal.objects.get().value, Activity.objects.get().is_done, Webhook.objects.get().secret)

    response = owner_client.post(BODYLESS_ACTIONS[action].format(**ids), body, format="json")

    if fields is None:
        assert response.status_code in (200, 202), response.content
        return
    assert_error(response, 400, "invalid", errors=True)
    assert set(response.json()["errors"]) == fields
    assert (Deal.objects.get().value, Activity.objects.get().is_done, Webhook.objects.get().secret) == before


@pytest.mark.parametrize(
    "path", [*BODYLESS_ACTIONS.values(), "/api/trash/leads/{lead}/restore/"], ids=[*BODYLESS_ACTIONS, "restore"]
)
def test_options_describes_no_body_for_an_action_that_takes_none(owner_client, organization, public_dns, path):
    ids = {
        "deal": DealFactory(organization=organization).id,
        "activity": ActivityFactory(organization=organization).id,
        "webhook": make_webhook(organization).id,
        "lead": LeadFactory(organization=organization).id,
    }

    response = owner_client.options(path.format(**ids))

    assert response.status_code == 200
    assert "POST" in response["Allow"]
    # The record's fields described as a POST body would be refused, one by one, if a client sent them.
    assert "actions" not in response.json()


@pytest.mark.django_db(transaction=True)
def test_a_write_whose_cache_fails_at_commit_is_answered_as_done(owner_client, monkeypatch):
    """The versions move again at commit; Redis failing then doesn't undo the write, so it isn't a 503."""
    real_set = cache.set

    def failing_after_commit(*args, **kwargs):
        if not connection.in_atomic_block and Lead.objects.exists():  # the write has committed
            raise redis.exceptions.ConnectionError("Connection refused.")
        return real_set(*args, **kwargs)

    monkeypatch.setattr(cache, "set", failing_after_commit)

    response = owner_client.post("/api/leads/", {"first_name": "Ada", "last_name": "Byron"}, format="json")

    assert response.status_code == 201, response.content
    assert Lead.objects.filter(first_name="Ada").count() == 1


def test_an_unknown_host_is_a_400_logged_as_one_warning_line(api_client, caplog):
    # Scanners send any Host; a traceback at ERROR for each would bury the errors that matter.
    with caplog.at_level("INFO"):
        response = api_client.get("/api/health/", HTTP_HOST="scanner.example")
    assert response.status_code == 400
    [record] = [r for r in caplog.records if r.name == "django.security.DisallowedHost"]
    assert record.levelname == "WARNING" and record.exc_info is None and record.exc_text is None
    assert "scanner.example" in record.getMessage()
