"""Lead shapes: the record itself, and the bodies of stats, assign and convert."""

from django.db import connection
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from crmApp.constants import LONG_NAME_MAX, LeadSource, LeadStatus
from crmApp.listing import PageLookup
from crmApp.models import Customer, Employee, Lead, Pipeline
from crmApp.serializers.customer import CustomerSerializer
from crmApp.serializers.deal import DealSerializer
from crmApp.serializers.fields import (
    InputSerializer,
    MoneyField,
    ScopedPrimaryKeyRelatedField,
    StrictCharField,
    StrictModelSerializer,
)


def _converted_customer_columns() -> tuple[str, str, str, str]:
    """The customer table and its lead, id and deletion columns, quoted."""
    quote, meta = connection.ops.quote_name, Customer._meta
    columns = (quote(meta.get_field(name).column) for name in ("converted_from_lead", "id", "deleted_at"))
    return quote(meta.db_table), *columns


def converted_customers(lead_ids: list[int]) -> dict[int, int]:
    """{lead id: id of the live customer converted from it} for a page of leads (one query).

    Plain SQL: on every lead list, compiling this through the ORM cost four times running it.
    """
    if not lead_ids:
        return {}
    table, lead, key, deleted = _converted_customer_columns()
    placeholders = ", ".join(["%s"] * len(lead_ids))
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {lead}, {key} FROM {table} WHERE {deleted} IS NULL AND {lead} IN ({placeholders})", lead_ids
        )
        return dict(cursor.fetchall())


def converted_customer_of(lead_table: str) -> str:
    """The same as an SQL expression over a row of `lead_table` (quoted): its live customer's id, or NULL."""
    table, lead, key, deleted = _converted_customer_columns()
    lead_key = connection.ops.quote_name(Lead._meta.pk.column)
    live = f"{table}.{deleted} IS NULL"
    return f"SELECT {table}.{key} FROM {table} WHERE {live} AND {table}.{lead} = {lead_table}.{lead_key}"


class LeadSerializer(StrictModelSerializer):
    """A lead; score, workflow dates, conversion and authorship are read-only."""

    assigned_to = ScopedPrimaryKeyRelatedField(queryset=Employee.objects.all(), required=False, allow_null=True)
    estimated_value = MoneyField(required=False, allow_null=True)
    converted_customer = serializers.SerializerMethodField()
    row_fields = {"converted_customer": PageLookup(converted_customers, inline=converted_customer_of)}

    class Meta:
        model = Lead
        fields = [
            "id",
            "code",
            "organization",
            "first_name",
            "last_name",
            "email",
            "phone",
            "company",
            "job_title",
            "source",
            "estimated_value",
            "status",
            "score",
            "assigned_to",
            "notes",
            "qualified_at",
            "converted_at",
            "converted_customer",
            "version",
            "created_at",
            "updated_at",
            "created_by",
        ]
        read_only_fields = [
            "version",
            "code",
            "organization",
            "score",
            "qualified_at",
            "converted_at",
            "created_at",
            "updated_at",
            "created_by",
        ]

    @extend_schema_field(serializers.IntegerField(allow_null=True))
    def get_converted_customer(self, lead: Lead) -> int | None:
        # A missing reverse one-to-one raises RelatedObjectDoesNotExist, an AttributeError.
        customer = getattr(lead, "converted_customer", None)
        return customer.id if customer is not None and customer.deleted_at is None else None


class LeadAssignSerializer(InputSerializer):
    """Body of `assign`: an employee of the organization, or null to unassign."""

    employee = ScopedPrimaryKeyRelatedField(queryset=Employee.objects.all(), allow_null=True)


class LeadConvertSerializer(InputSerializer):
    """Body of `convert`; the deal fields are used only with `create_deal: true`."""

    create_deal = serializers.BooleanField(default=False)
    deal_title = StrictCharField(required=False, allow_blank=True, max_length=LONG_NAME_MAX)
    deal_value = MoneyField(required=False, allow_null=True)
    pipeline = ScopedPrimaryKeyRelatedField(queryset=Pipeline.objects.all(), required=False, allow_null=True)


class LeadConversionSerializer(serializers.Serializer):
    """Answer of `convert`: the new customer, and the new deal or null."""

    customer = CustomerSerializer(read_only=True)
    deal = DealSerializer(read_only=True, allow_null=True)


def _counts_serializer(name: str, keys: list[str], doc: str) -> type[serializers.Serializer]:
    """A serializer with one integer field per key, so the schema lists every key."""
    attrs = {"__doc__": doc, "__module__": __name__, **{key: serializers.IntegerField() for key in keys}}
    return type(name, (serializers.Serializer,), attrs)


LeadStatusCountsSerializer = _counts_serializer("LeadStatusCountsSerializer", LeadStatus.values, "Leads per status.")
LeadSourceCountsSerializer = _counts_serializer("LeadSourceCountsSerializer", LeadSource.values, "Leads per source.")


class LeadStatsSerializer(serializers.Serializer):
    """Answer of `stats`."""

    total = serializers.IntegerField()
    by_status = LeadStatusCountsSerializer()
    by_source = LeadSourceCountsSerializer()
    average_score = serializers.FloatField()
