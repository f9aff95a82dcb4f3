"""A trigram index so searching subscribers by a custom field's value ("Bill", "10024") uses
an index on PostgreSQL, as 0003 does for mobile and carrier: the admin searches the fields'
JSON text with icontains, UPPER(fields::text) LIKE '%...%'. SQLite keeps scanning."""

from django.db import migrations


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    schema_editor.execute(
        "CREATE INDEX IF NOT EXISTS subscriber_fields_trgm ON crm_subscriber "
        "USING gin (UPPER(fields::text) gin_trgm_ops)"
    )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("DROP INDEX IF EXISTS subscriber_fields_trgm")


class Migration(migrations.Migration):
    dependencies = [("crm", "0004_subscriber_first_seen_index")]

    operations = [migrations.RunPython(create, drop)]
