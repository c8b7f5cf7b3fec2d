"""Shared fixtures: two organizations, their owners, members with chosen codes, authenticated clients."""

import threading

import pytest
from django.core.cache import cache
from django.db import connection, connections
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from crmApp.constants import MembershipRole, ProfileType
from crmApp.models.base import close_numbering_connection
from crmApp.services.organization_service import create_organization
from crmApp.tests.factories import MembershipFactory, RoleFactory, UserFactory, UserRoleFactory

STATIC_STORAGE = "django.contrib.staticfiles.storage.StaticFilesStorage"
# The analytics builders also define the `frozen` clock and the `noise` organization fixtures.
pytest_plugins = ["crmApp.tests.analytics_data"]


def pytest_collection_modifyitems(config, items):
    """Tests marked `postgres` prove what needs PostgreSQL: races (SQLite never lets two writers overlap), indexes."""
    if connection.vendor == "postgresql":
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL: concurrent writers, row locks or its indexes")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


def close_thread_connections() -> None:
    """Close the calling thread's database connections, its code-numbering one included."""
    connections.close_all()
    close_numbering_connection()


def run_together(*calls) -> list:
    """Run each call in its own thread, all released at once; what each returned, in order."""
    barrier, results = threading.Barrier(len(calls)), [None] * len(calls)

    def run(index):
        try:
            barrier.wait()
            results[index] = calls[index]()
        finally:
            close_thread_connections()  # this thread's own connections; close_old_connections keeps them

    threads = [threading.Thread(target=run, args=(index,)) for index in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


@pytest.fixture(scope="session", autouse=True)
def _numbering_connection_closed(django_db_setup, django_db_blocker):
    """The main thread's numbering connection ends before the test database is dropped."""
    yield
    close_numbering_connection()


@pytest.fixture(autouse=True)
def _test_settings(settings):
    """Throttle counters start at zero in every test; hashing is fast; jobs run in line.

    Figures are cached as with Redis (one test process, so the local cache is the shared cache), and
    static files resolve without `collectstatic`.
    """
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.TASKS_RUN_SYNCHRONOUSLY = True
    settings.CACHE_FIGURES = True
    settings.STORAGES = {**settings.STORAGES, "staticfiles": {"BACKEND": STATIC_STORAGE}}
    cache.clear()
    yield
    cache.clear()


def error_fields(response) -> set[str]:
    """The top-level fields a 400 names (nested errors are flattened to `data.status`, `stages.0.name`)."""
    return {key.split(".")[0] for key in response.json()["errors"]}


@pytest.fixture
def api_client():
    return APIClient()


def make_client(user, organization=None) -> APIClient:
    """An APIClient authenticated as `user`, acting in `organization` (header) when given."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(user).access_token}")
    if organization is not None:
        client.credentials(
            HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(user).access_token}",
            HTTP_X_ORGANIZATION_ID=str(organization.id),
        )
    return client


@pytest.fixture
def owner(db):
    return UserFactory(email="owner@example.com")


@pytest.fixture
def organization(owner):
    return create_organization(name="Acme", owner=owner)


@pytest.fixture
def other_owner(db):
    return UserFactory(email="other-owner@example.com")


@pytest.fixture
def other_organization(other_owner):
    return create_organization(name="Globex", owner=other_owner)


@pytest.fixture
def owner_client(owner, organization):
    return make_client(owner, organization)


@pytest.fixture
def other_client(other_owner, other_organization):
    return make_client(other_owner, other_organization)


@pytest.fixture
def make_member(organization):
    """make_member(codes=[...], role=..., profile_type=..., org=...) -> a member holding exactly those codes."""

    def _make(codes=(), *, role=MembershipRole.MEMBER, profile_type=ProfileType.EMPLOYEE, org=None, user=None):
        org = org or organization
        user = user or UserFactory()
        MembershipFactory(user=user, organization=org, role=role, profile_type=profile_type)
        if codes:
            UserRoleFactory(user=user, role=RoleFactory(organization=org, codes=list(codes)))
        return user

    return _make


@pytest.fixture
def member_client(make_member, organization):
    """member_client(codes) -> an APIClient for a new member holding exactly `codes`."""

    def _client(codes=(), **kwargs):
        return make_client(make_member(codes, **kwargs), kwargs.get("org") or organization)

    return _client
