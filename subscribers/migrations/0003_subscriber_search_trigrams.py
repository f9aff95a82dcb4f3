"""Trigram indexes so the subscriber list's text search ("5551212", "verizon") uses an index.

The admin searches with icontains, which PostgreSQL runs as UPPER(column::text) LIKE '%...%':
without these indexes every search reads all subscribers (twice: count and page). PostgreSQL
only; SQLite keeps scanning, which is fine at its sizes. pg_trgm is a trusted extension, so
the database owner may create it.
"""

from django.db import migrations

INDEXES = {
    "subscriber_mobile_trgm": "mobile",
    "subscriber_carrier_trgm": "carrier",
}


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, column in INDEXES.items():
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {name} ON crm_subscriber "
            f"USING gin (UPPER({column}::text) gin_trgm_ops)"
        )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("crm", "0002_subscriber_filter_indexes")]

    operations = [migrations.RunPython(create, drop)]
