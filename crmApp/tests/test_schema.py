"""The OpenAPI schema describes what the routes take and answer, so a client generated from it works."""

import pytest

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
