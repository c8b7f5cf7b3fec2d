"""The API's JSON renderer writes exactly the bytes DRF's JSONRenderer writes."""

import dataclasses
import uuid
from collections import OrderedDict
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal

import pytest
from django.http import QueryDict
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


def numbers():
    yield from range(3)


class Tagged(str):
    def __str__(self):
        return "not what json writes"


class Level(int):
    def __int__(self):
        return -1


# (data, who writes it): "orjson", or "drf" where orjson would write it otherwise. Both give DRF's bytes.
CASES = [
    ({"results": [{"id": 1, "name": "Ada", "value": "12.50", "tags": []}], "count": 1, "next": None}, "orjson"),
    ({"text": 'quotes " and \\ backslash / slash, tab\t, newline\n, cr\r, bell\x07, nul\x00, del\x7f'}, "orjson"),
    ({"unicode": "Ünïcode 日本語 emoji 🎉", "separators": "line\u2028para\u2029end"}, "orjson"),
    (
        {"moments": [datetime(2031, 5, 6, 7, 8, 9, 123456, tzinfo=UTC), datetime(2031, 5, 6, 7, 8, 9, tzinfo=UTC)]},
        "orjson",
    ),
    ({"other_zone": datetime(2031, 5, 6, 7, 8, 9, tzinfo=KOLKATA), "naive": datetime(2031, 5, 6, 7, 8, 9)}, "orjson"),
    ({"day": date(2031, 5, 6), "at": time(7, 8, 9, 5), "span": timedelta(days=1, seconds=5)}, "orjson"),
    ({"uuid": uuid.UUID("12345678-1234-5678-1234-567812345678"), "money": Decimal("1234.50")}, "orjson"),
    ({"lazy": gettext_lazy("This field is required."), "choice": LeadStatus.QUALIFIED}, "orjson"),
    ({"subclasses": [Tagged("text"), Level(7), OrderedDict([("b", 1), ("a", 2)])]}, "orjson"),
    ({"query": QueryDict("tag=a&tag=b&q=x")}, "orjson"),  # a dict whose items() are its last values
    (ReturnDict({"detail": "Not found."}, serializer=None), "orjson"),
    (ReturnList([{"a": 1}], serializer=None), "orjson"),
    ([("tuple", 1), {"pair": (1, 2)}], "orjson"),
    ({"nested": {"deep": {"deeper": [[[]]], "empty": {}}}}, "orjson"),
    ({"ints": [0, -1, 2**53 + 1, 2**63 - 1, -(2**63)], "bool": [True, False]}, "orjson"),
    ("a bare string", "orjson"),
    (12, "orjson"),
    *[
        ({"float": value}, "orjson")
        for value in (0.1, 1.0, -0.0, 100.5, 33.3, 0.0001, 1e15, 1e16, 1e22, 5e-324, 2.5e-10, 1e-100)
    ],
    *[({"float": value}, "drf") for value in (1e-5, 5.5e-5, -2e-5, 1.5e-7, -3e-9)],
    ({"big": 2**64}, "drf"),
    ({1: "int key", None: "none key"}, "drf"),
    # Iterators, made anew for each render (a callable case builds its data): not used up before DRF writes them.
    (lambda: {"ids": numbers(), "big": 2**64}, "drf"),
    (lambda: {"ids": map(str, [1, 2]), 1: "int key"}, "drf"),
    ({"exponent_in_text": "version e-5"}, "drf"),  # text that looks like a float: DRF's, harmlessly
    (None, "drf"),
]


@pytest.mark.parametrize(("data", "writer"), CASES, ids=range(len(CASES)))
def test_the_same_bytes_as_drfs_renderer_and_only_what_orjson_writes_otherwise_left_to_drf(monkeypatch, data, writer):
    build = data if callable(data) else lambda: data
    expected = JSONRenderer().render(build())
    calls = []
    render = JSONRenderer.render
    monkeypatch.setattr(JSONRenderer, "render", lambda *args, **kwargs: calls.append(1) or render(*args, **kwargs))
    assert FastJSONRenderer().render(build()) == expected
    assert ("drf" if calls else "orjson") == writer


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
