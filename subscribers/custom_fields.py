# ruff: noqa: S608 (every statement is built from the constant table names below)
"""The custom field summary (/api/v1/custom-fields/): every field name subscribers have, how
many have it, and when one was last given, kept by the database rather than counted from the
subscriber table on each request.

Triggers on the subscriber table append a change row per field a write adds (+1), removes
(-1) or gives a new value (0, with the subscriber's last_seen_at): appends only, so callbacks
writing at once never wait on a shared counter row. Reading folds the changes into the summary
(CustomField) first, in one transaction, then reads it: exact for every committed write, and
as cheap as the number of field changes since the last read.
"""

from datetime import UTC, datetime

from django.db import connection, migrations, transaction
from django.utils.dateparse import parse_datetime

SUBSCRIBERS = "crm_subscriber"
SUMMARY = "crm_customfield"
CHANGES = "crm_customfieldchange"
INSERT_CHANGE = f"INSERT INTO {CHANGES} (name, subscribers, seen_at)"

POSTGRESQL_TRIGGERS = [
    f"""
    CREATE OR REPLACE FUNCTION crm_custom_field_changes() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'DELETE' THEN
            {INSERT_CHANGE} SELECT key, -1, NULL FROM jsonb_object_keys(OLD.fields) AS key;
        ELSIF TG_OP = 'UPDATE' THEN
            {INSERT_CHANGE} SELECT key, -1, NULL FROM jsonb_object_keys(OLD.fields) AS key
                WHERE NOT NEW.fields ? key;
            {INSERT_CHANGE}
                SELECT n.key, CASE WHEN OLD.fields ? n.key THEN 0 ELSE 1 END, NEW.last_seen_at
                FROM jsonb_each(NEW.fields) AS n
                WHERE OLD.fields -> n.key IS DISTINCT FROM n.value;
        ELSE
            {INSERT_CHANGE}
                SELECT key, 1, NEW.last_seen_at FROM jsonb_object_keys(NEW.fields) AS key;
        END IF;
        RETURN NULL;
    END
    $$;
    """,
    f"CREATE TRIGGER {SUBSCRIBERS}_custom_fields_insert AFTER INSERT ON {SUBSCRIBERS} "
    "FOR EACH ROW WHEN (NEW.fields <> '{}') EXECUTE FUNCTION crm_custom_field_changes()",
    f"CREATE TRIGGER {SUBSCRIBERS}_custom_fields_update AFTER UPDATE OF fields ON {SUBSCRIBERS} "
    "FOR EACH ROW WHEN (OLD.fields IS DISTINCT FROM NEW.fields) "
    "EXECUTE FUNCTION crm_custom_field_changes()",
    f"CREATE TRIGGER {SUBSCRIBERS}_custom_fields_delete AFTER DELETE ON {SUBSCRIBERS} "
    "FOR EACH ROW WHEN (OLD.fields <> '{}') EXECUTE FUNCTION crm_custom_field_changes()",
]

# SQLite keeps fields as JSON text; json_each() reads its keys and values.
SAME_IN_OLD = "SELECT 1 FROM json_each(OLD.fields) AS o WHERE o.key = n.key"
SQLITE_TRIGGERS = [
    f"CREATE TRIGGER {SUBSCRIBERS}_custom_fields_insert AFTER INSERT ON {SUBSCRIBERS} "
    f"WHEN NEW.fields <> '{{}}' BEGIN {INSERT_CHANGE} "
    "SELECT key, 1, NEW.last_seen_at FROM json_each(NEW.fields); END",
    f"CREATE TRIGGER {SUBSCRIBERS}_custom_fields_update AFTER UPDATE OF fields ON {SUBSCRIBERS} "
    f"WHEN OLD.fields IS NOT NEW.fields BEGIN {INSERT_CHANGE} "
    "SELECT o.key, -1, NULL FROM json_each(OLD.fields) AS o WHERE NOT EXISTS "
    "(SELECT 1 FROM json_each(NEW.fields) AS n WHERE n.key = o.key); "
    f"{INSERT_CHANGE} SELECT n.key, CASE WHEN EXISTS ({SAME_IN_OLD}) THEN 0 ELSE 1 END, "
    "NEW.last_seen_at FROM json_each(NEW.fields) AS n WHERE NOT EXISTS "
    f"({SAME_IN_OLD} AND o.type = n.type AND o.value IS n.value); END",
    f"CREATE TRIGGER {SUBSCRIBERS}_custom_fields_delete AFTER DELETE ON {SUBSCRIBERS} "
    f"WHEN OLD.fields <> '{{}}' BEGIN {INSERT_CHANGE} "
    "SELECT key, -1, NULL FROM json_each(OLD.fields); END",
]

