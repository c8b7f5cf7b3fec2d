"""What can be imported into each resource, and turning a row's cells into what its serializer takes."""

from dataclasses import dataclass

from crmApp.constants import ImportMode
from crmApp.models import Employee
from crmApp.serializers.customer import CustomerSerializer
from crmApp.serializers.lead import LeadSerializer
from crmApp.services.customer_service import CustomerService
from crmApp.services.lead_service import LeadService
from crmApp.tenancy import parse_id


@dataclass(frozen=True)
class Resource:
    service: type
    serializer: type
    # Fields the serializer validates from the row's text.
    fields: tuple[str, ...]


RESOURCES = {
    "leads": Resource(
        LeadService,
        LeadSerializer,
        (
            "first_name",
            "last_name",
            "email",
            "phone",
            "company",
            "job_title",
            "source",
            "estimated_value",
            "status",
            "notes",
        ),
    ),
    "customers": Resource(
        CustomerService,
        CustomerSerializer,
        (
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
            "notes",
        ),
    ),
}
# Resolved against the organization's employees once per job instead of a query per row.
RELATED = ("assigned_to",)
# Matches a row to a stored record in upsert mode.
MATCH_FIELDS = ("email", "code")


def needed_codes(resource: str, mode: str) -> list[str]:
    """The codes an import of `resource` in `mode` needs: `:create`, and `:update` too for upsert."""
    return [f"{resource}:create", *([f"{resource}:update"] if mode == ImportMode.UPSERT else [])]


def importable_fields(resource: str) -> set[str]:
    return {*RESOURCES[resource].fields, *RELATED, "code"}


def employees_by_id(tenant) -> dict[int, Employee]:
    return {employee.id: employee for employee in Employee.objects.filter(organization=tenant.organization)}


def prepared(cells: dict[str, str], employees: dict[int, Employee], *, partial: bool):
    """({"plain": serializer data, "related": resolved records}, problems); an empty cell sets nothing."""
    plain = {name: value for name, value in cells.items() if name not in (*RELATED, "code") and value.strip() != ""}
    related, problems = {}, []
    raw = cells.get("assigned_to", "").strip()
    if raw:
        employee = employees.get(parse_id(raw) or 0)
        if employee is None:
            problems.append(("assigned_to", f"No employee of this organization has the id {raw}."))
        else:
            related["assigned_to"] = employee
    return {"plain": plain, "related": related}, problems
