"""The database triggers the API's feeds and summaries rely on exist after every migration has run.

SQLite drops a table's triggers when a later migration rebuilds the table (to add a column,
say): the changes feed would silently stop moving. This reads the database's own catalog.
"""

import pytest
from django.apps import apps
from django.db import connection

from subscribers.custom_fields import SUBSCRIBERS, TRIGGER_NAMES

pytestmark = pytest.mark.django_db

# The catalog's version (campaigns 0006) moves when a campaign or a poll choice changes.
CATALOG_TABLES = ("campaigns_campaign", "campaigns_pollchoice")
TOMBSTONES = "crm_deletion"


def triggers() -> set[tuple[str, str]]:
    """(table, trigger name) of every trigger the database holds."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT c.relname, t.tgname FROM pg_trigger t "
                "JOIN pg_class c ON c.oid = t.tgrelid WHERE NOT t.tgisinternal"
            )
        else:
            cursor.execute("SELECT tbl_name, name FROM sqlite_master WHERE type = 'trigger'")
        return set(cursor.fetchall())


def synced_tables() -> list[str]:
    """Every table whose model carries a change_seq (lib.sync.change_seq_field)."""
    return sorted(
        model._meta.db_table
        for model in apps.get_models()
        if any(field.name == "change_seq" for field in model._meta.fields)
    )


def test_the_synced_tables_are_the_api_resources():
    assert synced_tables() == [
        "callbacks_callbackevent",
        "campaigns_campaign",
        "campaigns_formsubmission",
        "campaigns_inforequest",
        "campaigns_pollchoice",
        "campaigns_pollresponse",
        "crm_deletion",
        "crm_subscriber",
    ]


def test_every_synced_table_sets_its_change_seq():
    found = triggers()
    for table in synced_tables():
        if connection.vendor == "postgresql":
            expected = {(table, f"{table}_change_seq")}
        else:
            expected = {(table, f"{table}_change_seq_{action}") for action in ("insert", "update")}
        assert expected <= found, table


def test_every_synced_resource_leaves_a_tombstone_when_deleted():
    found = triggers()
    for table in synced_tables():
        if table != TOMBSTONES:
            assert (table, f"{table}_deletion") in found, table


def test_the_catalog_version_triggers_exist():
    found = triggers()
    for table in CATALOG_TABLES:
        if connection.vendor == "postgresql":
            expected = {(table, f"{table}_catalog_version")}
        else:
            expected = {
                (table, f"{table}_catalog_version_{action}")
                for action in ("insert", "update", "delete")
            }
        assert expected <= found, table


def test_the_custom_field_summary_triggers_exist():
    found = triggers()
    assert {(SUBSCRIBERS, name) for name in TRIGGER_NAMES} <= found
