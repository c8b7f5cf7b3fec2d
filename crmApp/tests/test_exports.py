"""CSV export against spreadsheet formulas: cells neutralised on the way out, restored on the way back in."""

import csv
import io

import pytest

from crmApp.imports import formulas
from crmApp.models import HistoryEntry, Lead
from crmApp.tests.factories import LeadFactory
from crmApp.tests.test_imports import errors, exported, started
from crmApp.viewsets.export import cell

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("=1+1", "'=1+1"),
        ("+1-555-0100", "'+1-555-0100"),
        ("-x", "'-x"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("'=x", "''=x"),  # a quote the export didn't write survives the import
        ("''+x", "'''+x"),
        ("'x", "'x"),
        ("x=1", "x=1"),
        ("", ""),
    ],
)
def test_a_cell_a_spreadsheet_would_run_is_written_behind_a_quote_and_read_back_as_it_was(value, written):
    assert formulas.neutralised(value) == written
    assert formulas.restored(written) == value


@pytest.mark.parametrize(
    ("value", "number", "written"),
    [("=1+1", False, "'=1+1"), ("-5.00", True, "-5.00"), (-3, False, "-3"), (None, False, ""), ([1], False, "[1]")],
)
def test_only_text_cells_are_neutralised(value, number, written):
    assert cell(value, number=number) == written


def test_an_export_with_formulas_reimports_unchanged(owner_client, organization):
    stored = {
        "first_name": "=1+1",
        "last_name": "-Smith",
        "phone": "+1-555-0100",
        "company": "@Corp",
        "notes": "'=already quoted",
        "estimated_value": "10.00",
    }
    lead = LeadFactory(organization=organization, email="f@x.io", **stored)
    text = exported(owner_client, "leads")
    row = next(csv.DictReader(io.StringIO(text[1:])))
    assert {name: row[name] for name in stored} == {
        "first_name": "'=1+1",
        "last_name": "'-Smith",
        "phone": "'+1-555-0100",
        "company": "'@Corp",
        "notes": "''=already quoted",
        "estimated_value": "10.00",
    }
    assert row["score"] == str(lead.score)

    job = started(owner_client, text.encode("utf-8"), mode="upsert", match_on="code")
    assert (job["created"], job["updated"], job["error_count"]) == (0, 0, 0), errors(owner_client, job)
    lead = Lead.objects.get(pk=lead.pk)
    assert {name: str(getattr(lead, name)) for name in stored} == stored and lead.version == 1
    assert not HistoryEntry.objects.filter(source="import").exists()
