"""/api/employees/: CRUD on the organization's employees."""

from crmApp.filters.employee import EmployeeFilter
from crmApp.mixins import OrganizationScopedModelViewSet, RecordHistoryMixin
from crmApp.models import Employee
from crmApp.serializers.employee import EmployeeSerializer
from crmApp.services.employee_service import EmployeeService


class EmployeeViewSet(RecordHistoryMixin, OrganizationScopedModelViewSet):
    """Employees; deleting one leaves the customers, leads and deals they held unassigned."""

    business_rules = {
        action: ["the user already has an employee record in this organization"]
        for action in ("create", "update", "partial_update")
    }
    queryset = Employee.objects.all()
    cached_counts = True
    serializer_class = EmployeeSerializer
    service_class = EmployeeService
    permission_resource = "employees"
    filterset_class = EmployeeFilter
    search_fields = ["first_name", "last_name", "email", "code", "department", "job_title"]
    ordering_fields = [
        "created_at",
        "updated_at",
        "code",
        "first_name",
        "last_name",
        "department",
        "hire_date",
        "status",
    ]
    ordering = ["last_name", "first_name", "id"]
