"""Admin of the CRM records: every save and delete goes through the resource's service, as in the API.

So a lead is scored, a deal follows its stage, a stage's new probability re-prices its deals, a new
default pipeline unsets the old one, versions move on and the history says `admin`. The form first
runs the same service call in a savepoint that is rolled back, so any rule the service enforces
comes back as a form error instead of a failed save.
"""

from collections.abc import Callable
from decimal import Decimal

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.forms.models import BaseInlineFormSet
from django.http import HttpResponseRedirect
from django.urls import reverse
from rest_framework.exceptions import APIException

from crmApp.admin_site import ORGANIZATION_AUTOCOMPLETE_JS, AutocompleteLinks, OrganizationLabeledFilter, ViewOnlyAdmin
from crmApp.constants import ChangeSource
from crmApp.models import Activity, Customer, Deal, Employee, HistoryEntry, Lead, Pipeline, PipelineStage, Vendor
from crmApp.models.base import written_fields
from crmApp.services.activity_service import ActivityService
from crmApp.services.customer_service import CustomerService
from crmApp.services.deal_service import DealService
from crmApp.services.employee_service import EmployeeService
from crmApp.services.lead_service import LeadService
from crmApp.services.pipeline_service import PipelineService, PipelineStageService
from crmApp.services.vendor_service import VendorService
from crmApp.tenancy import Tenant

RECORD_READONLY = ("code", "version", "created_at", "updated_at", "created_by")


class DryRun(Exception):
    """Rolls back the savepoint of a form's trial save."""


def service_error_messages(error: Exception) -> list[str]:
    if isinstance(error, DjangoValidationError):
        return error.messages
    detail = error.detail
    if isinstance(detail, dict):
        return [f"{field}: {message}" for field, messages_ in detail.items() for message in messages_]
    return [str(detail)]


def trial_errors(write: Callable[[], object]) -> list[str]:
    """The errors `write()` meets, run in a savepoint that is always rolled back; none: it would succeed."""
    try:
        with transaction.atomic():
            write()
            raise DryRun
    except DryRun:
        return []
    except (DjangoValidationError, APIException) as error:
        return service_error_messages(error)


def bound_form(form: type[forms.ModelForm], admin, request) -> type[forms.ModelForm]:
    """`form` knowing the admin (or inline) that writes it and the request, for its trial save."""
    return type(form.__name__, (form,), {"admin": admin, "request": request})


class ServiceForm(forms.ModelForm):
    """Validates a record by trying the service's save in a savepoint that is always rolled back."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # A record's link to a record in the trash is offered as it stands: left out of the choices, it
        # rendered empty and a save of any other field cleared it (or was refused as an invalid choice).
        if self.instance.pk is None:
            return  # a new record links only to live ones
        for name, field in self.fields.items():
            if not isinstance(field, forms.ModelChoiceField) or isinstance(field, forms.ModelMultipleChoiceField):
                continue
            model, current = field.queryset.model, self.initial.get(name)
            if current is not None and hasattr(model, "with_trashed"):
                field.queryset = field.queryset | model.with_trashed.filter(pk=current)

    def clean(self):
        cleaned = super().clean()
        for name, value in cleaned.items():
            if isinstance(value, Decimal) and value.is_zero():
                cleaned[name] = abs(value)  # a typed "-0" is 0, as the API reads it
        return cleaned

    def _post_clean(self):
        super()._post_clean()  # the instance now holds the form's values, and the model's own checks ran
        if self.errors or self.instance.organization_id is None:
            return
        change = self.instance.pk is not None
        if errors := trial_errors(
            lambda: self.admin.write(self.request, self.instance, self.changed_data, change=change)
        ):
            self.add_error(None, errors)


class RefusedDeleteMessages:
    """A delete a rule refuses (in `delete_model`) is an error message on the record's page, not a 500."""

    def delete_view(self, request, object_id, extra_context=None):
        try:
            return super().delete_view(request, object_id, extra_context)
        except (DjangoValidationError, APIException) as error:  # Django's transaction, and its log entry, rolled back
            self.message_user(request, " ".join(service_error_messages(error)), messages.ERROR)
            opts = self.opts
            return HttpResponseRedirect(reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[object_id]))


