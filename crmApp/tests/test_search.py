"""`?search=` on leads: the stored search document finds exactly what a lookup field by field finds."""

import itertools
import re
from functools import reduce
from operator import and_, or_

import pytest
from django.db import connection
from django.db.models import Q
from django.test.utils import CaptureQueriesContext
from psycopg.sql import Literal
from rest_framework.filters import search_smart_split
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from crmApp.filters.search import DocumentSearchFilter
from crmApp.models import HistoryEntry, Lead
from crmApp.tests.factories import LeadFactory
from crmApp.viewsets.lead import LeadViewSet

LIST = "/api/leads/"
# How a search's SQL looks a term up: DRF's LIKE per field, the document's STRPOS (INSTR on SQLite).
SUBSTRING_TESTS = ("LIKE", "STRPOS", "INSTR")

LEADS = [
    {"first_name": "Zelda", "last_name": "Quark", "email": "zq@mail.io", "company": ""},
    {"first_name": "Bob", "last_name": "Brown", "email": "", "company": "Quarkonium Ltd"},
    {"first_name": "Ann", "last_name": "Lee", "email": "ann_lee@50percent.example", "company": "100% Pure"},
    {"first_name": "Back\\slash", "last_name": "O'Hara", "email": "", "company": "Bob Brown & Sons"},
    {"first_name": "Émile", "last_name": "Zoë", "email": "emile@example.fr", "company": "Ünïcode GmbH"},
]


def per_field(terms: list[str]) -> Q:
    """DRF's own condition: every term in some searched field, case-insensitively."""
    return reduce(and_, (reduce(or_, (Q(**{f"{f}__icontains": t}) for f in Lead.SEARCHED_FIELDS)) for t in terms))


def found(client, search: str) -> set[int]:
    response = client.get(LIST, {"search": search, "page_size": 100})
    assert response.status_code == 200, response.json()
    return {row["id"] for row in response.json()["results"]}


@pytest.mark.django_db
@pytest.mark.parametrize(
    "search",
    [
        "quark",  # a last name and a company
        "QUARK",
        "zelda quark",  # two terms, each in its own field
        '"bob brown"',  # one phrase: only where it stands in one field, not across first and last name
        "bob,brown",
        "brown\nbob",  # split on the line break like any whitespace
        '"bob\nbrown"',  # a phrase holding the separator: looked up field by field
        "50%",  # LIKE's wildcards are searched for literally
        "100%",
        "ann_lee",
        "ann_",
        "n_l",
        "\\",
        "o'hara",
        "émile",
        "ÜNÏCODE",
        "zoë",
        "lead-",  # every code
        "mail.io zq@",
        "nobody",
    ],
)
def test_the_search_document_finds_what_a_search_field_by_field_finds(owner_client, organization, search):
    leads = [LeadFactory(organization=organization, **fields) for fields in LEADS]
    LeadFactory(organization=organization, first_name="Quark", deleted_at=leads[0].created_at)  # in the trash
    expected = set(Lead.objects.filter(per_field(search_smart_split(search))).values_list("id", flat=True))
    assert found(owner_client, search) == expected


@pytest.mark.django_db
@pytest.mark.parametrize(("search", "uses_document"), [("quark", True), ("zelda quark", True), ('"a\nb"', False)])
def test_a_term_holding_the_separator_is_the_only_one_looked_up_field_by_field(
    owner_client, organization, search, uses_document
):
    LeadFactory(organization=organization)
    with CaptureQueriesContext(connection) as context:
        assert owner_client.get(LIST, {"search": search}).status_code == 200
    searched = [q["sql"] for q in context.captured_queries if any(w in q["sql"].upper() for w in SUBSTRING_TESTS)]
    assert searched
    assert all(("search_text" in sql) == uses_document for sql in searched)


@pytest.mark.django_db
def test_the_search_document_follows_every_write(owner_client, organization, other_organization):
    lead = LeadFactory(organization=organization, first_name="Ada", last_name="Lovelace")
    LeadFactory(organization=other_organization, first_name="Ada", last_name="Byron")
    assert found(owner_client, "byron") == set()
    response = owner_client.patch(f"{LIST}{lead.id}/", {"last_name": "Byron"}, format="json")
    assert response.status_code == 200, response.json()
    assert found(owner_client, "byron") == {lead.id}
    assert found(owner_client, "lovelace") == set()
    # The document is the database's to keep: it is neither history nor part of the lead's representation.
    changes = HistoryEntry.objects.filter(record_id=lead.id, kind="change").latest("id").changes
    assert [change["field"] for change in changes] == ["last_name"]
    assert "search_text" not in response.json()


@pytest.mark.django_db
@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's plans of prepared statements")
def test_a_prepared_search_upper_cases_its_term_once_rather_than_for_every_row(organization):
    """Repeated queries are prepared, and a generic plan would evaluate `UPPER($1)` on each row it reads."""
    request = Request(APIRequestFactory().get(LIST, {"search": "quark bob"}))
    queryset = DocumentSearchFilter().filter_queryset(
        request, Lead.objects.filter(organization=organization), LeadViewSet()
    )
    sql, params = queryset.query.sql_with_params()
    numbers = itertools.count(1)
    types = ["bigint" if isinstance(param, int) else "text" for param in params]
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        cursor.execute(
            f"PREPARE search_probe ({', '.join(types)}) AS " + re.sub("%s", lambda _: f"${next(numbers)}", sql)
        )
        try:
            values = ", ".join(Literal(param).as_string(connection.connection) for param in params)
            cursor.execute(f"EXPLAIN EXECUTE search_probe({values})")
            plan = "\n".join(row[0] for row in cursor.fetchall())
        finally:
            cursor.execute("DEALLOCATE search_probe")
    assert plan.count("InitPlan") == 2, plan  # one per term, each computed once
    assert "upper(" not in plan.lower().split("initplan")[0], plan
