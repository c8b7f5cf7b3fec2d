"""`Authorization: Api-Key <key>`: a service acting with an API key's scopes in the key's organization.

Only the organization-scoped API accepts keys (OrganizationScopedViewSet); sign-in, the caller's own
account and `/api/organizations/…` answer a key with 401, so a key can never act as its creator there.
"""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed

from crmApp.services.integration_service import authenticate_api_key

KEYWORD = b"api-key"
# Longer than any key we issue; a longer header is refused before it is hashed.
MAX_KEY_LENGTH = 200


class ApiKeyAuthentication(BaseAuthentication):
    """Authenticates as the key's creator, with the key as `request.auth` (its scopes narrow the codes)."""

    def authenticate(self, request):
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != KEYWORD:
            return None
        if len(parts) != 2 or len(parts[1]) > MAX_KEY_LENGTH:
            raise AuthenticationFailed("The header must be `Authorization: Api-Key <key>`.")
        try:
            key = authenticate_api_key(parts[1].decode("ascii"))
        except (UnicodeDecodeError, LookupError) as refused:
            raise AuthenticationFailed(str(refused) if isinstance(refused, LookupError) else "Invalid API key.")
        return key.created_by, key

    def authenticate_header(self, request):
        return "Api-Key"


class ApiKeyScheme(OpenApiAuthenticationExtension):
    """The schema's second security scheme."""

    target_class = ApiKeyAuthentication
    name = "ApiKeyAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Api-Key <key>`: acts in the key's organization with the key's scopes "
            "that its creator still holds (see /api/api-keys/).",
        }
