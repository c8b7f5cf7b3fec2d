"""Seed the permission catalogue from constants.PERMISSIONS."""

from django.db import migrations

from crmApp.constants import PERMISSIONS


def seed_permissions(apps, schema_editor):
    Permission = apps.get_model("crmApp", "Permission")
    for code, description in PERMISSIONS.items():
        Permission.objects.update_or_create(code=code, defaults={"description": description})


class Migration(migrations.Migration):
    dependencies = [("crmApp", "0001_initial")]

    operations = [migrations.RunPython(seed_permissions, migrations.RunPython.noop)]
