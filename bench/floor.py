"""The floor: the least Django does to serve the leads list's page 1, the yardstick for the API's throughput.

The same 25 rows as `GET /api/leads/` (the organization's newest leads, `-created_at, -id`) and the
same columns, read with `.values()` and written with orjson: no authentication, permission, tenancy
check, serializer, count or pagination links. It still passes through the app's middleware.
"""

import orjson
from django.http import HttpResponse

from crmApp.models import Lead

PAGE_SIZE = 25
# LeadSerializer's columns; `converted_customer` is another table's, so it is left out.
COLUMNS = (
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
    "version",
    "created_at",
    "updated_at",
    "created_by",
)


def leads_page(request):
    """Page 1 of the leads of the organization named by `X-Organization-ID`, as JSON."""
    rows = (
        Lead.objects.filter(organization_id=int(request.headers["X-Organization-ID"]))
        .order_by("-created_at", "-id")
        .values(*COLUMNS)[:PAGE_SIZE]
    )
    # Decimals as strings, as the API writes money.
    return HttpResponse(orjson.dumps({"results": list(rows)}, default=str), content_type="application/json")
