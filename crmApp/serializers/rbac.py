"""The permission catalogue, roles and role assignments: input and output shapes."""

from rest_framework import serializers

from crmApp.constants import ALL_PERMISSION_CODES, NAME_MAX
from crmApp.models import Permission, Role, Team, UserRole
from crmApp.serializers.fields import ActiveMemberField, KnownFieldsMixin, ScopedPrimaryKeyRelatedField, StrictCharField
from crmApp.tenancy import get_tenant


class PermissionSerializer(serializers.ModelSerializer):
    """One code of the catalogue."""

    class Meta:
        model = Permission
        fields = ["code", "description"]
        read_only_fields = fields


class PermissionCodesField(serializers.ListField):
    """A list of permission codes; renders a role's (prefetched) permissions as sorted codes."""

    child = StrictCharField(max_length=64)

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", len(ALL_PERMISSION_CODES))
        super().__init__(**kwargs)

    def to_representation(self, value):
        return sorted(permission.code for permission in value.all())

    def to_internal_value(self, data):
        codes = super().to_internal_value(data)
        unknown = sorted(set(codes) - ALL_PERMISSION_CODES)
        if unknown:
            raise serializers.ValidationError(f"Unknown permission codes: {', '.join(unknown)}.")
        return sorted(set(codes))


class RoleSerializer(KnownFieldsMixin, serializers.ModelSerializer):
    """A role of the active organization and the codes it grants."""

    name = StrictCharField(max_length=NAME_MAX)
    description = StrictCharField(max_length=500, required=False, allow_blank=True)
    permissions = PermissionCodesField(required=False)

    class Meta:
        model = Role
        fields = ["id", "name", "description", "permissions", "record_scope"]
        read_only_fields = ["id"]

    def validate_name(self, value):
        """Role names are unique per organization, ignoring case."""
        roles = Role.objects.filter(organization=get_tenant(self.context["request"]).organization, name__iexact=value)
        if self.instance is not None:
            roles = roles.exclude(pk=self.instance.pk)
        if roles.exists():
            raise serializers.ValidationError("This organization already has a role with this name.")
        return value


class UserRoleSerializer(KnownFieldsMixin, serializers.ModelSerializer):
    """Assigns a role of the active organization to one of its active members."""

    user = ActiveMemberField()
    role = ScopedPrimaryKeyRelatedField(queryset=Role.objects.all())

    class Meta:
        model = UserRole
        fields = ["id", "user", "role"]
        read_only_fields = ["id"]
        validators = []  # the pair check below gives a clearer message than the generated one

    def validate(self, attrs):
        if UserRole.objects.filter(user=attrs["user"], role=attrs["role"]).exists():
            raise serializers.ValidationError("This member already has this role.")
        return attrs


class TeamSerializer(KnownFieldsMixin, serializers.ModelSerializer):
    """A team: its name and its members (active members of the organization)."""

    name = StrictCharField(max_length=NAME_MAX)
    members = ActiveMemberField(many=True, required=False)

    class Meta:
        model = Team
        fields = ["id", "name", "members"]
        read_only_fields = ["id"]

    def validate_name(self, value):
        """Team names are unique per organization, ignoring case."""
        teams = Team.objects.filter(organization=get_tenant(self.context["request"]).organization, name__iexact=value)
        if self.instance is not None:
            teams = teams.exclude(pk=self.instance.pk)
        if teams.exists():
            raise serializers.ValidationError("This organization already has a team with this name.")
        return value
