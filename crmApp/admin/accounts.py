"""Admin of accounts, organizations, RBAC and bookkeeping tables."""

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.core.exceptions import ValidationError
from django.db import transaction
from django.forms.models import BaseInlineFormSet
from rest_framework.exceptions import APIException

from crmApp.admin.records import RefusedDeleteMessages, ServiceBackedAdmin, trial_errors
from crmApp.admin_site import AutocompleteLinks, OrganizationLabeledFilter, ViewOnlyAdmin
from crmApp.constants import ChangeSource, MembershipRole, MembershipStatus
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
from crmApp.services.auth_service import revoke_all_refresh_tokens
from crmApp.services.integration_service import (
    CREATOR_DEACTIVATED,
    disable_webhooks_beyond_reach,
    disable_webhooks_of_accounts,
    revoke_api_keys_of,
)
from crmApp.services.organization_service import MemberService, check_owners_remain, provision_organization
from crmApp.services.purging import unlink_accounts
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
class UserAdmin(RefusedDeleteMessages, AutocompleteLinks, BaseUserAdmin):
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

    @transaction.atomic
    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        # A deactivated user's refresh tokens and API keys are refused while it lasts; revoked, they stay
        # dead after a reactivation too, so a session or key taken over before it doesn't come back with
        # the account. Its webhooks stop too.
        if change and "is_active" in form.changed_data and not obj.is_active:
            revoke_all_refresh_tokens(obj)
            revoke_api_keys_of([obj.pk])
            disable_webhooks_of_accounts([obj.pk], reason=CREATOR_DEACTIVATED)

    @transaction.atomic
    def delete_model(self, request, obj):
        # Its memberships go with the account: never an organization's last owner (a 400 in the API).
        check_owners_remain([obj.pk])
        disable_webhooks_of_accounts([obj.pk])
        unlink_accounts([obj.pk], actor=request.user, source=ChangeSource.ADMIN)
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        # One by one, as the records' admins do: a refused account stays, with its reason, and the others
        # go; of the only owners of an organization deleted together, the last one stays.
        for user in queryset:
            try:
                self.delete_model(request, user)
            except APIException as error:
                self.message_user(request, f"{user}: {error.detail}", messages.ERROR)


def member_service(membership: Membership) -> MemberService:
    # No actor: staff may touch any role, under the service's last-owner rule.
    return MemberService(organization=membership.organization, actor=None)


@transaction.atomic
def write_membership(membership: Membership, changed: list[str], *, change: bool) -> Membership:
    """Save a membership as the API's member changes would: the last owner stays, a leaver's roles go."""
    if change:
        changed = [field.name for field in Membership._meta.concrete_fields if field.name in changed]
        original = Membership.objects.get(pk=membership.pk)
        # Removed, or no longer active: either way out of the organization, its roles with it.
        leaves = membership.status == MembershipStatus.REMOVED or original.status == MembershipStatus.ACTIVE
        if "status" in changed and leaves:
            member_service(membership).remove_member(original)
        elif "role" in changed or "profile_type" in changed:
            member_service(membership).change_member(
                original, role=membership.role, profile_type=membership.profile_type
            )
        membership.save(update_fields=[*changed, "updated_at"])
    else:
        membership.save()
    return membership


@transaction.atomic
def delete_membership(membership: Membership) -> None:
    """Delete a membership after removing the member as the API does (their roles here go); never the last owner."""
    if membership.status != MembershipStatus.REMOVED:
        member_service(membership).remove_member(membership)
    membership.delete()


def detached(membership: Membership) -> Membership:
    """A copy of the membership as its form leaves it: a trial save, rolled back, must not touch the form's own."""
    copy = Membership(
        **{field.attname: getattr(membership, field.attname) for field in Membership._meta.concrete_fields}
    )
    copy._state.adding = membership.pk is None
    return copy


def membership_plan(organization: Organization, formset) -> list[tuple[str, Membership, list[str]]]:
    """(add | change | delete, the membership, its changed fields) of every row that changes, promotions first.

    In that order a swap of owners in one save never leaves the organization without one.
    """
    plan = []
    for form in formset.forms:
        membership = detached(form.instance)
        if form in formset.deleted_forms:
            if membership.pk is not None:
                plan.append(("delete", membership, []))
        elif form.has_changed():
            membership.organization = organization
            plan.append(("change" if membership.pk else "add", membership, form.changed_data))

    def rank(step) -> int:
        what, membership, changed = step
        if what == "delete" or ("status" in changed and membership.status != MembershipStatus.ACTIVE):
            return 2
        return 0 if "role" in changed and membership.role == MembershipRole.OWNER else 1

    return sorted(plan, key=rank)


