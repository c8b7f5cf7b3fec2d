"""OpenAPI generation: every tenant-scoped operation documents the X-Organization-ID header."""

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter

ORGANIZATION_HEADER = OpenApiParameter(
    name="X-Organization-ID",
    type=OpenApiTypes.INT,
    location=OpenApiParameter.HEADER,
    required=False,
    description=(
        "The organization the request acts in. Without it, the caller's default organization is used; "
        "an organization the caller is not an active member of is a 403."
    ),
)


class CRMAutoSchema(AutoSchema):
    """drf-spectacular's schema, plus the organization header on views that set `uses_organization_header`."""

    def get_override_parameters(self):
        parameters = super().get_override_parameters()
        if getattr(self.view, "uses_organization_header", False):
            parameters = [*parameters, ORGANIZATION_HEADER]
        return parameters
