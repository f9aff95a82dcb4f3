"""Imports stop touching "last seen": imported_at says when an import last wrote a subscriber,
and one an import added has no last_seen_at until a callback comes.

The list shows the most recently seen first and the never seen last, on both databases. The
index for that order is created here by hand, because SQLite cannot write NULLS LAST in an
index (its descending order already puts NULLs last); it replaces the plain index the field had.

SQLite makes a column nullable by rebuilding the table, which drops the triggers 0006 put on
it (change_seq and deletion tombstones): they are made again after the rebuild, both ways.
"""

import django.utils.timezone
from django.db import migrations, models

from lib.sync import sqlite_deletion_triggers, sqlite_triggers

INDEX = {
    "postgresql": "CREATE INDEX subscriber_last_seen ON crm_subscriber "
    "(last_seen_at DESC NULLS LAST)",
    "sqlite": "CREATE INDEX subscriber_last_seen ON crm_subscriber (last_seen_at DESC)",
}


def restore_sqlite_triggers(apps, schema_editor):
    if schema_editor.connection.vendor != "sqlite":
        return
    for statement in [
        *sqlite_triggers("crm_subscriber"),
        *sqlite_deletion_triggers("crm_subscriber", "subscribers", "crm_deletion"),
    ]:
        schema_editor.execute(statement)


def create_index(apps, schema_editor):
    restore_sqlite_triggers(apps, schema_editor)
    schema_editor.execute(INDEX[schema_editor.connection.vendor])


def drop_index(apps, schema_editor):
    schema_editor.execute("DROP INDEX IF EXISTS subscriber_last_seen")


class Migration(migrations.Migration):
    dependencies = [("crm", "0006_subscriber_changes_and_deletions")]

    operations = [
        # Unapplied, the rebuild back comes after this; its reverse restores the triggers.
        migrations.RunPython(migrations.RunPython.noop, restore_sqlite_triggers),
        migrations.AlterModelOptions(
            name="subscriber",
            options={
                "ordering": (
                    models.OrderBy(models.F("last_seen_at"), descending=True, nulls_last=True),
                )
            },
        ),
        migrations.AddField(
            model_name="subscriber",
            name="imported_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AlterField(
            model_name="subscriber",
            name="last_seen_at",
            field=models.DateTimeField(blank=True, default=django.utils.timezone.now, null=True),
        ),
        migrations.RunPython(create_index, drop_index),
    ]
