"""Whatever a careless or hostile client sends, the answer is a JSON 4xx and nothing changes; never a 500."""

import json
from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from crmApp.models import Lead, Organization
from crmApp.tests.factories import CustomerFactory, DealFactory, EmployeeFactory, LeadFactory, VendorFactory

pytestmark = pytest.mark.django_db
LEADS = "/api/leads/"


def post_raw(client, url, raw: str):
    return client.generic("POST", url, raw.encode("utf-8", "surrogatepass"), content_type="application/json")


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param("[" * 101 + "]" * 101, id="101 levels"),
        pytest.param('{"a":' * 5000 + "1" + "}" * 5000, id="5000 levels"),
        pytest.param('{"first_name": "x", "status": "\\ud800"}', id="lone surrogate in a choice"),
        pytest.param('{"first_name": "\\udfff"}', id="lone surrogate in a name"),
        pytest.param('{"first_name": "nul\\u0000"}', id="NUL in text"),
        pytest.param('{"first_name": "x", "estimated_value": NaN}', id="NaN"),
        pytest.param('{"first_name": "x", "estimated_value": 1e400}', id="infinity"),
        pytest.param('{"first_name": "x", "estimated_value": ' + "9" * 5000 + "}", id="5000 digits"),
        pytest.param('{"first_name": "x",}', id="trailing comma"),
    ],
)
def test_bodies_python_or_the_database_cannot_take_are_400(owner_client, organization, raw):
    response = post_raw(owner_client, LEADS, raw)

    assert response.status_code == 400
    assert response.json()["code"] in ("parse_error", "invalid")
    assert not Lead.objects.exists()


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"created_after": "9999-12-31"}, 200),
        ({"created_before": "9999-12-31"}, 200),
        ({"updated_after": "0001-01-01"}, 200),
        ({"created_after": "2024-01-01T00:00:00+16:00"}, 400),
        ({"created_before": "2024-01-01T00:00:00-16:00"}, 400),
        ({"created_after": "9999-12-31T23:59:59-01:00"}, 400),
        ({"created_before": "0001-01-01T00:00:00+01:00"}, 400),
        ({"created_after": "2024-02-30"}, 400),
        ({"ordering": "password"}, 400),
        ({"ordering": "--score"}, 400),  # one `-` reverses; two are no field
        ({"ordering": "-score"}, 200),
        ({"ordering": "-updated_at"}, 200),
        ({"search": "nul\x00"}, 400),
        ("status=%ED%B3%BF", 400),  # the UTF-8 bytes of a lone surrogate
        ("created_after=%FF%FE", 400),
    ],
)
def test_hostile_query_strings_are_answered_without_a_500(owner_client, organization, params, expected):
    LeadFactory(organization=organization)
    response = owner_client.get(f"{LEADS}?{params}") if isinstance(params, str) else owner_client.get(LEADS, params)
    assert response.status_code == expected, response.content
    assert response["Content-Type"] == "application/json"


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "PATCH", "DELETE"])
@pytest.mark.parametrize("url", ["/api/nothing/", "/api/leads/abc/", "/api/leads/1/nope/"])
def test_every_unrouted_api_url_is_a_json_404_for_every_method_even_from_a_browser(method, url):
    browser = Client(enforce_csrf_checks=True)

    response = browser.generic(method, url, b"{}", content_type="application/json")

    assert response.status_code == 404
    assert json.loads(response.content)["code"] == "not_found"


@pytest.mark.parametrize(
    ("url", "factory"),
    [
        ("/api/employees/", EmployeeFactory),
        ("/api/vendors/", VendorFactory),
        ("/api/customers/", CustomerFactory),
        ("/api/leads/", LeadFactory),
        ("/api/deals/", DealFactory),
    ],
)
def test_updated_after_narrows_every_crm_list(owner_client, organization, url, factory):
    old, recent = factory(organization=organization), factory(organization=organization)
    type(old).objects.filter(pk=old.pk).update(updated_at=datetime(2020, 1, 1, tzinfo=UTC))

    ids = [row["id"] for row in owner_client.get(url, {"updated_after": "2021-01-01"}).json()["results"]]

    assert recent.id in ids and old.id not in ids


@pytest.mark.parametrize("leads", [2, 40])
def test_deleting_an_organization_runs_the_same_queries_however_many_rows_it_owns(owner_client, organization, leads):
    LeadFactory.create_batch(leads, organization=organization)

    with CaptureQueriesContext(connection) as queries:
        assert owner_client.delete(f"/api/organizations/{organization.id}/").status_code == 204

    assert not Organization.objects.filter(pk=organization.pk).exists() and not Lead.objects.exists()
    assert len(queries) < 40  # one DELETE per owned table, whatever the number of rows
    assert not any('FROM "crmApp_lead"' in q["sql"] and q["sql"].startswith("SELECT") for q in queries.captured_queries)
