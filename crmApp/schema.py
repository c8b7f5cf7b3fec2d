"""OpenAPI generation: a schema a typed client can trust.

- Every operation documents the errors it can answer, each with the one `Error` body.
- Tenant-scoped operations document the X-Organization-ID header.
- Response fields that are always present are `required`, and path ids are integers
  (`postprocess_schema`, run after the whole schema is built).
"""

from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse

from crmApp.constants import MONEY_PATTERN
from crmApp.query import handler_takes_no_body
from crmApp.serializers.errors import ErrorSerializer
from crmApp.serializers.fields import ScopedPrimaryKeyRelatedField
from crmApp.tenancy import MAX_ID

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
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
ERROR_DESCRIPTIONS = {
    "400": "The request is invalid: a field, a query parameter or a business rule (`errors` names the fields).",
    "401": "No valid credentials were sent.",
    "403": "The caller may not do this in the active organization.",
    "404": "No such record in the active organization (or a page past the last).",
    "406": "The `Accept` header names no format this operation answers in.",
    "409": "The request conflicts with the current state (`protected`, `conflict`, `idempotency_key_in_use`).",
    "411": "The body was sent without a `Content-Length` (chunked); send its length.",
    "412": "`If-Match` does not match the record's current ETag; nothing was changed.",
    "413": "The request body is larger than the API takes.",
    "415": "The body is in a content type this operation does not read.",
    "422": "This `Idempotency-Key` was already used for another request.",
    "429": "Too many requests; `Retry-After` and `retry_after` say when to try again.",
    "503": "The cache is unreachable (`cache_unavailable`); try again after `Retry-After` seconds.",
}
RELATED_RECORD_RULE = "an id of a related record names no record of the active organization (missing or foreign)"


def names_related_records(serializer) -> bool:
    """Whether a serializer (or one nested in it) takes ids of related records."""
    serializer = serializer() if isinstance(serializer, type) else serializer
    if not hasattr(serializer, "fields"):
        return False
    for field in serializer.fields.values():
        field = getattr(field, "child", field)
        if isinstance(field, ScopedPrimaryKeyRelatedField) and not field.read_only:
            return True
        if hasattr(field, "fields") and not field.read_only and names_related_records(field):
            return True
    return False


# Fields a response may leave out on purpose; every other response field is always present.
OPTIONAL_RESPONSE_FIELDS = {
    "Error": {"errors", "retry_after"},
    "InvitationAccepted": {"access", "refresh"},
}


