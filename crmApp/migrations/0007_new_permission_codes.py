"""New codes in the catalogue (activities, the audit log, webhooks, API keys), granted to the default roles.

Every organization's default roles gain what their definition now holds: Sales Manager every activity
code, Sales Rep view/create/update on activities and `pipelines:view`, Viewer `activities:view`.
Roles an organization has edited keep their other codes; nothing is taken away.
"""

from django.db import migrations

NEW_CODES = {
    "activities:view": "View activities",
    "activities:create": "Create activities",
    "activities:update": "Update activities",
    "activities:delete": "Delete activities",
    "audit:view": "Read the audit log of every change",
    "webhooks:manage": "Create and manage webhooks",
    "api_keys:manage": "Create and revoke API keys",
}
GRANTS = {
    "Sales Manager": ["activities:view", "activities:create", "activities:update", "activities:delete"],
    "Sales Rep": ["activities:view", "activities:create", "activities:update", "pipelines:view"],
    "Viewer": ["activities:view"],
}


def add_codes(apps, schema_editor):
    Permission = apps.get_model("crmApp", "Permission")
    Role = apps.get_model("crmApp", "Role")
    for code, description in NEW_CODES.items():
        Permission.objects.update_or_create(code=code, defaults={"description": description})
    Permission.objects.filter(code="members:manage").update(description="Invite, change and remove members")
    for name, codes in GRANTS.items():
        permissions = list(Permission.objects.filter(code__in=codes))
        for role in Role.objects.filter(name=name):
            role.permissions.add(*permissions)


def remove_codes(apps, schema_editor):
    apps.get_model("crmApp", "Permission").objects.filter(code__in=NEW_CODES).delete()


class Migration(migrations.Migration):
    dependencies = [("crmApp", "0006_activities_history")]

    operations = [migrations.RunPython(add_codes, remove_codes)]
