"""The OpenAPI schema describes what the routes take and answer, so a client generated from it works."""

import pytest

from crmApp.tests.factories import DealFactory, LeadFactory

pytestmark = pytest.mark.django_db

TRASH_RESOURCES = ["customers", "leads", "deals", "activities", "employees", "vendors"]
RESTORE = ("/api/trash/{resource}/{id}/restore/", "post")
PURGE = ("/api/trash/{resource}/{id}/", "delete")


@pytest.fixture
def schema(api_client):
    return api_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()


def resolve(schema, node):
    """The component a `$ref` names, or the node itself."""
    if "$ref" in node:
        return schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]]
    return node


@pytest.mark.parametrize(("path", "method"), [RESTORE, PURGE])
def test_trash_record_routes_take_the_resource_name_in_the_path_and_no_query(schema, path, method):
    parameters = schema["paths"][path][method]["parameters"]
    path_parameters = {p["name"]: p["schema"] for p in parameters if p["in"] == "path"}
    assert path_parameters["resource"]["type"] == "string"
    assert sorted(path_parameters["resource"]["enum"]) == sorted(TRASH_RESOURCES)
    assert path_parameters["id"]["type"] == "integer"
    assert [p["name"] for p in parameters if p["in"] == "query"] == []


def test_a_restore_answers_the_record_of_whichever_resource_it_names(schema):
    answer = schema["paths"][RESTORE[0]][RESTORE[1]]["responses"]["200"]["content"]["application/json"]["schema"]
    answer = resolve(schema, answer)
    assert sorted(option["$ref"].rsplit("/", 1)[1] for option in answer["oneOf"]) == [
        "Activity",
        "Customer",
        "Deal",
        "Employee",
        "Lead",
        "Vendor",
    ]


@pytest.mark.parametrize(("path", "method"), [RESTORE, PURGE])
def test_trash_record_routes_document_the_if_match_refusal(schema, path, method):
    assert "412" in schema["paths"][path][method]["responses"]


@pytest.mark.parametrize("query", ["resource=leads", "resource=bogus"])
def test_restore_refuses_a_query_parameter_the_schema_does_not_offer(owner_client, query):
    response = owner_client.post(f"/api/trash/leads/1/restore/?{query}")
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["resource"]


def operations(schema):
    return [(f"{method.upper()} {path}", op) for path, item in schema["paths"].items() for method, op in item.items()]


def test_every_operation_documents_the_406_for_an_accept_header_it_cannot_satisfy(schema):
    assert [name for name, op in operations(schema) if "406" not in op["responses"]] == []


def test_every_operation_that_takes_a_body_documents_the_415_for_another_content_type(schema):
    with_body = [(name, op) for name, op in operations(schema) if "requestBody" in op]
    assert with_body
    assert [name for name, op in with_body if "415" not in op["responses"]] == []


@pytest.mark.parametrize(
    ("path", "method"), [("/api/deals/{id}/win/", "post"), RESTORE, ("/api/webhooks/{id}/ping/", "post")]
)
def test_an_action_that_takes_no_body_documents_the_415_of_a_body_it_cannot_read(schema, path, method):
    # It reads a body only to refuse it, and one in another content type is refused before that, as a 415.
    assert "415" in schema["paths"][path][method]["responses"]


@pytest.mark.parametrize(
    ("method", "path", "headers", "status"),
    [
        ("get", "/api/leads/", {"HTTP_ACCEPT": "application/xml"}, 406),
        ("post", "/api/leads/", {"content_type": "text/plain"}, 415),
        ("post", "/api/imports/", {"content_type": "application/json"}, 415),
        ("post", "/api/deals/{id}/win/", {"content_type": "text/plain"}, 415),
    ],
)
def test_those_statuses_are_answered_with_the_error_body(owner_client, organization, method, path, headers, status):
    path = path.format(id=DealFactory(organization=organization).id)
    response = getattr(owner_client, method)(path, data="{}" if method == "post" else None, **headers)
    assert response.status_code == status
    assert set(response.json()) == {"detail", "code"}


def test_every_operation_documents_the_400_for_a_query_parameter_it_does_not_take(schema):
    assert [name for name, op in operations(schema) if "400" not in op["responses"]] == []


@pytest.mark.parametrize(
    "path", ["/api/customers/stats/", "/api/analytics/dashboard/", "/api/users/me/", "/api/health/", "/api/leads/{id}/"]
)
def test_routes_without_query_parameters_refuse_one_with_a_400_naming_it(owner_client, organization, path):
    lead = LeadFactory(organization=organization)
    response = owner_client.get(path.format(id=lead.id), {"stauts": "new"})
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["stauts"]


def test_health_documents_its_503_body(schema):
    answer = schema["paths"]["/api/health/"]["get"]["responses"]["503"]["content"]["application/json"]["schema"]
    assert set(resolve(schema, answer)["required"]) == {"status", "database", "cache", "detail", "code"}


def test_every_operation_that_reads_the_cache_documents_its_503(schema):
    for name, operation in operations(schema):
        if "503" not in operation["responses"]:
            # Open and unthrottled, these touch no cache; the health check's 503 is the database's.
            assert name in {"GET /api/", "GET /api/schema/", "GET /api/docs/", "GET /api/redoc/"}, name