TRIGGER_NAMES = tuple(
    f"{SUBSCRIBERS}_custom_fields_{action}" for action in ("insert", "update", "delete")
)

# The summary as a count from the subscriber table: the migration's starting point, and what
# the tests compare the summary with.
RECOUNT = {
    "postgresql": f"SELECT key, count(*), max(last_seen_at) FROM {SUBSCRIBERS}, "
    "jsonb_object_keys(fields) AS key GROUP BY key",
    "sqlite": f"SELECT j.key, count(*), max(s.last_seen_at) FROM {SUBSCRIBERS} AS s, "
    "json_each(s.fields) AS j GROUP BY j.key",
}

FOLD = {
    # Each change row is deleted, and so counted, once, even by two readers at a time.
    "postgresql": [
        f"""
        WITH moved AS (DELETE FROM {CHANGES} RETURNING name, subscribers, seen_at)
        INSERT INTO {SUMMARY} AS f (name, subscribers, last_seen_at)
            SELECT name, sum(subscribers), max(seen_at) FROM moved GROUP BY name
        ON CONFLICT (name) DO UPDATE SET
            subscribers = f.subscribers + excluded.subscribers,
            last_seen_at = GREATEST(f.last_seen_at, excluded.last_seen_at)
        """,
    ],
    # One writer at a time: nothing is appended between the two statements.
    "sqlite": [
        f"""
        INSERT INTO {SUMMARY} AS f (name, subscribers, last_seen_at)
            SELECT name, sum(subscribers), max(seen_at) FROM {CHANGES} WHERE true GROUP BY name
        ON CONFLICT (name) DO UPDATE SET
            subscribers = f.subscribers + excluded.subscribers,
            last_seen_at = coalesce(max(f.last_seen_at, excluded.last_seen_at),
                                    f.last_seen_at, excluded.last_seen_at)
        """,
        f"DELETE FROM {CHANGES}",
    ],
}


def custom_field_summary() -> list[dict]:
    """Every custom field name subscribers have, by name, with how many have it and the
    latest last_seen_at of a subscriber when they were given it (a new or changed value)."""
    vendor = connection.vendor
    with transaction.atomic(), connection.cursor() as cursor:
        for statement in FOLD[vendor]:
            cursor.execute(statement)
        # A name no one has any more goes. (Below 0 only when the tables were emptied out of
        # order, as a test runner's flush on SQLite does: its DELETEs fire the triggers.)
        cursor.execute(f"DELETE FROM {SUMMARY} WHERE subscribers <= 0")
        cursor.execute(f"SELECT name, subscribers, last_seen_at FROM {SUMMARY} ORDER BY name")
        rows = cursor.fetchall()
    return [
        {"name": name, "subscribers": count, "last_seen_at": stored_time(last_seen)}
        for name, count, last_seen in rows
    ]


def recount() -> dict[str, int]:
    """{name: subscribers} counted from the subscriber table: a whole-table read."""
    with connection.cursor() as cursor:
        cursor.execute(RECOUNT[connection.vendor])
        return {name: count for name, count, _last_seen in cursor.fetchall()}


def rebuild_summary() -> None:
    """Count the summary afresh from the subscriber table: after a bulk load that had its
    triggers off (generate_demo_data)."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {CHANGES}")
        cursor.execute(f"DELETE FROM {SUMMARY}")
        cursor.execute(
            f"INSERT INTO {SUMMARY} (name, subscribers, last_seen_at) {RECOUNT[connection.vendor]}"
        )


def stored_time(value: datetime | str | None) -> datetime | None:
    """A time as raw SQL returns it: SQLite gives UTC, as text or naive, PostgreSQL an aware
    datetime."""
    if isinstance(value, str):
        value = parse_datetime(value)
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def keep_summary() -> migrations.RunPython:
    """A migration operation: the triggers, and the summary counted once from what exists."""

    def forwards(apps, schema_editor):
        vendor = schema_editor.connection.vendor
        triggers = POSTGRESQL_TRIGGERS if vendor == "postgresql" else SQLITE_TRIGGERS
        for statement in triggers:
            schema_editor.execute(statement)
        schema_editor.execute(
            f"INSERT INTO {SUMMARY} (name, subscribers, last_seen_at) {RECOUNT[vendor]}"
        )

    def backwards(apps, schema_editor):
        postgresql = schema_editor.connection.vendor == "postgresql"
        for name in TRIGGER_NAMES:
            schema_editor.execute(
                f"DROP TRIGGER IF EXISTS {name}" + (f" ON {SUBSCRIBERS}" if postgresql else "")
            )
        if postgresql:
            schema_editor.execute("DROP FUNCTION IF EXISTS crm_custom_field_changes()")

    return migrations.RunPython(forwards, backwards, elidable=False)
