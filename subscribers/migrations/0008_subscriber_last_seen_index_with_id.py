"""The never-seen-last index of 0007 gets `id` too. The admin orders subscribers by
(last seen, -pk); with thousands of subscribers seen at one instant, PostgreSQL sorted them all
to find the first page (106 ms at 200,000 subscribers; 0.1 ms with id in the index)."""

from django.db import migrations

INDEX = {
    "postgresql": "CREATE INDEX subscriber_last_seen ON crm_subscriber "
    "(last_seen_at DESC NULLS LAST, id DESC)",
    "sqlite": "CREATE INDEX subscriber_last_seen ON crm_subscriber (last_seen_at DESC, id DESC)",
}
BEFORE = {
    "postgresql": "CREATE INDEX subscriber_last_seen ON crm_subscriber "
    "(last_seen_at DESC NULLS LAST)",
    "sqlite": "CREATE INDEX subscriber_last_seen ON crm_subscriber (last_seen_at DESC)",
}


def replace_with(statements):
    def replace(apps, schema_editor):
        schema_editor.execute("DROP INDEX IF EXISTS subscriber_last_seen")
        schema_editor.execute(statements[schema_editor.connection.vendor])

    return replace


class Migration(migrations.Migration):
    dependencies = [("crm", "0007_subscriber_imported_at")]

    operations = [migrations.RunPython(replace_with(INDEX), replace_with(BEFORE))]
