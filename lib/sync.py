"""Incremental reads that never miss a row: every tracked table carries a change position.

Each row's `change_seq` is set by the database itself on every INSERT and UPDATE (a trigger,
so the admin, the callback pipeline and bulk updates all count), and a reader asks for the rows
after the last position it was given.

- PostgreSQL: the position is the writing transaction's id (`pg_current_xact_id()`), then the
  row id. A reader only gets rows whose transaction is older than every transaction still in
  flight (`pg_snapshot_xmin(pg_current_snapshot())`): those have all committed (or aborted),
  and every write still to come will carry a larger transaction id, so no row can ever appear
  behind a position already handed out. (A sequence number taken at write time cannot promise
  that: a transaction holding an old xid may take a later number than one still in flight.)
- SQLite has one writer at a time, so a counter per table read at commit order is enough.

Positions go to clients as opaque strings.
"""

import re

from django.db import connections, migrations, models
from django.db.models import F, Q, QuerySet
from django.db.models.expressions import RawSQL

# Transactions older than every one still running: their rows are final.
PG_HORIZON = "pg_snapshot_xmin(pg_current_snapshot())::text::bigint"

PG_FUNCTION = """
CREATE OR REPLACE FUNCTION set_change_seq() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.change_seq := pg_current_xact_id()::text::bigint;
    RETURN NEW;
END
$$;
"""


# Where a sync starts: before every row.
START = (0, 0)


class InvalidPosition(ValueError):
    pass


# A position as clients see it: two hex numbers. Opaque to them (pass back what the server
# gave); any such pair is harmless, it only says where to read from.
POSITION_PATTERN = r"^[0-9a-f]{1,15}-[0-9a-f]{1,15}$"


def encode_position(change_seq: int, row_id: int) -> str:
    return f"{change_seq:x}-{row_id:x}"


def decode_position(text: str) -> tuple[int, int]:
    """(change_seq, id) from a position this server handed out; InvalidPosition otherwise."""
    if not re.fullmatch(POSITION_PATTERN, text):
        raise InvalidPosition("not a position this server gave")
    change_seq, row_id = text.split("-")
    return int(change_seq, 16), int(row_id, 16)


def change_seq_field() -> models.BigIntegerField:
    return models.BigIntegerField(
        default=0,
        editable=False,
        help_text="Set by the database on every write (lib.sync): where the row's latest "
        "change stands in the changes feed.",
    )


def changes_index(name: str) -> models.Index:
    """What a changes feed reads: rows after a position, in change order."""
    return models.Index(fields=["change_seq", "id"], name=name)


def changed_after(queryset: QuerySet, position: tuple[int, int], limit: int) -> list:
    """Up to `limit` rows changed after `position`, in change order, all of them final."""
    change_seq, row_id = position
    after = Q(change_seq__gt=change_seq) | Q(change_seq=change_seq, id__gt=row_id)
    rows = queryset.filter(after)
    if connections[queryset.db].vendor == "postgresql":
        horizon = RawSQL(PG_HORIZON, ())  # noqa: S611 (a constant)
        rows = rows.alias(horizon=horizon).filter(change_seq__lt=F("horizon"))
    return list(rows.order_by("change_seq", "id")[:limit])


# The trigger builders below take table and resource names from migrations, never from input
# (hence the noqa: S608).


def postgresql_triggers(table: str) -> list[str]:
    return [
        PG_FUNCTION,
        f"DROP TRIGGER IF EXISTS {table}_change_seq ON {table}",
        f"CREATE TRIGGER {table}_change_seq BEFORE INSERT OR UPDATE ON {table} "
        "FOR EACH ROW EXECUTE FUNCTION set_change_seq()",
    ]


def sqlite_triggers(table: str) -> list[str]:
    # SQLite fires no trigger that is already running (recursive_triggers is off): the
    # UPDATE below ends there. One writer at a time, so max() + 1 only grows.
    bump = (
        f"UPDATE {table} SET change_seq = "  # noqa: S608
        f"(SELECT coalesce(max(change_seq), 0) + 1 FROM {table}) WHERE id = NEW.id;"
    )
    return [
        f"DROP TRIGGER IF EXISTS {table}_change_seq_insert",
        f"DROP TRIGGER IF EXISTS {table}_change_seq_update",
        f"CREATE TRIGGER {table}_change_seq_insert AFTER INSERT ON {table} BEGIN {bump} END",
        f"CREATE TRIGGER {table}_change_seq_update AFTER UPDATE ON {table} BEGIN {bump} END",
    ]


def postgresql_deletion_triggers(table: str, resource: str, into: str) -> list[str]:
    insert = f"INSERT INTO {into} (resource, object_id, deleted_at, change_seq)"  # noqa: S608
    return [
        f"""
        CREATE OR REPLACE FUNCTION record_deletion() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            {insert} VALUES (TG_ARGV[0], OLD.id, now(), 0);
            RETURN OLD;
        END
        $$;
        """,  # noqa: S608
        f"DROP TRIGGER IF EXISTS {table}_deletion ON {table}",
        f"CREATE TRIGGER {table}_deletion AFTER DELETE ON {table} "
        f"FOR EACH ROW EXECUTE FUNCTION record_deletion('{resource}')",
    ]


def sqlite_deletion_triggers(table: str, resource: str, into: str) -> list[str]:
    return [
        f"DROP TRIGGER IF EXISTS {table}_deletion",
        f"CREATE TRIGGER {table}_deletion AFTER DELETE ON {table} BEGIN "  # noqa: S608
        f"INSERT INTO {into} (resource, object_id, deleted_at, change_seq) "
        f"VALUES ('{resource}', OLD.id, strftime('%Y-%m-%d %H:%M:%f', 'now'), 0); END",
    ]


def track_changes(*tables: str) -> migrations.RunPython:
    """A migration operation that makes the database set `change_seq` on these tables."""

    def forwards(apps, schema_editor):
        vendor = schema_editor.connection.vendor
        for table in tables:
            statements = (
                postgresql_triggers(table) if vendor == "postgresql" else sqlite_triggers(table)
            )
            for statement in statements:
                schema_editor.execute(statement)

    def backwards(apps, schema_editor):
        # Unapplied, the migration's columns go: triggers that set them must go first.
        postgresql = schema_editor.connection.vendor == "postgresql"
        for table in tables:
            if postgresql:
                schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_change_seq ON {table}")
            else:
                for action in ("insert", "update"):
                    schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_change_seq_{action}")

    return migrations.RunPython(forwards, backwards, elidable=False)


def track_deletions(into: str, **resources: str) -> migrations.RunPython:
    """A migration operation: a row deleted from a table, by anyone, leaves a tombstone in
    `into` (resource, object_id, deleted_at). resources: resource name -> table."""

    def forwards(apps, schema_editor):
        postgresql = schema_editor.connection.vendor == "postgresql"
        triggers = postgresql_deletion_triggers if postgresql else sqlite_deletion_triggers
        for resource, table in resources.items():
            for statement in triggers(table, resource, into):
                schema_editor.execute(statement)

    def backwards(apps, schema_editor):
        postgresql = schema_editor.connection.vendor == "postgresql"
        for table in resources.values():
            suffix = f" ON {table}" if postgresql else ""
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_deletion{suffix}")

    return migrations.RunPython(forwards, backwards, elidable=False)
