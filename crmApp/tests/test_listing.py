"""The list fast path (crmApp.listing) answers exactly what the resource's serializer answers, byte for byte."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework import serializers
from rest_framework.renderers import JSONRenderer

from crmApp import listing
from crmApp.constants import CustomerType
from crmApp.listing import ListPlan, list_plan
from crmApp.models import Customer, Deal, Lead
from crmApp.serializers.customer import CustomerSerializer
from crmApp.serializers.deal import DealSerializer
from crmApp.serializers.lead import LeadSerializer
from crmApp.tests.factories import CustomerFactory, DealFactory, EmployeeFactory, LeadFactory, default_stage

pytestmark = pytest.mark.django_db

MOMENT = datetime(2031, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)


@pytest.fixture
def records(organization, owner):
    """Of each resource, records that between them set and leave empty every kind of field."""
    employee = EmployeeFactory(organization=organization, first_name="Ada", last_name="")
    plain_lead = LeadFactory(organization=organization)
    full_lead = LeadFactory(
        organization=organization,
        email="ada@example.com",
        phone="+47 22 33 44 55",
        company="Ünïcode & Co \u2028",
        estimated_value=Decimal("1234.50"),
        assigned_to=employee,
        notes='multi\nline "quoted"',
        qualified_at=MOMENT,
        created_by=owner,
    )
    converted = LeadFactory(organization=organization, converted_at=MOMENT)
    converted_then_trashed = LeadFactory(organization=organization, converted_at=MOMENT)
    person = CustomerFactory(organization=organization, converted_from_lead=converted, assigned_to=employee, user=owner)
    business = CustomerFactory(
        organization=organization, customer_type=CustomerType.BUSINESS, company_name="Initech", first_name=""
    )
    CustomerFactory(organization=organization, converted_from_lead=converted_then_trashed, deleted_at=timezone.now())
    DealFactory(organization=organization, customer=person, value=Decimal("0.10"))
    DealFactory(
        organization=organization,
        customer=business,
        value=Decimal("99999999.99"),
        assigned_to=employee,
        lead=full_lead,
        expected_close_date=date(2031, 6, 30),
        stage=default_stage(organization, "Closed Won"),
        closed_at=MOMENT,
        lost_reason="",
    )
    return {"leads": [plain_lead, full_lead, converted, converted_then_trashed]}


CASES = [
    ("/api/leads/", Lead, LeadSerializer),
    ("/api/deals/", Deal, DealSerializer),
    ("/api/customers/", Customer, CustomerSerializer),
]


# The most rows a page may skip with its lookups inline: as configured, and never (a second query).
INLINE_LIMITS = [listing.INLINE_MAX_OFFSET, -1]


@pytest.mark.parametrize("inline_max_offset", INLINE_LIMITS, ids=["inline", "second-query"])
@pytest.mark.parametrize(("path", "model", "serializer_class"), CASES, ids=[path for path, _, _ in CASES])
def test_each_row_of_a_list_is_byte_for_byte_what_the_serializer_renders(
    owner_client, records, monkeypatch, path, model, serializer_class, inline_max_offset
):
    monkeypatch.setattr(listing, "INLINE_MAX_OFFSET", inline_max_offset)
    response = owner_client.get(path, {"page_size": 100})
    listed = response.json()["results"]
    assert len(listed) == model.objects.count() >= 2

    by_id = model.objects.in_bulk([row["id"] for row in listed])
    expected = serializer_class([by_id[row["id"]] for row in listed], many=True).data
    assert response.content.endswith(b'"results":' + JSONRenderer().render(expected) + b"}")


@pytest.mark.parametrize("inline", [True, False])
@pytest.mark.parametrize("zone", ["UTC", "Asia/Kolkata", "America/St_Johns"])
@pytest.mark.parametrize(("path", "model", "serializer_class"), CASES, ids=[path for path, _, _ in CASES])
def test_the_plan_renders_moments_as_drf_does_in_any_current_timezone(
    records, path, model, serializer_class, zone, inline
):
    plan = list_plan(serializer_class, inline=inline)
    with timezone.override(zone):
        rendered = plan.render(plan.select(model.objects.order_by("id")))
        expected = serializer_class(model.objects.order_by("id"), many=True).data
    assert JSONRenderer().render(rendered) == JSONRenderer().render(expected)


def test_a_converted_lead_names_its_customer_until_that_customer_is_trashed(owner_client, records):
    plain, _, converted, converted_then_trashed = records["leads"]
    shown = {row["id"]: row["converted_customer"] for row in owner_client.get("/api/leads/").json()["results"]}
    assert shown[converted.id] == Customer.objects.get(converted_from_lead=converted).id
    assert shown[converted_then_trashed.id] is None and shown[plain.id] is None


# (query, whether the page selects its converted customers itself), with at most 2 rows skipped inline.
PAGE_DEPTHS = [
    ({}, True),
    ({"page": "3", "page_size": "1"}, True),  # skips 2
    ({"page": "2", "page_size": "2"}, True),  # skips 2
    ({"page": "4", "page_size": "1"}, False),  # skips 3
    ({"page": "last", "page_size": "1"}, False),  # a depth known only once counted
    ({"page": "", "page_size": "3"}, True),  # DRF reads an empty page as the first
]


@pytest.mark.parametrize(("query", "inline"), PAGE_DEPTHS, ids=[repr(query) for query, _ in PAGE_DEPTHS])
def test_a_lead_page_selects_its_converted_customers_itself_only_when_it_skips_few_rows(
    owner_client, records, monkeypatch, query, inline
):
    monkeypatch.setattr(listing, "INLINE_MAX_OFFSET", 2)
    with CaptureQueriesContext(connection) as captured:
        response = owner_client.get("/api/leads/", query)
    assert response.status_code == 200 and response.json()["results"]
    statements = [query["sql"] for query in captured]
    assert any('= "crmApp_lead"."id"' in sql for sql in statements) == inline
    assert any(sql.startswith('SELECT "converted_from_lead_id"') for sql in statements) == (not inline)


@pytest.mark.parametrize(("path", "model", "serializer_class"), CASES, ids=[path for path, _, _ in CASES])
def test_one_records_row_is_the_row_the_orm_reads_trashed_records_too(records, path, model, serializer_class):
    plan = ListPlan(serializer_class, inline=True)
    model._base_manager.filter(pk=model._base_manager.order_by("id").first().pk).update(deleted_at=MOMENT)
    for pk in model._base_manager.values_list("id", flat=True):
        assert plan.record_rows(model, [pk]) == list(plan.select(model._base_manager.filter(pk=pk))), pk
        assert plan.record_rows(model, [pk]) == list(plan.select(model._base_manager.filter(pk=pk))), pk  # compiled
    assert plan.record_rows(model, [0]) == []
    every = sorted(model._base_manager.values_list("id", flat=True))
    assert sorted(row[0] for row in plan.record_rows(model, every)) == every


def test_one_records_row_is_compiled_once_per_plan_on_postgresql(records):
    plan = ListPlan(LeadSerializer, inline=True)
    first, second = records["leads"][:2]
    plan.record_rows(Lead, [first.pk])
    with CaptureQueriesContext(connection) as captured:
        plan.record_rows(Lead, [second.pk])
    compiled = connection.vendor == "postgresql"
    assert bool(plan._one_record.get(Lead)) == compiled and len(captured) == 1
    assert (captured[0]["sql"] == (plan._one_record.get(Lead) or "").replace("%s", str(second.pk))) == compiled


def test_a_row_that_django_converts_after_reading_is_read_through_the_orm(organization):
    from crmApp.models import Webhook

    class Hooks(serializers.ModelSerializer):
        class Meta:
            model = Webhook
            fields = ["id", "events", "url"]

    webhook = Webhook.objects.create(organization=organization, url="https://x.example", events=["lead.created"])
    plan = ListPlan(Hooks)
    for _ in range(2):
        assert plan.render(plan.record_rows(Webhook, [webhook.pk])) == [Hooks(webhook).data]
    assert plan._one_record.get(Webhook, "") == ""


def test_a_field_that_is_no_column_must_be_declared():
    class Undeclared(LeadSerializer):
        shout = serializers.SerializerMethodField()

        class Meta(LeadSerializer.Meta):
            fields = [*LeadSerializer.Meta.fields, "shout"]

        def get_shout(self, lead):
            return lead.first_name.upper()

    with pytest.raises(ImproperlyConfigured, match="shout"):
        ListPlan(Undeclared)


@pytest.mark.parametrize("as_string", [False, True])
def test_a_big_integer_is_rendered_as_drf_renders_it_as_a_number_or_as_text(records, as_string):
    class BigIds(LeadSerializer):
        id = serializers.BigIntegerField(read_only=True, coerce_to_string=as_string)
        assigned_to = serializers.BigIntegerField(source="assigned_to_id", read_only=True, coerce_to_string=as_string)

    plan = ListPlan(BigIds)
    rendered = plan.render(plan.select(Lead.objects.order_by("id")))
    assert rendered == BigIds(Lead.objects.order_by("id"), many=True).data
    assert isinstance(rendered[0]["id"], str) == as_string


@pytest.mark.parametrize(
    "value",
    [
        Decimal("1234.50"),
        Decimal("0.00"),
        Decimal("-0.00"),
        Decimal("-7.25"),
        Decimal("9999999999.99"),  # max_digits
        Decimal("1.5"),  # fewer places: DRF pads
        Decimal("1.505"),  # more: DRF rounds
        Decimal("1E+2"),
        Decimal("123456789012.34"),  # past max_digits: DRF refuses
        Decimal("1234567890123456789012345678.90"),  # past the context's 28 digits, when there is no max_digits
        Decimal("1.50"),  # the field below normalizes it: "1.5"
        Decimal("100.00"),
        Decimal("NaN"),
        Decimal("Infinity"),
        7,
        "12.5",
    ],
)
@pytest.mark.parametrize(
    "field",
    [
        serializers.DecimalField(max_digits=12, decimal_places=2, read_only=True),
        serializers.DecimalField(max_digits=None, decimal_places=2, read_only=True),
        serializers.DecimalField(max_digits=12, decimal_places=2, normalize_output=True, read_only=True),
    ],
)
def test_a_decimal_is_written_as_drf_writes_it_or_refused_as_drf_refuses_it(field, value):
    convert = listing._converter(field)
    try:
        expected = field.to_representation(value)
    except Exception as refused:
        with pytest.raises(type(refused)):
            convert(value, None)
    else:
        assert convert(value, None) == expected
