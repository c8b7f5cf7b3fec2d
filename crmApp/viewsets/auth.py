"""/api/auth/...: sign-up, sign-in, tokens, passwords, email verification; and /api/users/me/."""

from django.urls import path
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotAuthenticated
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework_simplejwt.authentication import JWTAuthentication

from crmApp.authentication import sends_api_key
from crmApp.query import StrictAPIView
from crmApp.serializers import auth as s
from crmApp.serializers.errors import ErrorSerializer
from crmApp.services import auth_service, organization_service
from crmApp.tenancy import requested_organization_id
from crmApp.throttles import AuthRateThrottle

TAGS = ["auth"]
ERROR = OpenApiResponse(ErrorSerializer)


def validated(serializer_class, request, **context) -> dict:
    """The request body validated by `serializer_class` (a 400 with field errors otherwise)."""
    serializer = serializer_class(data=request.data, context={"request": request, **context})
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class OpenView(StrictAPIView):
    """An endpoint for anonymous callers: any Authorization header is ignored.

    With no authentication classes DRF has no WWW-Authenticate value and turns every 401 into a
    403; naming the Bearer scheme here keeps failed sign-ins and bad tokens a proper 401.
    """

    authentication_classes = []
    permission_classes = [AllowAny]

    def get_authenticate_header(self, request):
        return JWTAuthentication().authenticate_header(request)


PASSWORD_RULE = (
    "the password fails the password rules (at least 8 characters, not common, not all digits, "
    "not too like the name or address)"
)
TAKEN_RULE = "the address or username is another account's, or looks like it (a TS #39 look-alike)"


class RegisterView(OpenView):
    """Sign up: a user, the organization they own, and their first tokens."""

    business_rules = {"post": [TAKEN_RULE, PASSWORD_RULE]}

    throttle_classes = [AuthRateThrottle]

    @extend_schema(
        tags=TAGS,
        auth=[],
        request=s.RegisterSerializer,
        responses={201: s.RegisterResponseSerializer, 400: ERROR, 429: ERROR},
    )
    def post(self, request):
        registration = auth_service.register(**validated(s.RegisterSerializer, request))
        body = {
            "user": auth_service.build_profile(registration.user),
            "organization": registration.organization,
            "access": registration.tokens.access,
            "refresh": registration.tokens.refresh,
        }
        return Response(s.RegisterResponseSerializer(body).data, status=status.HTTP_201_CREATED)


class LoginView(OpenView):
    """Sign in with an email or a username and a password."""

    business_rules = {"post": ["not exactly one of `email` and `username` is sent"]}

    throttle_classes = [AuthRateThrottle]

    @extend_schema(
        tags=TAGS,
        auth=[],
        request=s.LoginSerializer,
        responses={200: s.LoginResponseSerializer, 400: ERROR, 401: ERROR, 429: ERROR},
    )
    def post(self, request):
        user, tokens = auth_service.login(**validated(s.LoginSerializer, request))
        body = {"user": auth_service.build_profile(user), "access": tokens.access, "refresh": tokens.refresh}
        return Response(s.LoginResponseSerializer(body).data)


class RefreshTokensView(OpenView):
    """Rotate a refresh token: a new pair, and the old refresh token is used up."""

    throttle_classes = [AuthRateThrottle]

    @extend_schema(
        tags=TAGS,
        auth=[],
        request=s.RefreshTokenSerializer,
        responses={200: s.TokenPairSerializer, 400: ERROR, 401: ERROR, 429: ERROR},
    )
    def post(self, request):
        tokens = auth_service.rotate_refresh_token(validated(s.RefreshTokenSerializer, request)["refresh"])
        return Response(s.TokenPairSerializer(tokens).data)


