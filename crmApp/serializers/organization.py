"""Organizations and their members: input and output shapes."""

from drf_spectacular.utils import PolymorphicProxySerializer
from rest_framework import serializers

from crmApp.constants import EMAIL_MAX, LONG_NAME_MAX, MembershipRole, MembershipStatus, ProfileType
from crmApp.models import Membership, Organization
from crmApp.serializers.fields import AccountEmailField, InputSerializer, KnownFieldsMixin, StrictCharField


class OrganizationSerializer(KnownFieldsMixin, serializers.ModelSerializer):
    """An organization as the caller sees it, with the caller's own `role` and `profile_type` there."""

    name = StrictCharField(max_length=LONG_NAME_MAX)
    role = serializers.ChoiceField(choices=MembershipRole.choices, read_only=True)
    profile_type = serializers.ChoiceField(choices=ProfileType.choices, read_only=True)

    class Meta:
        model = Organization
        fields = ["id", "name", "slug", "role", "profile_type", "created_at", "updated_at"]
        read_only_fields = ["id", "slug", "created_at", "updated_at"]


class MemberSerializer(serializers.ModelSerializer):
    """An accepted member: the user's identity, their role and profile type here, and when they joined."""

    user_id = serializers.IntegerField(read_only=True)
    email = serializers.EmailField(source="user.email", read_only=True)
    first_name = serializers.CharField(source="user.first_name", read_only=True)
    last_name = serializers.CharField(source="user.last_name", read_only=True)
    status = serializers.ChoiceField(choices=[MembershipStatus.ACTIVE], read_only=True)
    # Whether the member can use their membership: an accepted member whose account staff deactivated
    # keeps it, but signs in nowhere.
    is_active = serializers.BooleanField(source="user.is_active", read_only=True)
    joined_at = serializers.DateTimeField(source="created_at", read_only=True)

    class Meta:
        model = Membership
        fields = [
            "user_id",
            "email",
            "first_name",
            "last_name",
            "role",
            "profile_type",
            "status",
            "is_active",
            "joined_at",
        ]
        read_only_fields = fields


class InvitationSerializer(serializers.ModelSerializer):
    """An open invitation: only what the inviter typed, nothing of the account behind the address."""

    invitation_id = serializers.IntegerField(source="id", read_only=True)
    email = serializers.EmailField(source="user.email", read_only=True)
    status = serializers.ChoiceField(choices=[MembershipStatus.INVITED], read_only=True)

    class Meta:
        model = Membership
        fields = ["invitation_id", "email", "role", "profile_type", "status", "invited_at"]
        read_only_fields = fields


class MemberEntrySerializer(serializers.Serializer):
    """A row of the member list: a member, or an invitation (told apart by `status`)."""

    def to_representation(self, membership):
        if membership.status == MembershipStatus.INVITED:
            return InvitationSerializer(membership, context=self.context).data
        return MemberSerializer(membership, context=self.context).data


def member_entry_schema(*, many: bool = False) -> PolymorphicProxySerializer:
    """The schema of a member-list row: `Member` or `Invitation`, told apart by `status`."""
    return PolymorphicProxySerializer(
        component_name="MemberEntry",
        serializers={
            MembershipStatus.ACTIVE.value: MemberSerializer,
            MembershipStatus.INVITED.value: InvitationSerializer,
        },
        resource_type_field_name="status",
        many=many,
    )


class InviteSerializer(InputSerializer):
    """Invites an address; the invitee chooses their names and password when accepting."""

    answered_by = (InvitationSerializer,)

    email = AccountEmailField(max_length=EMAIL_MAX)
    role = serializers.ChoiceField(choices=MembershipRole.choices, default=MembershipRole.MEMBER)
    profile_type = serializers.ChoiceField(choices=ProfileType.choices, default=ProfileType.EMPLOYEE)


class MemberUpdateSerializer(InputSerializer):
    """Changes a member's role and/or profile type."""

    answered_by = (MemberSerializer, InvitationSerializer)

    role = serializers.ChoiceField(choices=MembershipRole.choices, required=False)
    profile_type = serializers.ChoiceField(choices=ProfileType.choices, required=False)
