"""What a read costs once its caches are warm, with Redis as the shared cache: SQL queries and Redis round trips.

Pinned for the list and the detail of every resource, and the same with ten times the records: a change
here is a change in what every request of the frontend costs.
"""

import time

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from crmApp import throttles
from crmApp.constants import RecordScope
from crmApp.models import Role
from crmApp.tests.conftest import make_client
from crmApp.tests.factories import FACTORIES_BY_RESOURCE, LeadFactory
from crmApp.tests.redis_calls import redis_round_trips
from crmApp.tests.test_processes import REDIS_TEST_URL, require_redis

pytestmark = pytest.mark.django_db

# (queries, Redis round trips) of a warm request. Redis: the signed-in account with their membership, codes
# and scope, the request counted against their rate limit and, for lists, the data version with the cached
# count (1). Queries: the page (a lead page selects its converted customers with it); a detail reads its
# record (a lead, its converted customer).
COSTS = {
    ("customers", "list"): (1, 1),
    ("customers", "detail"): (1, 1),
    ("leads", "list"): (1, 1),
    ("leads", "detail"): (2, 1),
    ("deals", "list"): (1, 1),
    ("deals", "detail"): (1, 1),
    ("activities", "list"): (1, 1),
    ("activities", "detail"): (1, 1),
    ("employees", "list"): (1, 1),
    ("employees", "detail"): (1, 1),
    ("vendors", "list"): (1, 1),
    ("vendors", "detail"): (1, 1),
}


@pytest.fixture
def shared_redis(settings):
    require_redis()
    settings.REDIS_URL = REDIS_TEST_URL
    settings.CACHES = {"default": {"BACKEND": "crmApp.redis_cache.ReusedClientRedisCache", "LOCATION": REDIS_TEST_URL}}
    throttles.redis_client.cache_clear()
    cache.clear()
    yield
    cache.clear()
    throttles.redis_client.cache_clear()


def warm_costs(client, path: str) -> tuple[int, int]:
    assert client.get(path).status_code == 200  # fills the caches
    with CaptureQueriesContext(connection) as queries, redis_round_trips() as redis:
        assert client.get(path).status_code == 200
    return len(queries), redis["round_trips"]


@pytest.mark.parametrize("records", [2, 20])
@pytest.mark.parametrize(("resource", "read"), COSTS, ids=[f"{r}-{k}" for r, k in COSTS])
def test_a_warm_read_costs_a_pinned_number_of_queries_and_redis_round_trips(
    shared_redis, owner_client, organization, resource, read, records
):
    made = FACTORIES_BY_RESOURCE[resource].create_batch(records, organization=organization)
    path = f"/api/{resource}/" if read == "list" else f"/api/{resource}/{made[0].id}/"

    assert warm_costs(owner_client, path) == COSTS[resource, read]


def test_the_cache_builds_one_redis_client_and_reuses_it(shared_redis):
    cache.set("crm:test:reuse", 1)
    client = cache._cache.get_client()
    assert cache.get("crm:test:reuse") == 1 and cache._cache.get_client(write=True) is client


def test_the_rate_limit_counted_with_the_callers_access_counts_each_request_once(shared_redis, owner_client, settings):
    # No round trip of its own (the costs above); here, that the limit still holds, one count per request.
    rates = {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "user": "3/minute"}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}
    answers = [owner_client.get("/api/leads/") for _ in range(4)]
    assert [answer.status_code for answer in answers] == [200, 200, 200, 429]
    assert [answer["RateLimit-Remaining"] for answer in answers] == ["2", "1", "0", "0"]
    assert answers[3].json()["code"] == "throttled"


@pytest.mark.parametrize("counters", ["redis", "in-process"])
def test_a_refusal_by_permissions_counts_and_says_where_the_caller_stands(request, counters, member_client, settings):
    if counters == "redis":
        request.getfixturevalue("shared_redis")
    rates = {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "user": "3/minute"}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}
    viewer = member_client(["leads:view"])

    answers = [viewer.delete(f"/api/leads/{number}/") for number in range(1, 5)]

    assert [answer.status_code for answer in answers] == [403, 403, 403, 429]
    assert [answer["RateLimit-Remaining"] for answer in answers] == ["2", "1", "0", "0"]


@pytest.mark.parametrize("counters", ["redis", "in-process"])
@pytest.mark.parametrize("header", ["999999", "not-an-id"])
@pytest.mark.parametrize("path", ["/api/leads/", "/api/permissions/"])
def test_a_refusal_for_the_organization_header_counts_and_says_where_the_caller_stands(
    request, counters, header, path, owner, organization, settings
):
    # The 403 organization_forbidden comes from resolving the tenant, not from a missing code: it counts
    # against the signed-in caller's budget all the same, so a client looping on a wrong header is stopped.
    if counters == "redis":
        request.getfixturevalue("shared_redis")
    rates = {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "user": "3/minute"}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}

    client = make_client(owner)

    answers = [client.get(path, HTTP_X_ORGANIZATION_ID=header) for _ in range(4)]

    assert [answer.status_code for answer in answers] == [403, 403, 403, 429]
    assert answers[0].json()["code"] == "organization_forbidden"
    assert [answer["RateLimit-Remaining"] for answer in answers] == ["2", "1", "0", "0"]


@pytest.mark.parametrize("counters", ["redis", "in-process"])
@pytest.mark.parametrize(("method", "route", "refused"), [("get", "", 404), ("post", "members/", 403)])
def test_a_refusal_on_the_organization_routes_counts_and_says_where_the_caller_stands(
    request, counters, method, route, refused, member_client, organization, other_organization, settings
):
    # A plain member inviting (403), or reading an organization it doesn't belong to (404).
    if counters == "redis":
        request.getfixturevalue("shared_redis")
    rates = {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "user": "3/minute"}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}
    target = other_organization if refused == 404 else organization
    path = f"/api/organizations/{target.id}/{route}"
    client = member_client()

    answers = [getattr(client, method)(path, {"email": "x@example.com"}, format="json") for _ in range(4)]

    assert [answer.status_code for answer in answers] == [refused] * 3 + [429]
    assert [answer["RateLimit-Remaining"] for answer in answers] == ["2", "1", "0", "0"]


def test_a_counter_redis_refuses_fails_the_count_not_the_request(shared_redis, owner_client, owner, caplog):
    window = throttles.UserRateThrottle().window
    counted = throttles.Hit(f"user:{throttles.UserRateThrottle.user_key(owner.pk)}", window, time.time())
    throttles.redis_client().set(counted.current, "not a number")  # INCR answers an error
    assert owner_client.get("/api/leads/").status_code == 200
    assert "Rate limit counters are unavailable" in caplog.text


def test_a_count_read_ahead_for_the_scope_a_caller_had_is_not_used_once_it_changed(
    shared_redis, make_member, organization
):
    member = make_member(["leads:view"])
    role = Role.objects.get(organization=organization, user_roles__user=member)
    role.record_scope = RecordScope.OWN
    role.save()
    LeadFactory.create_batch(3, organization=organization)  # nobody's: outside an `own` scope
    LeadFactory(organization=organization, created_by=member)
    client = make_client(member, organization)
    assert client.get("/api/leads/").json()["count"] == 1
    assert warm_costs(client, "/api/leads/") == (1, 1)

    role.record_scope = RecordScope.ALL
    role.save()
    with redis_round_trips() as redis:
        assert client.get("/api/leads/").json()["count"] == 4  # read ahead for `own`, counted for `all`
    assert redis["round_trips"] >= 2
    assert warm_costs(client, "/api/leads/") == (1, 1)