def write_memberships(organization: Organization, formset) -> None:
    """Write the inline's memberships under the member rules, setting what the admin's change message reads."""
    formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
    for what, membership, changed in membership_plan(organization, formset):
        if what == "delete":
            delete_membership(membership)
            formset.deleted_objects.append(membership)
        elif what == "add":
            formset.new_objects.append(write_membership(membership, changed, change=False))
        else:
            formset.changed_objects.append((write_membership(membership, changed, change=True), changed))


class MembershipRowForm(forms.ModelForm):
    """A membership row: its user is fixed once it exists (a new member is a new row, under the member rules)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk is not None and "user" in self.fields:
            self.fields["user"].disabled = True


class MembershipFormSet(BaseInlineFormSet):
    """The memberships of an organization, tried together through the member rules before anything is saved."""

    def clean(self):
        super().clean()
        if self.instance.pk is None or any(self.errors):
            return
        if errors := trial_errors(lambda: write_memberships(self.instance, self)):
            raise ValidationError(errors)


class MembershipInline(AutocompleteLinks, admin.TabularInline):
    model = Membership
    form = MembershipRowForm
    formset = MembershipFormSet
    extra = 0
    autocomplete_fields = ("user",)


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "is_active", "created_at")
    list_filter = ("is_active",)
    search_fields = ("name", "slug")
    readonly_fields = ("created_at", "updated_at")
    inlines = (MembershipInline,)

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if not change:  # as one created through the API: its default roles and pipeline, or no deal can be added
            provision_organization(obj)

    def save_formset(self, request, form, formset, change):
        """Memberships edited inline follow the member rules (see write_memberships)."""
        write_memberships(form.instance, formset)


@admin.register(Membership)
class MembershipAdmin(ServiceBackedAdmin):
    """Memberships change and go under the member service's rules, as in the API."""

    list_display = ("user", "organization", "role", "profile_type", "status")
    list_filter = ("organization", "role", "profile_type", "status")
    search_fields = ("user__email", "organization__name")
    list_select_related = ("user", "organization")
    autocomplete_fields = ("user", "organization")
    readonly_fields = ()

    def get_readonly_fields(self, request, obj=None):
        # Another user is another member: removing one and inviting the other go by the member rules.
        return (*super().get_readonly_fields(request, obj), *(("user",) if obj is not None else ()))

    def write(self, request, obj, changed: list[str], *, change: bool) -> Membership:
        return write_membership(obj, changed, change=change)

    def delete_model(self, request, obj):
        delete_membership(obj)


@admin.register(Permission)
class PermissionAdmin(ViewOnlyAdmin):
    """The fixed catalogue of codes (a migration seeds it from constants.PERMISSIONS): read-only.

    A deleted code could no longer be granted and left every role holding it; an added one is checked nowhere.
    """

    list_display = ("code", "description")
    search_fields = ("code", "description")


@admin.register(Role)
class RoleAdmin(AutocompleteLinks, admin.ModelAdmin):
    list_display = ("name", "organization", "description")
    list_filter = ("organization",)
    search_fields = ("name", "organization__name")
    list_select_related = ("organization",)
    autocomplete_fields = ("organization",)
    filter_horizontal = ("permissions",)

    def get_readonly_fields(self, request, obj=None):
        # A role never moves to another organization: its assignments would point across organizations.
        return (*super().get_readonly_fields(request, obj), *(("organization",) if obj is not None else ()))

    # A role's codes and scope are its holders' reach: as in the API, their webhooks beyond it stop.
    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)  # the codes are saved after the role
        role = form.instance
        holders = list(role.user_roles.values_list("user_id", flat=True))
        disable_webhooks_beyond_reach(organization=role.organization, user_ids=holders)

    @transaction.atomic
    def delete_model(self, request, obj):
        holders = list(obj.user_roles.values_list("user_id", flat=True))
        super().delete_model(request, obj)
        disable_webhooks_beyond_reach(organization=obj.organization, user_ids=holders)

    @transaction.atomic
    def delete_queryset(self, request, queryset):
        for role in queryset.select_related("organization"):
            self.delete_model(request, role)


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
class CodeSequenceAdmin(ViewOnlyAdmin):
    """The last code number handed out per prefix: read-only, for support.

    Deleted or lowered, a counter hands out codes already in use and every create of that kind is a
    409; added, it has no organization to save.
    """

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
