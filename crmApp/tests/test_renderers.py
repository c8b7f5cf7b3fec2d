"""The API's JSON renderer writes exactly the bytes DRF's JSONRenderer writes."""

import dataclasses
import uuid
from collections import OrderedDict
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal

import pytest
from django.utils.translation import gettext_lazy
from rest_framework.renderers import JSONRenderer
from rest_framework.utils.serializer_helpers import ReturnDict, ReturnList

from crmApp.constants import LeadStatus
from crmApp.renderers import FastJSONRenderer
from crmApp.tests.factories import LeadFactory


@dataclasses.dataclass
class Point:
    x: int
    y: int


KOLKATA = timezone(timedelta(hours=5, minutes=30))

SAME_BYTES = [
    {"results": [{"id": 1, "name": "Ada", "value": "12.50", "tags": []}], "count": 1, "next": None},
    {"text": 'quotes " and \\ backslash / slash, tab\t, newline\n, cr\r, bell\x07, nul\x00, del\x7f'},
    {"unicode": "Ünïcode 日本語 emoji 🎉", "separators": "line\u2028para\u2029end"},
    {"moments": [datetime(2031, 5, 6, 7, 8, 9, 123456, tzinfo=UTC), datetime(2031, 5, 6, 7, 8, 9, tzinfo=UTC)]},
    {"other_zone": datetime(2031, 5, 6, 7, 8, 9, tzinfo=KOLKATA), "naive": datetime(2031, 5, 6, 7, 8, 9)},
    {"day": date(2031, 5, 6), "at": time(7, 8, 9, 5), "span": timedelta(days=1, seconds=5)},
    {"uuid": uuid.UUID("12345678-1234-5678-1234-567812345678"), "money": Decimal("1234.50")},
    {"lazy": gettext_lazy("This field is required."), "choice": LeadStatus.QUALIFIED},
    {"floats": [0.1, 1.0, -0.0, 100.5, 1e16, 1e22, 5e-324, 1.5e-7, 2.5e-10, 1e-5], "rate": 33.3},
    {"ints": [0, -1, 2**53 + 1, 2**63 - 1, -(2**63)], "big": 2**64, "bool": [True, False]},
    {1: "int key", None: "none key"},
    [("tuple", 1), {"set_like": (1, 2)}],
    OrderedDict([("b", 1), ("a", 2)]),
    ReturnDict({"detail": "Not found."}, serializer=None),
    ReturnList([{"a": 1}], serializer=None),
    {"nested": {"deep": {"deeper": [[[]]], "empty": {}}}},
    "a bare string",
    12,
    None,
    {"exponent_in_text": "version 1e-5 and 3e-2x"},
]


@pytest.mark.parametrize("data", SAME_BYTES, ids=range(len(SAME_BYTES)))
def test_the_same_bytes_as_drfs_renderer(data):
    assert FastJSONRenderer().render(data) == JSONRenderer().render(data)


# What orjson would write otherwise, so DRF's renderer writes it (the rest never reaches DRF's).
DRFS_OWN = {8, 9, 10, 19}  # 1.5e-7 and 2.5e-10 and 1e-5; 2**64; non-string keys; an exponent-like text


@pytest.mark.parametrize("index", range(len(SAME_BYTES)))
def test_only_what_orjson_would_write_differently_is_left_to_drf(monkeypatch, index):
    calls = []
    render = JSONRenderer.render
    monkeypatch.setattr(JSONRenderer, "render", lambda *args, **kwargs: calls.append(1) or render(*args, **kwargs))
    FastJSONRenderer().render(SAME_BYTES[index])
    assert bool(calls) == (index in DRFS_OWN or SAME_BYTES[index] is None)


@pytest.mark.parametrize("accept", ["application/json; indent=4", "application/json; indent=2"])
def test_an_indented_response_is_drfs(accept):
    data = {"a": [1, {"b": datetime(2031, 5, 6, tzinfo=UTC)}]}
    assert FastJSONRenderer().render(data, accept) == JSONRenderer().render(data, accept)
    assert b"\n" in FastJSONRenderer().render(data, accept)


@pytest.mark.parametrize(
    "data",
    [
        {"surrogate": "\ud800"},  # not valid Unicode
        {"unknown": object()},
        {"dataclass": Point(1, 2)},  # not a type DRF's encoder knows
    ],
)
def test_what_drf_cannot_render_fails_as_drf_fails(data):
    with pytest.raises(Exception) as drfs:
        JSONRenderer().render(data)
    with pytest.raises(type(drfs.value)):
        FastJSONRenderer().render(data)


@pytest.mark.django_db
def test_the_api_answers_with_it(owner_client, organization):
    LeadFactory(organization=organization, company="Line\u2028break & Ünïcode")
    response = owner_client.get("/api/leads/")
    assert response.status_code == 200
    assert response.content == JSONRenderer().render(response.json())
    assert b"\\u2028" in response.content
