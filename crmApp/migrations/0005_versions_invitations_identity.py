"""Record versions, membership status (invitations), identity skeletons, case-blind role names, idempotency keys.

The data steps never merge or delete anything:
- memberships that were deactivated become `removed`;
- roles whose names differ only by case get a numbered suffix, so the case-blind constraint can exist;
- users whose addresses (or usernames) are look-alikes of an older account's are reported on the console
  and keep a marked skeleton (`<skeleton>#collision-<id>`): the older account keeps the address, and
  staff decide what to do with the newer one (nothing resolves an address to it until then).
"""

import django.db.models.deletion
import django.db.models.functions.text
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models

from crmApp.identity import skeleton

COLLISION_MARK = "#collision-"
VERSIONED = ("customer", "deal", "employee", "lead", "pipeline", "pipelinestage", "vendor")


def membership_status_from_flag(apps, schema_editor):
    Membership = apps.get_model("crmApp", "Membership")
    Membership.objects.filter(is_active=False).update(status="removed")


def membership_flag_from_status(apps, schema_editor):
    Membership = apps.get_model("crmApp", "Membership")
    Membership.objects.exclude(status="active").update(is_active=False)


def number_case_twin_roles(apps, schema_editor):
    Role = apps.get_model("crmApp", "Role")
    seen = set()
    for role in Role.objects.order_by("organization_id", "id"):
        key = (role.organization_id, role.name.lower())
        if key not in seen:
            seen.add(key)
            continue
        number = 2
        while (role.organization_id, f"{role.name} ({number})".lower()) in seen:
            number += 1
        role.name = f"{role.name} ({number})"
        seen.add((role.organization_id, role.name.lower()))
        role.save(update_fields=["name"])
        print(f"\n  Role {role.id} renamed to {role.name!r}: another role of its organization had the same name.")


def compute_skeletons(apps, schema_editor):
    User = apps.get_model("crmApp", "User")
    owners = {"email_skeleton": {}, "username_skeleton": {}}
    for user in User.objects.order_by("date_joined", "id"):
        for field, value in (("email_skeleton", user.email), ("username_skeleton", user.username)):
            if not value:
                continue
            key = skeleton(value)
            first = owners[field].setdefault(key, user)
            if first is not user:
                print(
                    f"\n  Look-alike {field.split('_')[0]}: user {user.id} ({getattr(user, field.split('_')[0])!r}) "
                    f"collides with user {first.id} ({getattr(first, field.split('_')[0])!r}); user {user.id} "
                    "keeps a marked identity and cannot be found by it until staff change it."
                )
                key = f"{key}{COLLISION_MARK}{user.id}"
            setattr(user, field, key)
        user.save(update_fields=["email_skeleton", "username_skeleton"])


class Migration(migrations.Migration):
    dependencies = [
        ("crmApp", "0004_indexes_for_list_orderings"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        *(
            migrations.AddField(
                model_name=model, name="version", field=models.PositiveIntegerField(default=1, editable=False)
            )
            for model in VERSIONED
        ),
        # --- memberships: status instead of is_active, and invitations ---------------------------------
        migrations.AddField(
            model_name="membership",
            name="status",
            field=models.CharField(
                choices=[("invited", "Invited"), ("active", "Active"), ("removed", "Removed")],
                default="active",
                max_length=10,
            ),
        ),
        migrations.AddField(
            model_name="membership", name="invited_at", field=models.DateTimeField(blank=True, null=True)
        ),
        migrations.AddField(
            model_name="membership",
            name="invited_by",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AddField(
            model_name="membership",
            name="invitation_token_hash",
            field=models.CharField(blank=True, db_index=True, max_length=64),
        ),
        migrations.RunPython(membership_status_from_flag, membership_flag_from_status),
        migrations.RemoveField(model_name="membership", name="is_active"),
        # --- role names unique regardless of case ----------------------------------------------------
        migrations.RunPython(number_case_twin_roles, migrations.RunPython.noop),
        migrations.RemoveConstraint(model_name="role", name="role_unique_name_per_org"),
        migrations.AddConstraint(
            model_name="role",
            constraint=models.UniqueConstraint(
                models.F("organization"),
                django.db.models.functions.text.Lower("name"),
                name="role_unique_name_ci_per_org",
            ),
        ),
        # --- identity skeletons ----------------------------------------------------------------------
        migrations.AddField(
            model_name="user",
            name="email_skeleton",
            field=models.CharField(editable=False, max_length=1024, null=True),
        ),
        migrations.AddField(
            model_name="user",
            name="username_skeleton",
            field=models.CharField(blank=True, editable=False, max_length=1024, null=True),
        ),
        migrations.RunPython(compute_skeletons, migrations.RunPython.noop),
        migrations.RemoveConstraint(model_name="user", name="user_username_ci_unique"),
        migrations.AlterField(
            model_name="user",
            name="email_skeleton",
            field=models.CharField(editable=False, max_length=1024, unique=True),
        ),
        migrations.AlterField(
            model_name="user",
            name="username_skeleton",
            field=models.CharField(blank=True, editable=False, max_length=1024, null=True, unique=True),
        ),
        # --- idempotency keys ------------------------------------------------------------------------
        migrations.CreateModel(
            name="IdempotencyKey",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("principal", models.CharField(max_length=64)),
                ("scope", models.CharField(blank=True, max_length=32)),
                ("key", models.CharField(max_length=255)),
                ("fingerprint", models.CharField(max_length=64)),
                ("status_code", models.PositiveSmallIntegerField(blank=True, null=True)),
                ("content_type", models.CharField(blank=True, max_length=100)),
                ("etag", models.CharField(blank=True, max_length=40)),
                ("body", models.BinaryField(default=b"")),
                ("created_at", models.DateTimeField(db_index=True, default=django.utils.timezone.now)),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(fields=("principal", "scope", "key"), name="idempotency_key_unique")
                ]
            },
        ),
    ]
