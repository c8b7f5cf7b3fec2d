"""`Authorization: Api-Key <key>`: a service acting with an API key's scopes in the key's organization.

Only the organization-scoped API accepts keys (OrganizationScopedViewSet); sign-in, the caller's own
account and `/api/organizations/…` answer a key with 401, so a key can never act as its creator there.
"""

from functools import lru_cache

from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError
from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.tokens import Token
from rest_framework_simplejwt.utils import aware_utcnow, get_md5_hash_password

from crmApp import access
from crmApp.models import User

KEYWORD = b"api-key"
# Longer than any key we issue; a longer header is refused before it is hashed.
MAX_KEY_LENGTH = 200
# Access tokens a process remembers having verified (a few hundred bytes each).
VERIFIED_TOKENS = 1024


@lru_cache(maxsize=VERIFIED_TOKENS)
def verified_token(raw_token: bytes) -> Token:
    """simplejwt's validation of an access token, done once per process for each token's exact text.

    The same bytes carry the same valid signature and claims, so only the expiry needs checking again
    (see `CachedJWTAuthentication.get_validated_token`). A refused token raises and is not remembered.
    Verifying costs ~0.2 ms (PyJWT checks each segment character by character): 4 % of a list request.
    Access tokens are never revoked one by one here (a new password ends them, checked in `get_user`).
    """
    return JWTAuthentication().get_validated_token(raw_token)


class CachedJWTAuthentication(JWTAuthentication):
    """simplejwt's access tokens, with the user read from the access cache (crmApp.access) instead of a query."""

    def authenticate(self, request):
        self.request = request  # an authenticator serves one request
        return super().authenticate(request)

    def get_validated_token(self, raw_token: bytes) -> Token:
        token = verified_token(bytes(raw_token))
        try:
            token.check_exp(current_time=aware_utcnow())
        except TokenError:
            return super().get_validated_token(raw_token)  # refused as simplejwt refuses an expired token
        return token

    def get_user(self, validated_token):
        user_id = validated_token.get(jwt_settings.USER_ID_CLAIM)
        if user_id is None:
            raise InvalidToken("Token contained no recognizable user identification")
        # Imported here: DRF reads this module while its own views are still being imported.
        from crmApp.pagination import count_keys_ahead
        from crmApp.tenancy import ORGANIZATION_HEADER, parse_id
        from crmApp.throttles import UserRateThrottle

        # The caller's access in the organization they name (crmApp.tenancy), the count of this request
        # against their rate limit and, for a list, its cached count come in the same round trip.
        organization_id = parse_id(self.request.META.get(ORGANIZATION_HEADER, ""))
        counted = UserRateThrottle.hit_ahead(self.request, user_id)
        view = (self.request.parser_context or {}).get("view")
        count_keys = count_keys_ahead(self.request, view, parse_id(user_id), organization_id)
        user, ahead = access.cached_user(
            user_id,
            lambda pk: User.objects.filter(pk=pk).first(),
            organization_id=organization_id,
            along=counted,
            also=count_keys,
        )
        self.request.crm_access_ahead, self.request.crm_hit_ahead = ahead, counted
        if user is None:
            raise AuthenticationFailed("User not found", code="user_not_found")
        if not user.is_active:
            raise AuthenticationFailed("User is inactive", code="user_inactive")
        if validated_token.get(jwt_settings.REVOKE_TOKEN_CLAIM) != get_md5_hash_password(user.password):
            raise AuthenticationFailed("The user's password has been changed.", code="password_changed")
        return user


def sends_api_key(request) -> bool:
    """Whether the request's credential is an API key (`Authorization: Api-Key …`), valid or not."""
    parts = get_authorization_header(request).split()
    return bool(parts) and parts[0].lower() == KEYWORD


class ApiKeyAuthentication(BaseAuthentication):
    """Authenticates as the key's creator, with the key as `request.auth` (its scopes narrow the codes)."""

    def authenticate(self, request):
        if not sends_api_key(request):
            return None
        parts = get_authorization_header(request).split()
        if len(parts) != 2 or len(parts[1]) > MAX_KEY_LENGTH:
            raise AuthenticationFailed("The header must be `Authorization: Api-Key <key>`.")
        from crmApp.services.integration_service import authenticate_api_key  # (as in get_user)

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


class CachedJWTScheme(SimpleJWTScheme):
    """The schema's `jwtAuth` (Bearer) scheme, for the cached authenticator too."""

    target_class = CachedJWTAuthentication