class ServiceBackedAdmin(RefusedDeleteMessages, AutocompleteLinks, admin.ModelAdmin):
    """Common shape of the CRM record admins: organization filter, autocomplete, read-only bookkeeping."""

    class Media:
        js = ORGANIZATION_AUTOCOMPLETE_JS

    service_class: type
    form = ServiceForm
    list_select_related = ("organization",)
    autocomplete_fields = ("organization",)
    readonly_fields = RECORD_READONLY
    list_per_page = 50
    show_full_result_count = False  # an exact COUNT(*) per page is too slow on large tables

    def get_form(self, request, obj=None, **kwargs):
        return bound_form(super().get_form(request, obj, **kwargs), self, request)

    def get_readonly_fields(self, request, obj=None):
        # A record never moves to another organization.
        return (*self.readonly_fields, "organization") if obj is not None else self.readonly_fields

    def service(self, request, organization):
        return self.service_class(Tenant.system(organization, user=request.user, source=ChangeSource.ADMIN))

    def write(self, request, obj, changed: list[str], *, change: bool):
        """Create or update `obj` (its form values already applied) through the service; returns the record."""
        service = self.service(request, obj.organization)
        if change:
            original = type(obj)._base_manager.get(pk=obj.pk)
            return service.update(original, **{name: getattr(obj, name) for name in changed if name != "organization"})
        fields = {
            field.name: getattr(obj, field.name)
            for field in obj._meta.concrete_fields
            if field.editable and not field.primary_key and field.name not in ("organization", "created_by")
        }
        return service.create(**fields)

    def save_model(self, request, obj, form, change):
        saved = self.write(request, obj, form.changed_data, change=change)
        for field in written_fields(type(obj)):  # the admin goes on with `obj` (its message, its redirect)
            setattr(obj, field.attname, getattr(saved, field.attname))

    def delete_model(self, request, obj):
        self.service(request, obj.organization).delete(obj)

    def delete_queryset(self, request, queryset):
        for obj in queryset.select_related("organization"):
            try:
                self.delete_model(request, obj)
            except APIException as error:
                self.message_user(request, f"{obj}: {error.detail}", messages.ERROR)


class ActivityInline(admin.TabularInline):
    """The record's activities, read here; they are added and changed on their own page (their service's rules)."""

    model = Activity
    fk_name = None
    extra = 0
    can_delete = False
    show_change_link = True
    fields = ("code", "type", "subject", "due_at", "assigned_to", "is_done")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


def activity_inline(subject: str) -> type[ActivityInline]:
    return type(f"{subject.title()}ActivityInline", (ActivityInline,), {"fk_name": subject})


@admin.register(Employee)
class EmployeeAdmin(ServiceBackedAdmin):
    service_class = EmployeeService
    list_display = ("code", "first_name", "last_name", "email", "department", "status", "organization")
    list_filter = ("organization", "status", "department")
    search_fields = ("code", "first_name", "last_name", "email")
    autocomplete_fields = ("organization", "user")


@admin.register(Vendor)
class VendorAdmin(ServiceBackedAdmin):
    service_class = VendorService
    list_display = ("code", "name", "vendor_type", "email", "status", "organization")
    list_filter = ("organization", "status", "vendor_type")
    search_fields = ("code", "name", "email", "contact_person")
    autocomplete_fields = ("organization", "user")


@admin.register(Customer)
class CustomerAdmin(ServiceBackedAdmin):
    service_class = CustomerService
    list_display = ("code", "display_name", "customer_type", "email", "status", "assigned_to", "organization")
    list_filter = ("organization", "customer_type", "status")
    search_fields = ("code", "first_name", "last_name", "company_name", "email")
    list_select_related = ("organization", "assigned_to")
    autocomplete_fields = ("organization", "assigned_to", "user", "converted_from_lead")
    readonly_fields = (*RECORD_READONLY, "converted_from_lead")
    inlines = (activity_inline("customer"),)


@admin.register(Lead)
class LeadAdmin(ServiceBackedAdmin):
    service_class = LeadService
    list_display = ("code", "first_name", "last_name", "company", "source", "status", "score", "organization")
    list_filter = ("organization", "status", "source")
    search_fields = ("code", "first_name", "last_name", "email", "company")
    list_select_related = ("organization", "assigned_to")
    autocomplete_fields = ("organization", "assigned_to")
    # The workflow (status, qualified/converted dates) is owned by the API's rules.
    readonly_fields = (*RECORD_READONLY, "status", "score", "qualified_at", "converted_at")
    inlines = (activity_inline("lead"),)


