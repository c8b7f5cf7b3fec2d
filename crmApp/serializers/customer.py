"""Customer input and output, and the bodies of the customer list actions."""

from rest_framework import serializers

from crmApp.constants import CustomerStatus
from crmApp.listing import own_property
from crmApp.models import Customer, Employee
from crmApp.serializers.common import (
    RECORD_READ_ONLY_FIELDS,
    IdListField,
    RecordSerializer,
    linked_user_field,
)
from crmApp.serializers.fields import InputSerializer, ScopedPrimaryKeyRelatedField

MONEY_PLACES = 2


class CustomerSerializer(RecordSerializer):
    """A customer; which names it needs by `customer_type` is checked by CustomerService."""

    assigned_to = ScopedPrimaryKeyRelatedField(queryset=Employee.objects.all(), allow_null=True, required=False)
    user = linked_user_field()
    display_name = serializers.CharField(read_only=True)
    row_fields = {"display_name": own_property(Customer.display_name, Customer.DISPLAY_NAME_READS)}

    class Meta(RecordSerializer.Meta):
        model = Customer
        fields = (
            *RECORD_READ_ONLY_FIELDS,
            "customer_type",
            "first_name",
            "last_name",
            "company_name",
            "industry",
            "contact_person",
            "email",
            "phone",
            "address",
            "city",
            "country",
            "status",
            "source",
            "assigned_to",
            "user",
            "notes",
            "display_name",
            "converted_from_lead",
        )
        read_only_fields = (*RECORD_READ_ONLY_FIELDS, "display_name", "converted_from_lead")


class CustomerStatsSerializer(serializers.Serializer):
    """Counts of the organization's customers."""

    total = serializers.IntegerField()
    active = serializers.IntegerField()
    inactive = serializers.IntegerField()
    prospect = serializers.IntegerField()
    individual = serializers.IntegerField()
    business = serializers.IntegerField()
    new_this_month = serializers.IntegerField()


class TopCustomersQuerySerializer(serializers.Serializer):
    """`?limit=`: how many customers to list (1-100, default 10)."""

    limit = serializers.IntegerField(min_value=1, max_value=100, default=10)


class TopCustomerSerializer(serializers.Serializer):
    """One customer with the revenue and number of its won deals."""

    id = serializers.IntegerField()
    code = serializers.CharField()
    display_name = serializers.CharField()
    revenue = serializers.DecimalField(max_digits=None, decimal_places=MONEY_PLACES)
    deals_won = serializers.IntegerField()


class CustomerBulkDeleteSerializer(InputSerializer):
    """The ids of the customers to delete."""

    ids = IdListField()


class CustomerBulkDeleteResultSerializer(serializers.Serializer):
    """How many customers were deleted."""

    deleted = serializers.IntegerField()


class CustomerBulkUpdateDataSerializer(InputSerializer):
    """The fields a bulk update may set; any other key is refused (InputSerializer)."""

    status = serializers.ChoiceField(choices=CustomerStatus.choices, required=False)
    assigned_to = ScopedPrimaryKeyRelatedField(queryset=Employee.objects.all(), allow_null=True, required=False)

    def validate(self, attrs):
        if not attrs:
            raise serializers.ValidationError("Give at least one of: status, assigned_to.")
        return attrs


class CustomerBulkUpdateSerializer(InputSerializer):
    """The ids of the customers to change and the values to set on all of them."""

    ids = IdListField()
    data = CustomerBulkUpdateDataSerializer()


class CustomerBulkUpdateResultSerializer(serializers.Serializer):
    """How many customers were changed."""

    updated = serializers.IntegerField()
