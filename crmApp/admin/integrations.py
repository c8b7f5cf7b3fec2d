"""Admin of webhooks, their events and delivery log, and API keys: read, revoke and switch off.

Secrets and key hashes are never shown. Revoking and disabling go through the services, as in the API;
creating either stays in the API, which shows the secret or key once to whoever made it.
"""

from django.contrib import admin, messages

from crmApp.constants import ChangeSource
from crmApp.models import ApiKey, OutboxEvent, Webhook, WebhookDelivery
from crmApp.services.integration_service import ApiKeyService, WebhookService, unbacked_reason
from crmApp.tenancy import Tenant


class ReadOnlyAdmin(admin.ModelAdmin):
    """Listed, searched and filtered by organization; changed only through the actions."""

    list_filter: tuple = ("organization",)
    list_select_related = ("organization",)
    list_per_page = 50
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


def staff_tenant(request, record) -> Tenant:
    return Tenant.system(record.organization, user=request.user, source=ChangeSource.ADMIN)


@admin.register(Webhook)
class WebhookAdmin(ReadOnlyAdmin):
    list_display = ("url", "organization", "is_active", "failure_count", "disabled_reason", "created_at")
    list_filter = ("organization", "is_active")
    search_fields = ("url", "description")
    fields = ("organization", "url", "events", "is_active", "description", "failure_count", "failing_since")
    fields += ("disabled_reason", "created_by", "created_at")
    actions = ("disable", "enable")

    @admin.action(description="Disable the selected webhooks")
    def disable(self, request, queryset):
        for webhook in queryset.select_related("organization"):
            WebhookService(staff_tenant(request, webhook)).update(webhook, is_active=False)
        messages.success(request, "Disabled; their queued events wait until they are enabled again.")

    @admin.action(description="Enable the selected webhooks (and send what is queued)")
    def enable(self, request, queryset):
        left = 0
        for webhook in queryset.select_related("organization"):
            # It sends for its member: staff may not switch on one that nobody may send any more.
            if unbacked_reason(webhook) is not None:
                left += 1
                continue
            WebhookService(staff_tenant(request, webhook)).update(webhook, is_active=True)
        if left:
            messages.warning(
                request,
                f"{left} left disabled: the member they send for has left, was deactivated or no longer sees "
                "every record their events carry. A member who does can enable them through the API.",
            )
        else:
            messages.success(request, "Enabled.")


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    list_display = ("delivery_id", "attempt", "status", "response_status", "webhook", "created_at", "organization")
    list_filter = ("organization", "status")
    search_fields = ("delivery_id", "error", "webhook__url")
    list_select_related = ("organization", "webhook")
    exclude = ("lease",)


@admin.register(OutboxEvent)
class OutboxEventAdmin(ReadOnlyAdmin):
    list_display = ("id", "type", "record_key", "created_at", "organization")
    search_fields = ("type", "record_key", "uuid")


@admin.register(ApiKey)
class ApiKeyAdmin(ReadOnlyAdmin):
    list_display = ("name", "prefix", "organization", "created_by", "expires_at", "last_used_at", "revoked_at")
    list_select_related = ("organization", "created_by")
    search_fields = ("name", "prefix")
    exclude = ("key_hash",)
    actions = ("revoke",)

    @admin.action(description="Revoke the selected API keys")
    def revoke(self, request, queryset):
        for key in queryset.select_related("organization"):
            ApiKeyService(staff_tenant(request, key)).revoke(key)
        messages.success(request, "Revoked: requests with these keys are refused from now on.")
