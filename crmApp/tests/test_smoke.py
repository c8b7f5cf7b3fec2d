import pytest
import redis

from crmApp.constants import DEFAULT_PIPELINE_STAGES
from crmApp.models import Membership, PipelineStage, Role


@pytest.mark.django_db
def test_new_organization_gets_owner_default_roles_and_pipeline(organization, owner):
    assert Membership.objects.get(organization=organization, user=owner).role == "owner"
    assert set(Role.objects.filter(organization=organization).values_list("name", flat=True)) == {
        "Sales Manager",
        "Sales Rep",
        "Viewer",
    }
    stages = PipelineStage.objects.filter(organization=organization).order_by("order")
    assert [(s.name, s.probability, s.is_won, s.is_lost) for s in stages] == list(DEFAULT_PIPELINE_STAGES)


@pytest.mark.django_db
def test_health_reports_database_ok(api_client):
    response = api_client.get("/api/health/")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


@pytest.mark.django_db
def test_health_is_503_when_the_database_does_not_answer(api_client, monkeypatch):
    from django.db import DatabaseError, connection

    def unreachable():
        raise DatabaseError("connection refused")

    monkeypatch.setattr(connection, "cursor", unreachable)
    response = api_client.get("/api/health/")
    assert response.status_code == 503
    assert response.json() == {
        "status": "unavailable",
        "database": "unreachable",
        "cache": "ok",
        "detail": "The database is unreachable.",
        "code": "database_unavailable",
    }


@pytest.mark.django_db
@pytest.mark.parametrize(
    "failure", [redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, redis.exceptions.ReadOnlyError]
)
def test_health_is_503_when_the_cache_does_not_answer(api_client, monkeypatch, failure):
    """Every API request needs the shared cache (versions, access, throttles): a probe must see it fail."""
    from django.core.cache import cache

    def unreachable(key, *args, **kwargs):
        raise failure("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(cache, "get", unreachable)
    response = api_client.get("/api/health/")
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert response.json() == {
        "status": "unavailable",
        "database": "ok",
        "cache": "unreachable",
        "detail": "The cache is unreachable.",
        "code": "cache_unavailable",
    }


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("path", "method", "documented"),
    [
        ("/api/leads/", "get", True),
        ("/api/deals/{id}/win/", "post", True),
        ("/api/analytics/dashboard/", "get", True),
        ("/api/users/me/", "get", True),
        ("/api/permissions/", "get", True),
        ("/api/auth/login/", "post", False),
        ("/api/organizations/", "get", False),
    ],
)
def test_schema_documents_the_organization_header_where_it_applies(api_client, path, method, documented):
    schema = api_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    headers = {p["name"] for p in schema["paths"][path][method].get("parameters", []) if p["in"] == "header"}
    assert ("X-Organization-ID" in headers) is documented
    assert "jwtAuth" in schema["components"]["securitySchemes"]
