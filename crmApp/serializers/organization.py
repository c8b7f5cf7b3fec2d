"""Organizations and their members: input and output shapes."""

from rest_framework import serializers

from crmApp.constants import EMAIL_MAX, LONG_NAME_MAX, NAME_MAX, MembershipRole, ProfileType
from crmApp.models import Membership, Organization


class OrganizationSerializer(serializers.ModelSerializer):
    """An organization as the caller sees it, with the caller's own `role` and `profile_type` there."""

    name = serializers.CharField(max_length=LONG_NAME_MAX)
    role = serializers.ChoiceField(choices=MembershipRole.choices, read_only=True)
    profile_type = serializers.ChoiceField(choices=ProfileType.choices, read_only=True)

    class Meta:
        model = Organization
        fields = ["id", "name", "slug", "role", "profile_type", "created_at", "updated_at"]
        read_only_fields = ["id", "slug", "created_at", "updated_at"]


class MemberSerializer(serializers.ModelSerializer):
    """One member: the user's identity, their role and profile type here, and when they joined."""

    user_id = serializers.IntegerField(read_only=True)
    email = serializers.EmailField(source="user.email", read_only=True)
    first_name = serializers.CharField(source="user.first_name", read_only=True)
    last_name = serializers.CharField(source="user.last_name", read_only=True)
    joined_at = serializers.DateTimeField(source="created_at", read_only=True)

    class Meta:
        model = Membership
        fields = ["user_id", "email", "first_name", "last_name", "role", "profile_type", "is_active", "joined_at"]
        read_only_fields = fields


class MemberCreateSerializer(serializers.Serializer):
    """Adds a member by email; the names are used only when the email has no account yet."""

    email = serializers.EmailField(max_length=EMAIL_MAX)
    role = serializers.ChoiceField(choices=MembershipRole.choices, default=MembershipRole.MEMBER)
    profile_type = serializers.ChoiceField(choices=ProfileType.choices, default=ProfileType.EMPLOYEE)
    first_name = serializers.CharField(max_length=NAME_MAX, required=False, allow_blank=True)
    last_name = serializers.CharField(max_length=NAME_MAX, required=False, allow_blank=True)


class MemberUpdateSerializer(serializers.Serializer):
    """Changes a member's role and/or profile type."""

    role = serializers.ChoiceField(choices=MembershipRole.choices, required=False)
    profile_type = serializers.ChoiceField(choices=ProfileType.choices, required=False)
