"""Vendor input and output."""

from crmApp.models import Vendor
from crmApp.serializers.common import RECORD_READ_ONLY_FIELDS, RecordSerializer, linked_user_field


class VendorSerializer(RecordSerializer):
    """A vendor; `user` must be an active member of the organization."""

    user = linked_user_field()

    class Meta(RecordSerializer.Meta):
        model = Vendor
        fields = (
            *RECORD_READ_ONLY_FIELDS,
            "name",
            "email",
            "phone",
            "contact_person",
            "vendor_type",
            "status",
            "address",
            "user",
            "notes",
        )