class CRMAutoSchema(AutoSchema):
    """drf-spectacular's schema, with the organization header and every error response documented."""

    def get_override_parameters(self):
        parameters = super().get_override_parameters()
        query_serializer = getattr(self.view, "query_serializer", None)
        if query_serializer is not None:
            parameters = [*parameters, query_serializer]
        if getattr(self.view, "uses_organization_header", False):
            parameters = [*parameters, ORGANIZATION_HEADER]
        return parameters

    # The filters and pages a view documents are the ones it takes (crmApp.query), no more.
    def get_filter_backends(self):
        if hasattr(self.view, "takes_filters"):
            return getattr(self.view, "filter_backends", []) if self.view.takes_filters() else []
        return super().get_filter_backends()

    def _get_pagination_parameters(self):
        if hasattr(self.view, "takes_pages") and not self.view.takes_pages():
            return []
        paginator = self._get_paginator()
        return paginator.get_schema_operation_parameters(self.view) if paginator else []

    def get_operation(self, path, path_regex, path_prefix, method, registry):
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return None
        responses = operation["responses"]
        for status in self.error_statuses(operation):
            if status not in responses:
                error = OpenApiResponse(ErrorSerializer, description=ERROR_DESCRIPTIONS[status])
                responses[status] = self._get_response_for_code(error, status)
        if self.is_versioned_detail() and self.method == "GET":
            responses.setdefault("304", {"description": "Not modified: `If-None-Match` names the current ETag."})
        return operation

    # --- business rules: what may refuse a request the schema itself allows ---------------------
    def business_rules(self) -> list[str]:
        """The rules that may refuse (400) a schema-valid request: declared per action, plus related ids."""
        key = getattr(self.view, "action", None) or self.method.lower()
        rules = list(getattr(self.view, "business_rules", {}).get(key, ()))
        serializers = [getattr(self.view, "query_serializer", None)]
        if self.method in WRITE_METHODS:
            serializers.append(self.get_request_serializer())
        if any(names_related_records(serializer) for serializer in serializers if serializer is not None):
            rules.insert(0, RELATED_RECORD_RULE)
        return rules

    def get_description(self):
        description = super().get_description() or ""
        rules = self.business_rules()
        if not rules:
            return description
        listed = "\n".join(f"- {rule}" for rule in rules)
        return (
            f"{description}\n\n**Refused with 400, even when the request matches this schema, when:**\n{listed}".strip()
        )

    def get_extensions(self):
        extensions = super().get_extensions()
        if self.business_rules():
            extensions = {**extensions, "x-business-rules": self.business_rules()}
        return extensions

    def is_versioned_detail(self) -> bool:
        """A single record of a model with `version` (ETag, If-Match, If-None-Match).

        A view that reads its records without a queryset of its own (the trash) declares
        `versioned_records = True`.
        """
        model = getattr(getattr(self.view, "queryset", None), "model", None)
        versioned = getattr(self.view, "versioned_records", False) or (
            model is not None and any(f.name == "version" for f in model._meta.fields)
        )
        return "{" in self.path and versioned

    def error_statuses(self, operation) -> list[str]:
        """The error statuses this operation can answer."""
        method = self.method
        authenticated = bool(operation.get("security")) and operation["security"] != [{}]
        paginated = self._is_list_view() and self._get_paginator() is not None
        statuses = ["400"]  # every route refuses a query parameter it doesn't take (crmApp.query)
        if authenticated:
            statuses += ["401", "403"]
        if "{" in self.path or paginated:
            statuses.append("404")
        statuses.append("406")  # content negotiation runs on every request
        if method in WRITE_METHODS and authenticated:
            statuses.append("409")
        if self.is_versioned_detail() and method != "GET":
            statuses.append("412")
        if method in ("POST", "PUT", "PATCH"):
            statuses += ["411", "413"]
        if "requestBody" in operation or handler_takes_no_body(self.view, method):
            statuses.append("415")  # one that takes none reads a body to refuse it (crmApp.query)
        if method == "POST" and authenticated and not self.path.startswith("/api/auth/"):
            statuses.append("422")
        throttled = bool(getattr(self.view, "throttle_classes", None))
        if throttled:
            statuses.append("429")
        if authenticated or throttled:  # the access cache and the throttle counters live in Redis
            statuses.append("503")
        return statuses


class ScopedIdFieldExtension(OpenApiSerializerFieldExtension):
    """A related record's id: a positive integer (a missing or foreign one is a 400 on the field)."""

    target_class = "crmApp.serializers.fields.ScopedPrimaryKeyRelatedField"
    match_subclasses = True

    def map_serializer_field(self, auto_schema, direction):
        return {"type": "integer", "minimum": 1, "maximum": MAX_ID}


def postprocess_schema(result, generator, request, public):
    """Mark always-present response fields `required`, make path ids integers, and state input formats.

    Money sent to the API is a non-negative amount with at most 2 decimals, and addresses may be
    internationalised (`idn-email`), which is what the API accepts.
    """
    for name, component in result.get("components", {}).get("schemas", {}).items():
        for schema in component.get("properties", {}).values():
            if schema.get("format") == "email":
                schema["format"] = "idn-email"
            if name.endswith("Request") and schema.get("format") == "decimal":
                schema["pattern"] = MONEY_PATTERN
        if name.endswith("Request") and "properties" in component:
            component["additionalProperties"] = False  # unknown fields are refused (KnownFieldsMixin)
        if name.endswith("Request") or "properties" not in component:
            continue
        optional = OPTIONAL_RESPONSE_FIELDS.get(name, set())
        component["required"] = [field for field in component["properties"] if field not in optional]
    for path_item in result.get("paths", {}).values():
        for operation in path_item.values():
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "path" and "enum" not in parameter["schema"]:
                    parameter["schema"] = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
    return result
