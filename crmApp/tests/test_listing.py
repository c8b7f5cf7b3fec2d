"""The list fast path (crmApp.listing) answers exactly what the resource's serializer answers, byte for byte."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone
from rest_framework import serializers
from rest_framework.renderers import JSONRenderer

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


@pytest.mark.parametrize(("path", "model", "serializer_class"), CASES, ids=[path for path, _, _ in CASES])
def test_each_row_of_a_list_is_byte_for_byte_what_the_serializer_renders(
    owner_client, records, path, model, serializer_class
):
    response = owner_client.get(path, {"page_size": 100})
    listed = response.json()["results"]
    assert len(listed) == model.objects.count() >= 2

    by_id = model.objects.in_bulk([row["id"] for row in listed])
    expected = serializer_class([by_id[row["id"]] for row in listed], many=True).data
    assert response.content.endswith(b'"results":' + JSONRenderer().render(expected) + b"}")


@pytest.mark.parametrize("zone", ["UTC", "Asia/Kolkata", "America/St_Johns"])
@pytest.mark.parametrize(("path", "model", "serializer_class"), CASES, ids=[path for path, _, _ in CASES])
def test_the_plan_renders_moments_as_drf_does_in_any_current_timezone(records, path, model, serializer_class, zone):
    plan = list_plan(serializer_class)
    with timezone.override(zone):
        rendered = plan.render(model.objects.order_by("id").values_list(*plan.columns))
        expected = serializer_class(model.objects.order_by("id"), many=True).data
    assert JSONRenderer().render(rendered) == JSONRenderer().render(expected)


def test_a_converted_lead_names_its_customer_until_that_customer_is_trashed(owner_client, records):
    plain, _, converted, converted_then_trashed = records["leads"]
    shown = {row["id"]: row["converted_customer"] for row in owner_client.get("/api/leads/").json()["results"]}
    assert shown[converted.id] == Customer.objects.get(converted_from_lead=converted).id
    assert shown[converted_then_trashed.id] is None and shown[plain.id] is None


def test_a_field_that_is_no_column_must_be_declared():
    class Undeclared(LeadSerializer):
        shout = serializers.SerializerMethodField()

        class Meta(LeadSerializer.Meta):
            fields = [*LeadSerializer.Meta.fields, "shout"]

        def get_shout(self, lead):
            return lead.first_name.upper()

    with pytest.raises(ImproperlyConfigured, match="shout"):
        ListPlan(Undeclared)
