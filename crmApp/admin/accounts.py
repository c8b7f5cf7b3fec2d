"""Admin of accounts, organizations, RBAC and bookkeeping tables."""

from django import forms
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm

from crmApp.admin.records import ServiceBackedAdmin
from crmApp.admin_site import OrganizationLabeledFilter
from crmApp.models import (
    CodeSequence,
    IdempotencyKey,
    Membership,
    Organization,
    Permission,
    Role,
    User,
    UserRole,
)
from crmApp.serializers.auth import username_characters
from crmApp.services.rbac_service import UserRoleService


class OptionalUsernameField(forms.CharField):
    """A username as the API takes it: optional (blank is none, stored as NULL), no `@` or spaces.

    Django's own username field can't hold NULL; the look-alike and length rules are the model's `clean()`.
    """

    def __init__(self, **kwargs):
        super().__init__(**{**kwargs, "required": False, "empty_value": None})
        self.validators.append(username_characters)


class UserAddForm(AdminUserCreationForm):
    class Meta(AdminUserCreationForm.Meta):
        model = User
        fields = ("email", "username")
        field_classes = {"username": OptionalUsernameField}


class UserEditForm(UserChangeForm):
    class Meta(UserChangeForm.Meta):
        model = User
        field_classes = {"username": OptionalUsernameField}


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    form = UserEditForm
    add_form = UserAddForm
    ordering = ("email",)
    list_display = ("email", "username", "first_name", "last_name", "is_email_verified", "is_staff", "is_active")
    list_filter = ("is_staff", "is_superuser", "is_active", "is_email_verified", "memberships__organization")
    search_fields = ("email", "username", "first_name", "last_name")
    readonly_fields = ("last_login", "date_joined")
    autocomplete_fields = ("default_organization",)
    fieldsets = (
        (None, {"fields": ("email", "username", "password")}),
        ("Personal info", {"fields": ("first_name", "last_name", "is_email_verified", "default_organization")}),
        ("Permissions", {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")}),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "username", "password1", "password2")}),)


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ("user",)


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "is_active", "created_at")
    list_filter = ("is_active",)
    search_fields = ("name", "slug")
    readonly_fields = ("created_at", "updated_at")
    inlines = (MembershipInline,)


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ("user", "organization", "role", "profile_type", "status")
    list_filter = ("organization", "role", "profile_type", "status")
    search_fields = ("user__email", "organization__name")
    list_select_related = ("user", "organization")
    autocomplete_fields = ("user", "organization")


@admin.register(Permission)
class PermissionAdmin(admin.ModelAdmin):
    list_display = ("code", "description")
    search_fields = ("code", "description")


@admin.register(Role)
class RoleAdmin(admin.ModelAdmin):
    list_display = ("name", "organization", "description")
    list_filter = ("organization",)
    search_fields = ("name", "organization__name")
    list_select_related = ("organization",)
    autocomplete_fields = ("organization",)
    filter_horizontal = ("permissions",)


@admin.register(UserRole)
class UserRoleAdmin(ServiceBackedAdmin):
    """Assignments go through the role service: a role of the organization, to an active member of it."""

    service_class = UserRoleService
    list_display = ("user", "role", "organization")
    list_filter = ("organization", ("role", OrganizationLabeledFilter))
    search_fields = ("user__email", "role__name")
    list_select_related = ("user", "role", "organization")
    autocomplete_fields = ("user", "role", "organization")
    readonly_fields = ()

    def has_change_permission(self, request, obj=None):
        # As in the API, an assignment is made or taken away, never changed.
        return False


@admin.register(CodeSequence)
class CodeSequenceAdmin(admin.ModelAdmin):
    list_display = ("organization", "prefix", "last_value")
    list_filter = ("organization",)
    search_fields = ("organization__name", "prefix")
    readonly_fields = ("organization", "prefix", "last_value")


@admin.register(IdempotencyKey)
class IdempotencyKeyAdmin(admin.ModelAdmin):
    """Remembered answers of idempotent POSTs (kept 24 hours): read-only, for support."""

    list_display = ("key", "principal", "scope", "status_code", "created_at")
    list_filter = ("status_code",)
    search_fields = ("key", "principal")
    readonly_fields = ("principal", "scope", "key", "fingerprint", "status_code", "content_type", "etag", "created_at")
    exclude = ("body",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
