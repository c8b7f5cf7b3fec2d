import django.db.models.deletion
from django.db import migrations, models

TABLE = '"crmApp_webhookdelivery"'


def leave_room_for_updates(apps, schema_editor):
    # Every attempt is updated twice (leased, then its outcome). With room left in its page, the lease's
    # new row version stays there and no index is touched (a HOT update): 1.2-1.8 ms instead of 8 ms for a
    # batch of 50. Rows written from now on get the room; VACUUM FULL would give it to older ones.
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"ALTER TABLE {TABLE} SET (fillfactor = 70)")


def fill_pages(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"ALTER TABLE {TABLE} RESET (fillfactor)")


class Migration(migrations.Migration):
    dependencies = [
        ("crmApp", "0015_history_actor_index"),
    ]

    operations = [
        migrations.RunPython(leave_room_for_updates, fill_pages),
        # The field's new state alone, as in 0015: its own index is dropped by name.
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="webhookdelivery",
                    name="webhook",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="deliveries",
                        to="crmApp.webhook",
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    'DROP INDEX IF EXISTS "crmApp_webhookdelivery_webhook_id_ed7c3483"',
                    reverse_sql=f'CREATE INDEX "crmApp_webhookdelivery_webhook_id_ed7c3483" ON {TABLE} ("webhook_id")',
                ),
            ],
        ),
    ]
