"""Django admin for back-office staff: every model, searchable and filterable by organization."""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from crmApp.models import (
    CodeSequence,
    Customer,
    Deal,
    Employee,
    IdempotencyKey,
    Lead,
    Membership,
    Organization,
    Permission,
    Pipeline,
    PipelineStage,
    Role,
    User,
    UserRole,
    Vendor,
)
from crmApp.services.deal_service import apply_stage
from crmApp.services.lead_service import compute_score

RECORD_READONLY = ("code", "created_at", "updated_at", "created_by")


class OrganizationOwnedAdmin(admin.ModelAdmin):
    """Common shape of the CRM record admins: organization filter, autocomplete, read-only bookkeeping."""

    list_select_related = ("organization",)
    autocomplete_fields = ("organization",)
    readonly_fields = RECORD_READONLY
    list_per_page = 50
    show_full_result_count = False  # an exact COUNT(*) per page is too slow on large tables

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)


@admin.register(User)
class UserAdmin(BaseUserAdmin):
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
class UserRoleAdmin(admin.ModelAdmin):
    list_display = ("user", "role", "organization")
    list_filter = ("organization",)
    search_fields = ("user__email", "role__name")
    list_select_related = ("user", "role", "organization")
    autocomplete_fields = ("user", "role", "organization")


@admin.register(Employee)
class EmployeeAdmin(OrganizationOwnedAdmin):
    list_display = ("code", "first_name", "last_name", "email", "department", "status", "organization")
    list_filter = ("organization", "status", "department")
    search_fields = ("code", "first_name", "last_name", "email")
    autocomplete_fields = ("organization", "user")


@admin.register(Vendor)
class VendorAdmin(OrganizationOwnedAdmin):
    list_display = ("code", "name", "vendor_type", "email", "status", "organization")
    list_filter = ("organization", "status", "vendor_type")
    search_fields = ("code", "name", "email", "contact_person")
    autocomplete_fields = ("organization", "user")


@admin.register(Customer)
class CustomerAdmin(OrganizationOwnedAdmin):
    list_display = ("code", "display_name", "customer_type", "email", "status", "assigned_to", "organization")
    list_filter = ("organization", "customer_type", "status")
    search_fields = ("code", "first_name", "last_name", "company_name", "email")
    list_select_related = ("organization", "assigned_to")
    autocomplete_fields = ("organization", "assigned_to", "user", "converted_from_lead")
    readonly_fields = (*RECORD_READONLY, "converted_from_lead")


@admin.register(Lead)
class LeadAdmin(OrganizationOwnedAdmin):
    list_display = ("code", "first_name", "last_name", "company", "source", "status", "score", "organization")
    list_filter = ("organization", "status", "source")
    search_fields = ("code", "first_name", "last_name", "email", "company")
    list_select_related = ("organization", "assigned_to")
    autocomplete_fields = ("organization", "assigned_to")
    # The workflow (status, qualified/converted dates) is owned by the API's rules.
    readonly_fields = (*RECORD_READONLY, "status", "score", "qualified_at", "converted_at")

    def save_model(self, request, obj, form, change):
        obj.score = compute_score(obj)
        super().save_model(request, obj, form, change)


class PipelineStageInline(admin.TabularInline):
    model = PipelineStage
    extra = 0
    fields = ("name", "order", "probability", "is_won", "is_lost")


@admin.register(Pipeline)
class PipelineAdmin(OrganizationOwnedAdmin):
    list_display = ("name", "is_default", "organization")
    list_filter = ("organization", "is_default")
    search_fields = ("name",)
    readonly_fields = ("created_at", "updated_at", "created_by")
    inlines = (PipelineStageInline,)


@admin.register(PipelineStage)
class PipelineStageAdmin(OrganizationOwnedAdmin):
    list_display = ("name", "pipeline", "order", "probability", "is_won", "is_lost", "organization")
    list_filter = ("organization", "is_won", "is_lost")
    search_fields = ("name", "pipeline__name")
    list_select_related = ("organization", "pipeline")
    autocomplete_fields = ("organization", "pipeline")
    readonly_fields = ("created_at", "updated_at", "created_by")


@admin.register(Deal)
class DealAdmin(OrganizationOwnedAdmin):
    list_display = ("code", "title", "customer", "stage", "value", "expected_revenue", "status", "organization")
    list_filter = ("organization", "status", "stage")
    search_fields = ("code", "title", "customer__company_name", "customer__last_name")
    list_select_related = ("organization", "customer", "stage", "stage__pipeline")
    autocomplete_fields = ("organization", "customer", "pipeline", "stage", "assigned_to", "lead")
    readonly_fields = (*RECORD_READONLY, "status", "probability", "expected_revenue", "closed_at")

    def save_model(self, request, obj, form, change):
        if not change or "stage" in form.changed_data:
            apply_stage(obj, obj.stage)  # status, probability and closing follow the stage, as in the API
        super().save_model(request, obj, form, change)


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
