"""The admin site: Django's, with its sign-in form throttled per client address like API login."""

import re
from urllib.parse import urlsplit

from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.views.autocomplete import AutocompleteJsonView
from django.contrib.admin.widgets import AutocompleteSelect
from django.core.exceptions import ValidationError
from django.db import models
from django.http import HttpResponse

from crmApp.tenancy import parse_id
from crmApp.throttles import AuthRateThrottle


class AdminLoginThrottle(AuthRateThrottle):
    """THROTTLE_AUTH attempts per client address at the admin sign-in form."""

    def get_key(self, request, view):
        return f"admin-login:{self.get_ident(request)}"


# The change page of a record: /admin/<app>/<model>/<pk>/change/
CHANGE_PAGE = re.compile(r"/admin/(?P<app>\w+)/(?P<model>\w+)/(?P<pk>\d+)/change/$")


def owns_rows(model) -> bool:
    return any(field.name == "organization" for field in model._meta.fields)


class OrganizationAutocompleteView(AutocompleteJsonView):
    """Autocomplete options from the organization of the record being edited, each naming its organization.

    The organization comes from the form (organization-autocomplete.js sends `?organization=`) or, on a
    record's change page, from the record itself.
    """

    def organization_id(self):
        # "²" and "１" are digits to str.isdigit(), and a number past the largest id is none either (a 500).
        if (chosen := parse_id(self.request.GET.get("organization", ""))) is not None:
            return chosen
        page = CHANGE_PAGE.search(urlsplit(self.request.headers.get("Referer", "")).path)
        source = self.source_field.model
        if page and page["model"] == source._meta.model_name and owns_rows(source):
            return source._base_manager.filter(pk=page["pk"]).values_list("organization_id", flat=True).first()
        return None

    def get_queryset(self):
        queryset = super().get_queryset()
        organization_id = self.organization_id()
        if organization_id is not None and owns_rows(queryset.model):
            queryset = queryset.filter(organization_id=organization_id)
        return queryset.select_related("organization") if owns_rows(queryset.model) else queryset

    def serialize_result(self, obj, to_field_name):
        result = super().serialize_result(obj, to_field_name)
        if owns_rows(type(obj)):
            result["text"] = f"{result['text']} · {obj.organization}"
        return result


class LinkSelect(AutocompleteSelect):
    """An autocomplete select that shows a value sent back which is no id of its model as nothing chosen.

    Django's looks every sent value up as an id, and a form sent back with `abc` in a link was a 500
    instead of the form with its "Select a valid choice" error.
    """

    def format_value(self, value):
        target = self.field.target_field
        kept = []
        for item in super().format_value(value):
            try:
                target.to_python(item)
            except ValidationError:
                continue
            kept.append(item)
        return kept


class AutocompleteLinks:
    """A ModelAdmin (or inline) mixin: its autocomplete fields use LinkSelect."""

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if "widget" not in kwargs and db_field.name in self.get_autocomplete_fields(request):
            kwargs["widget"] = LinkSelect(db_field, self.admin_site, using=kwargs.get("using"))
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


# Loaded after Django's jQuery, whose `django.jQuery` it hooks into.
ORGANIZATION_AUTOCOMPLETE_JS = (
    "admin/js/vendor/jquery/jquery.min.js",
    "admin/js/jquery.init.js",
    "crmApp/admin/organization-autocomplete.js",
)


class OrganizationLabeledFilter(admin.RelatedFieldListFilter):
    """A filter on a per-organization relation (stage, pipeline, role) whose choices name their organization."""

    def field_choices(self, field, request, model_admin):
        related = field.related_model._base_manager.select_related("organization").order_by("organization__name", "pk")
        return [(obj.pk, f"{obj} · {obj.organization}") for obj in related]


class SelectedIds:
    """A ModelAdmin mixin: an action on rows sent as no ids (`abc`, a number past any id) selects nothing.

    Django filters the rows by the sent values as they are, and such a value was a 500.
    """

    def response_action(self, request, queryset):
        selected = request.POST.getlist(ACTION_CHECKBOX_NAME)
        if isinstance(self.opts.pk, models.IntegerField) and any(parse_id(value) is None for value in selected):
            self.message_user(
                request,
                "Items must be selected in order to perform actions on them. No items have been changed.",
                messages.WARNING,
            )
            return None  # the changelist again, as when nothing is ticked
        return super().response_action(request, queryset)


class ViewOnlyAdmin(admin.ModelAdmin):
    """Rows staff may look at but never add, change or delete: bookkeeping the CRM alone writes."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class CRMAdminSite(admin.AdminSite):
    site_header = "CRM administration"
    site_title = "CRM admin"

    def register(self, model_or_iterable, admin_class=None, **options):
        """Every model's admin, Django's own (groups, tokens) too, selects rows for its actions by id."""
        admin_class = admin_class or admin.ModelAdmin
        selecting = type(admin_class.__name__, (SelectedIds, admin_class), {"__module__": admin_class.__module__})
        super().register(model_or_iterable, selecting, **options)

    def autocomplete_view(self, request):
        return OrganizationAutocompleteView.as_view(admin_site=self)(request)

    def login(self, request, extra_context=None):
        if request.method == "POST":
            throttle = AdminLoginThrottle()
            if not throttle.allow_request(request, None):
                wait = max(1, round(throttle.wait()))
                return HttpResponse(
                    f"Too many sign-in attempts from your address; try again in {wait} seconds.",
                    status=429,
                    content_type="text/plain",
                    headers={"Retry-After": str(wait)},
                )
        return super().login(request, extra_context)