def write_stages(request, pipeline: Pipeline, formset) -> None:
    """Create, change and delete the stages of the pipeline's inline through the stage service."""
    stages = PipelineStageService(Tenant.system(pipeline.organization, user=request.user, source=ChangeSource.ADMIN))
    editable = PipelineStageInline.fields
    # What the admin's change message reads, as formset.save() would have set it.
    formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
    for stage_form in formset.forms:
        stage = stage_form.instance
        if stage_form in formset.deleted_forms:
            if stage.pk is not None:
                stages.delete(stage)
                formset.deleted_objects.append(stage)
        elif stage.pk is None:
            if stage_form.has_changed():
                values = {name: stage_form.cleaned_data[name] for name in editable}
                formset.new_objects.append(stages.create(pipeline=pipeline, **values))
        elif changed := [name for name in stage_form.changed_data if name in editable]:
            values = {name: stage_form.cleaned_data[name] for name in changed}
            formset.changed_objects.append((stages.update(stage, **values), changed))


class PipelineStageFormSet(BaseInlineFormSet):
    """The stages of a pipeline, tried through the stage service before anything is saved.

    A new pipeline's stages are only created, and the model's constraints already check those.
    """

    def clean(self):
        super().clean()
        if self.instance.pk is None or any(self.errors):
            return
        if errors := trial_errors(lambda: write_stages(self.request, self.instance, self)):
            raise DjangoValidationError(errors)


class PipelineStageInline(admin.TabularInline):
    model = PipelineStage
    formset = PipelineStageFormSet
    extra = 0
    fields = ("name", "order", "probability", "is_won", "is_lost")

    def get_formset(self, request, obj=None, **kwargs):
        formset = super().get_formset(request, obj, **kwargs)
        return type(formset.__name__, (formset,), {"request": request})


class PipelineForm(ServiceForm):
    """A pipeline's form: a new default is the service's switch, not a constraint violation."""

    def _get_validation_exclusions(self):
        # The service moves the default off the old pipeline, so the one-default constraint is its
        # to keep; checked here, it would refuse every new default (the organization already has one).
        return {*super()._get_validation_exclusions(), "is_default"}


@admin.register(Pipeline)
class PipelineAdmin(ServiceBackedAdmin):
    service_class = PipelineService
    form = PipelineForm
    list_display = ("name", "is_default", "organization")
    list_filter = ("organization", "is_default")
    search_fields = ("name",)
    readonly_fields = ("version", "created_at", "updated_at", "created_by")
    inlines = (PipelineStageInline,)

    def save_formset(self, request, form, formset, change):
        """Stages edited inline go through the stage service too (probabilities re-price deals)."""
        write_stages(request, form.instance, formset)


@admin.register(PipelineStage)
class PipelineStageAdmin(ServiceBackedAdmin):
    service_class = PipelineStageService
    list_display = ("name", "pipeline", "order", "probability", "is_won", "is_lost", "organization")
    list_filter = ("organization", ("pipeline", OrganizationLabeledFilter), "is_won", "is_lost")
    search_fields = ("name", "pipeline__name")
    list_select_related = ("organization", "pipeline")
    autocomplete_fields = ("organization", "pipeline")
    readonly_fields = ("version", "created_at", "updated_at", "created_by")


@admin.register(Deal)
class DealAdmin(ServiceBackedAdmin):
    service_class = DealService
    list_display = ("code", "title", "customer", "stage", "value", "expected_revenue", "status", "organization")
    list_filter = (
        "organization",
        "status",
        ("pipeline", OrganizationLabeledFilter),
        ("stage", OrganizationLabeledFilter),
    )
    search_fields = ("code", "title", "customer__company_name", "customer__last_name")
    list_select_related = ("organization", "customer", "stage", "stage__pipeline")
    autocomplete_fields = ("organization", "customer", "pipeline", "stage", "assigned_to", "lead")
    readonly_fields = (*RECORD_READONLY, "status", "probability", "expected_revenue", "closed_at")
    inlines = (activity_inline("deal"),)


@admin.register(Activity)
class ActivityAdmin(ServiceBackedAdmin):
    service_class = ActivityService
    list_display = ("code", "type", "subject", "due_at", "assigned_to", "is_done", "organization")
    list_filter = ("organization", "type", "is_done")
    search_fields = ("code", "subject")
    list_select_related = ("organization", "assigned_to")
    autocomplete_fields = ("organization", "assigned_to", "customer", "lead", "deal")
    readonly_fields = (*RECORD_READONLY, "is_done", "done_at", "done_by")


@admin.register(HistoryEntry)
class HistoryEntryAdmin(ViewOnlyAdmin):
    """The append-only history: read, never written here."""

    list_display = ("at", "record_type", "record_code", "kind", "event", "actor", "source", "organization")
    list_filter = ("organization", "record_type", "kind", "source")
    search_fields = ("record_code", "event")
    list_select_related = ("organization", "actor")
    show_full_result_count = False
