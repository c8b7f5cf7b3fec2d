"""Employee input and output."""

from crmApp.models import Employee
from crmApp.serializers.common import RECORD_READ_ONLY_FIELDS, RecordSerializer, linked_user_field


class EmployeeSerializer(RecordSerializer):
    """An employee; `user` must be an active member of the organization."""

    user = linked_user_field()

    class Meta(RecordSerializer.Meta):
        model = Employee
        fields = (
            *RECORD_READ_ONLY_FIELDS,
            "first_name",
            "last_name",
            "email",
            "phone",
            "department",
            "job_title",
            "hire_date",
            "status",
            "user",
        )