class LogoutView(StrictAPIView):
    """Log out: the given refresh token can never be used again."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        tags=TAGS,
        request=s.RefreshTokenSerializer,
        responses={
            205: OpenApiResponse(description="Logged out; the refresh token is revoked."),
            400: ERROR,
            401: ERROR,
        },
    )
    def post(self, request):
        auth_service.revoke_refresh_token(validated(s.RefreshTokenSerializer, request)["refresh"], user=request.user)
        return Response(status=status.HTTP_205_RESET_CONTENT)


class ChangePasswordView(StrictAPIView):
    """Change the password; every older refresh token is revoked and this session gets a new pair."""

    business_rules = {"post": ["`old_password` is not the current password", PASSWORD_RULE]}

    permission_classes = [IsAuthenticated]

    @extend_schema(
        tags=TAGS,
        request=s.ChangePasswordSerializer,
        responses={200: s.ChangePasswordResponseSerializer, 400: ERROR, 401: ERROR},
    )
    def post(self, request):
        tokens = auth_service.change_password(request.user, **validated(s.ChangePasswordSerializer, request))
        body = {"detail": "Password changed.", "access": tokens.access, "refresh": tokens.refresh}
        return Response(s.ChangePasswordResponseSerializer(body).data)


class PasswordResetView(OpenView):
    """Ask for a reset link; the answer is the same whether or not the address is known."""

    throttle_classes = [AuthRateThrottle]

    @extend_schema(
        tags=TAGS,
        auth=[],
        request=s.PasswordResetSerializer,
        responses={202: s.DetailSerializer, 400: ERROR, 429: ERROR},
    )
    def post(self, request):
        auth_service.request_password_reset(**validated(s.PasswordResetSerializer, request))
        body = {"detail": "If an account uses this address, a password reset link is on its way."}
        return Response(s.DetailSerializer(body).data, status=status.HTTP_202_ACCEPTED)


class PasswordResetConfirmView(OpenView):
    """Set a new password with a mailed link."""

    business_rules = {"post": ["the link (`uid`, `token`) is invalid, expired or already used", PASSWORD_RULE]}

    throttle_classes = [AuthRateThrottle]

    @extend_schema(
        tags=TAGS,
        auth=[],
        request=s.PasswordResetConfirmSerializer,
        responses={200: s.DetailSerializer, 400: ERROR, 429: ERROR},
    )
    def post(self, request):
        auth_service.confirm_password_reset(**validated(s.PasswordResetConfirmSerializer, request))
        return Response(s.DetailSerializer({"detail": "Password set. You can now sign in."}).data)


class VerifyEmailView(OpenView):
    """Confirm the email address with the token of the mailed link."""

    business_rules = {"post": ["the token is invalid or already used"]}

    throttle_classes = [AuthRateThrottle]

    @extend_schema(
        tags=TAGS,
        auth=[],
        request=s.VerifyEmailSerializer,
        responses={200: s.DetailSerializer, 400: ERROR, 429: ERROR},
    )
    def post(self, request):
        auth_service.verify_email(**validated(s.VerifyEmailSerializer, request))
        return Response(s.DetailSerializer({"detail": "Email address verified."}).data)


class InvitationAcceptView(StrictAPIView):
    """Accept a mailed invitation: signed in as the invited account, or signed out to set its first password."""

    business_rules = {
        "post": [
            "the token is unknown, used, cancelled or expired (`invalid_token`)",
            "signed out, `password` is missing or fails the password rules",
        ]
    }

    permission_classes = [AllowAny]
    throttle_classes = [AuthRateThrottle]

    @extend_schema(
        tags=["organizations"],
        auth=[{"jwtAuth": []}, {}],
        request=s.InvitationAcceptSerializer,
        responses={200: s.InvitationAcceptedSerializer, 400: ERROR, 401: ERROR, 403: ERROR, 429: ERROR},
    )
    def post(self, request):
        if sends_api_key(request):  # a key acts for a service; it would otherwise pass for signed out
            raise NotAuthenticated("An API key can't accept invitations; sign in as the invited account.")
        body = validated(s.InvitationAcceptSerializer, request)
        signed_in = request.user if request.user.is_authenticated else None
        membership = organization_service.accept_invitation(user=signed_in, **body)
        answer = {"user": auth_service.build_profile(membership.user), "organization": membership.organization}
        if signed_in is None:
            tokens = auth_service.issue_tokens(membership.user)
            answer.update(access=tokens.access, refresh=tokens.refresh)
        return Response(s.InvitationAcceptedSerializer(answer).data)


class MeView(StrictAPIView):
    """The signed-in user, their organizations and their codes in the active organization."""

    business_rules = {"patch": [TAKEN_RULE]}

    permission_classes = [IsAuthenticated]
    http_method_names = ["get", "patch", "head", "options"]
    uses_organization_header = True

    @extend_schema(tags=["users"], responses={200: s.CurrentUserSerializer, 401: ERROR, 403: ERROR})
    def get(self, request):
        profile = auth_service.build_profile(request.user, organization_id=requested_organization_id(request))
        return Response(s.CurrentUserSerializer(profile).data)

    @extend_schema(
        tags=["users"],
        request=s.MeUpdateSerializer,
        responses={200: s.CurrentUserSerializer, 400: ERROR, 401: ERROR, 403: ERROR},
    )
    def patch(self, request):
        profile = auth_service.update_profile(
            request.user,
            organization_id=requested_organization_id(request),
            **validated(s.MeUpdateSerializer, request),
        )
        return Response(s.CurrentUserSerializer(profile).data)


urlpatterns = [
    path("register/", RegisterView.as_view(), name="auth-register"),
    path("login/", LoginView.as_view(), name="auth-login"),
    path("logout/", LogoutView.as_view(), name="auth-logout"),
    path("refresh-tokens/", RefreshTokensView.as_view(), name="auth-refresh-tokens"),
    path("change-password/", ChangePasswordView.as_view(), name="auth-change-password"),
    path("password-reset/", PasswordResetView.as_view(), name="auth-password-reset"),
    path("password-reset/confirm/", PasswordResetConfirmView.as_view(), name="auth-password-reset-confirm"),
    path("verify-email/", VerifyEmailView.as_view(), name="auth-verify-email"),
]
