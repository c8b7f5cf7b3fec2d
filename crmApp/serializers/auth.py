"""Request and response shapes of the auth endpoints and of /api/users/me/."""

from django.core.validators import RegexValidator
from rest_framework import serializers

from crmApp.constants import EMAIL_MAX, LONG_NAME_MAX, NAME_MAX, MembershipRole, ProfileType
from crmApp.models import User
from crmApp.models.auth import TAKEN_EMAIL, TAKEN_USERNAME
from crmApp.serializers.fields import AccountEmailField, InputSerializer, StrictCharField, identity_fits

# Django stores a hash, so the raw length is ours to bound: long enough for passphrases, short
# enough that nobody makes the server hash megabytes.
PASSWORD_MAX = 128
TOKEN_MAX = 2048

username_characters = RegexValidator(
    r"^[\w.+-]+\Z",
    "Use only letters, digits and . + - _ (no @, spaces or other symbols).",
    code="invalid_username",
)


def password_field(**kwargs) -> serializers.CharField:
    """A write-only password field that keeps surrounding spaces (they are part of the password)."""
    return StrictCharField(
        write_only=True, max_length=PASSWORD_MAX, trim_whitespace=False, style={"input_type": "password"}, **kwargs
    )


class UsernameField(StrictCharField):
    """An optional username; blank means none (stored as NULL) and an `@` is refused (it marks an email)."""

    def __init__(self, **kwargs):
        kwargs.update(max_length=NAME_MAX, required=False, allow_null=True, allow_blank=True)
        super().__init__(**kwargs)
        self.validators += [username_characters, identity_fits]

    def run_validation(self, data=serializers.empty):
        if data is not serializers.empty and (data is None or (isinstance(data, str) and not data.strip())):
            return None
        return super().run_validation(data)


# --- requests -------------------------------------------------------------------------------------
class RegisterSerializer(InputSerializer):
    """Sign-up: the new user and the organization they will own."""

    email = AccountEmailField(max_length=EMAIL_MAX)
    password = password_field()
    first_name = StrictCharField(max_length=NAME_MAX)
    last_name = StrictCharField(max_length=NAME_MAX)
    organization_name = StrictCharField(max_length=LONG_NAME_MAX)
    username = UsernameField()

    def validate_email(self, value: str) -> str:
        # The same answer for the address itself and for a look-alike of it.
        if User.objects.email_taken(value):
            raise serializers.ValidationError(TAKEN_EMAIL, code="unique")
        return value

    def validate_username(self, value: str | None) -> str | None:
        if value is not None and User.objects.username_taken(value):
            raise serializers.ValidationError(TAKEN_USERNAME, code="unique")
        return value


class LoginSerializer(InputSerializer):
    """Credentials: the password and exactly one of email or username."""

    email = StrictCharField(max_length=EMAIL_MAX, required=False, allow_blank=True)
    username = StrictCharField(max_length=EMAIL_MAX, required=False, allow_blank=True)
    password = password_field()

    def validate(self, attrs: dict) -> dict:
        email = attrs.get("email", "").strip()
        username = attrs.get("username", "").strip()
        if bool(email) == bool(username):
            raise serializers.ValidationError("Send either an email or a username.", code="credentials_required")
        return {"email": email or None, "username": username or None, "password": attrs["password"]}


class RefreshTokenSerializer(InputSerializer):
    """A refresh token to rotate or revoke."""

    refresh = StrictCharField(max_length=TOKEN_MAX, write_only=True)


class ChangePasswordSerializer(InputSerializer):
    """The current password and the new one."""

    old_password = password_field()
    new_password = password_field()


class PasswordResetSerializer(InputSerializer):
    """The address to mail a reset link to."""

    email = AccountEmailField(max_length=EMAIL_MAX)


class PasswordResetConfirmSerializer(InputSerializer):
    """The two halves of a mailed reset link and the new password."""

    uid = StrictCharField(max_length=64)
    token = StrictCharField(max_length=TOKEN_MAX)
    new_password = password_field()


class VerifyEmailSerializer(InputSerializer):
    """The token of a mailed verification link."""

    token = StrictCharField(max_length=TOKEN_MAX)


class InvitationAcceptSerializer(InputSerializer):
    """The token of a mailed invitation; an account without a password chooses one (and its names) here."""

    token = StrictCharField(max_length=TOKEN_MAX)
    password = password_field(required=False)
    first_name = StrictCharField(max_length=NAME_MAX, required=False, allow_blank=True)
    last_name = StrictCharField(max_length=NAME_MAX, required=False, allow_blank=True)


# --- responses ------------------------------------------------------------------------------------
class UserOrganizationSerializer(serializers.Serializer):
    """One organization the user is an active member of, with their place in it."""

    id = serializers.IntegerField(source="organization_id")
    name = serializers.CharField(source="organization.name")
    role = serializers.ChoiceField(choices=MembershipRole.choices)
    profile_type = serializers.ChoiceField(choices=ProfileType.choices)


class CurrentUserSerializer(serializers.Serializer):
    """The signed-in user, their organizations and their codes in the active one."""

    id = serializers.IntegerField(source="user.id")
    email = serializers.EmailField(source="user.email")
    username = serializers.CharField(source="user.username", allow_null=True)
    first_name = serializers.CharField(source="user.first_name")
    last_name = serializers.CharField(source="user.last_name")
    is_email_verified = serializers.BooleanField(source="user.is_email_verified")
    active_organization = serializers.IntegerField(source="active_organization_id", allow_null=True)
    organizations = UserOrganizationSerializer(source="memberships", many=True)
    permissions = serializers.ListField(child=serializers.CharField())


# --- the profile form: a request shaped by the answer it edits -----------------------------------
class MeUpdateSerializer(InputSerializer):
    """The fields a user may change on their own account; the rest of the profile may be sent back as read."""

    answered_by = (CurrentUserSerializer,)

    first_name = StrictCharField(max_length=NAME_MAX, required=False)
    last_name = StrictCharField(max_length=NAME_MAX, required=False)
    username = UsernameField()

    def validate_username(self, value: str | None) -> str | None:
        user = self.context["request"].user
        if value is not None and User.objects.username_taken(value, exclude_pk=user.pk):
            raise serializers.ValidationError(TAKEN_USERNAME, code="unique")
        return value


class OrganizationSummarySerializer(serializers.Serializer):
    """The organization created at sign-up."""

    id = serializers.IntegerField()
    name = serializers.CharField()
    slug = serializers.CharField()
    created_at = serializers.DateTimeField()


class TokenPairSerializer(serializers.Serializer):
    """A fresh access token and its refresh token."""

    access = serializers.CharField()
    refresh = serializers.CharField()


class LoginResponseSerializer(TokenPairSerializer):
    """Tokens and the signed-in user."""

    user = CurrentUserSerializer()


class RegisterResponseSerializer(LoginResponseSerializer):
    """The new user, their organization and their first tokens."""

    organization = OrganizationSummarySerializer()


class InvitationAcceptedSerializer(serializers.Serializer):
    """The new member and the organization; tokens too when the invitation was accepted signed out."""

    user = CurrentUserSerializer()
    organization = OrganizationSummarySerializer()
    access = serializers.CharField(required=False)
    refresh = serializers.CharField(required=False)


class DetailSerializer(serializers.Serializer):
    """A human sentence confirming what happened."""

    detail = serializers.CharField()


class ChangePasswordResponseSerializer(TokenPairSerializer):
    """The confirmation and a new token pair, since every older refresh token was revoked."""

    detail = serializers.CharField()
