"""Admin of imports (their progress and row errors) and teams."""

from django.contrib import admin

from crmApp.admin.integrations import ReadOnlyAdmin
from crmApp.models import ImportJob, ImportRowError, Team


@admin.register(ImportJob)
class ImportJobAdmin(ReadOnlyAdmin):
    list_display = ("id", "resource", "mode", "status", "total_rows", "processed_rows", "error_count", "created_at")
    list_filter = ("organization", "resource", "status")
    search_fields = ("resource", "failure")
    exclude = ("file",)


@admin.register(ImportRowError)
class ImportRowErrorAdmin(ReadOnlyAdmin):
    list_display = ("job", "row", "field", "message", "organization")
    search_fields = ("message", "field")


@admin.register(Team)
class TeamAdmin(ReadOnlyAdmin):
    list_display = ("name", "organization", "created_at")
    search_fields = ("name",)
