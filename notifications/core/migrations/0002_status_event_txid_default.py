"""On PostgreSQL a status event's txid defaults to the writing transaction's id
(see notifications.core.events); SQLite keeps 0. Not model state, so no field change."""

from django.db import migrations

FORWARD = "ALTER TABLE core_statusevent ALTER COLUMN txid SET DEFAULT (pg_current_xact_id()::text::bigint)"
BACKWARD = "ALTER TABLE core_statusevent ALTER COLUMN txid SET DEFAULT 0"


def _on_postgresql(sql):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [("core", "0001_initial")]

    operations = [migrations.RunPython(_on_postgresql(FORWARD), _on_postgresql(BACKWARD))]
