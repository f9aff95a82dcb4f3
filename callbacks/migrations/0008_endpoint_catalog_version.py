# Endpoints join the catalog's version (campaigns/catalog.py): every change to an endpoint,
# whoever makes it (the admin, a token rotation, .update(), raw SQL), gives the catalog a new
# version, so each process can keep the endpoints it looked up and know when they are stale.
# On SQLite a migration that rebuilds callbacks_endpoint drops these triggers: it must make
# them again, as campaigns' 0007 does for its tables.

from django.db import migrations

TABLE = "callbacks_endpoint"


def add_triggers(apps, schema_editor):
    run = schema_editor.execute
    if schema_editor.connection.vendor == "postgresql":
        # campaigns_bump_catalog_version() is campaigns' 0006's.
        run(
            f"CREATE TRIGGER {TABLE}_catalog_version AFTER INSERT OR UPDATE OR DELETE "
            f"ON {TABLE} FOR EACH STATEMENT EXECUTE FUNCTION campaigns_bump_catalog_version()"
        )
    else:
        for action in ("INSERT", "UPDATE", "DELETE"):
            run(
                f"CREATE TRIGGER {TABLE}_catalog_version_{action.lower()} AFTER {action} "
                f"ON {TABLE} BEGIN INSERT OR REPLACE INTO campaigns_catalogversion "
                "(id, version) VALUES (1, random()); END"
            )


def drop_triggers(apps, schema_editor):
    run = schema_editor.execute
    if schema_editor.connection.vendor == "postgresql":
        run(f"DROP TRIGGER IF EXISTS {TABLE}_catalog_version ON {TABLE}")
    else:
        for action in ("insert", "update", "delete"):
            run(f"DROP TRIGGER IF EXISTS {TABLE}_catalog_version_{action}")


class Migration(migrations.Migration):
    dependencies = [
        ("callbacks", "0007_callbackevent_change_seq"),
        ("campaigns", "0007_campaigns_change_seq"),
    ]

    operations = [migrations.RunPython(add_triggers, drop_triggers, elidable=False)]
