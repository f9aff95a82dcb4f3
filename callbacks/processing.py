"""The callback pipeline: a stored raw request in, its outcome and the rows it made out.

The view and `reprocess_callbacks` both call process(); it opens its own transaction (or
needs none), so no caller has to remember to.
"""

import logging

import psycopg
from django.db import connection, transaction

from callbacks.dedupe import (
    DuplicateCallback,
    claim_first,
    claim_params,
    claim_sql,
    fingerprint,
)
from callbacks.models import CallbackEvent, Outcome
from callbacks.params import read_params
from callbacks.parsing import Callback, InvalidCallback, parse
from callbacks.signals import anyone_writes, recorded
from campaigns import catalog
from campaigns.catalog import StaleCatalog
from campaigns.models import Response
from campaigns.services import (
    Target,
    record,
    response_row,
    target,
    upsert_subscriber_params,
    upsert_subscriber_sql,
)
from lib.models import insert, insert_params, insert_sql, insert_statement
from lib.write_lock import one_writer_at_a_time

logger = logging.getLogger(__name__)


def in_one_statement() -> bool:
    """Whether a new callback is recorded in one statement with no transaction around it:
    on PostgreSQL, outside a caller's transaction, when no receiver of `recorded` would write."""
    return (
        connection.vendor == "postgresql" and not connection.in_atomic_block and not anyone_writes()
    )


def process(event: CallbackEvent, found: catalog.Lookups | None = None) -> Response | None:
    """Parse and record a callback, and save the event with its outcome whatever happens.

    `found`: the lookups the caller found the event's endpoint in, if it did; when the
    catalog has changed since, StaleCatalog is raised before anything is written (look the
    endpoint up again, and call process() without them).

    Returns the row it produced, or None when the callback was rejected, failed or a duplicate.
    A DatabaseError escapes only when not even the failed event could be saved: the database
    cannot take the callback, and the caller must keep it (the view spools it).
    """
    try:
        params = read_params(event)
        callback = parse(event.kind, params)
    except InvalidCallback as e:
        return reject(event, str(e), found)
    except Exception as e:
        return fail(event, e)

    adding = event._state.adding
    if found is not None and adding and in_one_statement():
        try:
            where = target(callback, found)
            version, row = record_at_once(event, params, callback, where, found.version)
        except StaleCatalog:
            raise
        except Exception as e:
            return fail(event, e)
        if row is not None:
            return row
        if version != found.version:
            raise StaleCatalog
        # Not recorded although the catalog held: a retry (or a copy that lost the claim to a
        # concurrent one). The transaction below says which, and keeps it as a duplicate.
        found = None
    check_current(found)
    try:
        # Campaign and choice first, from the process's lookups: the write transaction then
        # holds four statements (event, subscriber upsert, response, duplicate claim) and no
        # savepoint; on SQLite the write lock is held for just these.
        where = current_target(callback, found)
        # Every statement made before the lock is taken: it is held for the writes alone.
        event.outcome, event.reason = Outcome.PROCESSED, ""
        event_insert = insert_statement(event, connection) if adding else None
        write_rows = record(event, callback, where)
        window = where.campaign.effective_duplicate_window()
        key = fingerprint(event, params)
        with one_writer_at_a_time(connection), transaction.atomic():
            if adding:
                insert(event, connection, event_insert)
            else:
                event.save()
            row = write_rows()
            claim_first(event, params, window, key)
            recorded.send(sender=CallbackEvent, response=row)
            return row
    except DuplicateCallback as e:
        if adding:
            event.pk, event._state.adding = None, True
        return mark_duplicate(event, e.first_id)
    except StaleCatalog:
        raise  # nothing was written: the catalog moved on before the transaction
    except Exception as e:
        if adding:
            # The event's INSERT was rolled back with the rest: insert it afresh.
            event.pk, event._state.adding = None, True
        return fail(event, e)


def current_target(callback: Callback, found: catalog.Lookups | None) -> Target:
    """target() from `found` (checked current), or from the lookups of the version now."""
    try:
        return target(callback, found)
    except StaleCatalog:
        if found is not None:
            raise
        # The catalog changed between two reads a moment apart (other processes making
        # campaigns and choices): found afresh, kept nowhere.
        return target(callback, catalog.Lookups(None))


# record_at_once()'s statement for each shape of callback (the row's model, and whether a
# duplicate window applies): its text is the same for every callback of a shape, so each
# process composes it once and a callback builds only its parameters.
AT_ONCE: dict[tuple[type, bool], str] = {}


def record_at_once(
    event: CallbackEvent,
    params: list[tuple[str, str]],
    callback: Callback,
    where: Target,
    version: int | None,
) -> tuple[int | None, Response | None]:
    """The catalog's version and the recorded row, in one statement (PostgreSQL's
    data-modifying WITH): atomic on its own, so one round trip and no BEGIN or COMMIT.

    Everything hangs on its first parts: the catalog still at `version` (the lookups' own),
    then the duplicate claim; when either fails nothing is written, and the row is None.
    """
    event.outcome, event.reason = Outcome.PROCESSED, ""
    row = response_row(event, callback, where)
    window = where.campaign.effective_duplicate_window()
    shape = (type(row), window > 0)
    sql = AT_ONCE.get(shape)
    if sql is None:
        sql = AT_ONCE[shape] = at_once_sql(event, params, callback, row, window, version)[0]
    values = at_once_params(event, params, callback, row, window, version)
    with at_once_cursor() as cursor:
        cursor.execute(sql, values)
        found = cursor.fetchone()
    if found is None:
        return None, None
    seen, row.pk, row.subscriber_id, event.pk = found
    if row.pk is None:
        event.pk = None
        return seen, None
    event._state.adding, event._state.db = False, connection.alias
    row._state.adding, row._state.db = False, connection.alias
    row.callback = event
    return seen, row


def at_once_cursor():
    """The cursor for record_at_once()'s statement: psycopg's own, which binds parameters on
    the server, so psycopg prepares the statement once it has run a few times on a connection
    (settings: prepare_threshold) and PostgreSQL parses and plans it once per connection, not
    once per callback. Django's cursors bind on the client, and never prepare."""
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    with connection.wrap_database_errors:
        cursor = psycopg.Cursor(connection.connection)
    if connection.queries_logged:
        return connection.make_debug_cursor(cursor)
    return connection.make_cursor(cursor)


# How record_at_once()'s parts name what earlier parts made.
EVENT_ID = {"id": "claim.event_id"}
ROW_IDS = {"subscriber_id": "subscriber.id", "callback_id": "event.id"}


def at_once_sql(
    event: CallbackEvent,
    params: list[tuple[str, str]],
    callback: Callback,
    row: Response,
    window: int,
    version: int | None,
) -> tuple[str, list]:
    """record_at_once()'s statement and its parameters (at_once_params()'s, in one order)."""
    parts = [
        f"version AS (SELECT version FROM {catalog.table()} WHERE id = 1)",  # noqa: S608
        "go AS (SELECT nextval(pg_get_serial_sequence(%s, 'id')) AS id FROM version "
        "WHERE version = %s)",
    ]
    values = [CallbackEvent._meta.db_table, version]
    if window > 0:
        sql, claim_values = claim_sql(event, params, window, event_id="go.id")
        parts.append(f"claim AS ({sql})")
        values += claim_values
    else:
        parts.append("claim AS (SELECT id AS event_id FROM go)")
    sql, event_values = insert_sql(event, connection, EVENT_ID, source="claim")
    parts.append(f"event AS ({sql} RETURNING id)")
    values += event_values
    sql, subscriber_values = upsert_subscriber_sql(event, callback, source="claim", returning="id")
    parts.append(f"subscriber AS ({sql})")
    values += subscriber_values
    sql, row_values = insert_sql(row, connection, ROW_IDS, source="subscriber, event")
    parts.append(f"response AS ({sql} RETURNING id, subscriber_id, callback_id)")
    values += row_values
    sql = (
        f"WITH {', '.join(parts)} SELECT version.version, response.id, "  # noqa: S608
        "response.subscriber_id, response.callback_id FROM version LEFT JOIN response ON true"
    )
    return sql, values


def at_once_params(
    event: CallbackEvent,
    params: list[tuple[str, str]],
    callback: Callback,
    row: Response,
    window: int,
    version: int | None,
) -> list:
    """The parameters of at_once_sql()'s statement, without composing its text."""
    values = [CallbackEvent._meta.db_table, version]
    if window > 0:
        values += claim_params(event, params, window, event_id="go.id")
    values += insert_params(event, connection, EVENT_ID)
    values += upsert_subscriber_params(event, callback)
    values += insert_params(row, connection, ROW_IDS)
    return values


def check_current(found: catalog.Lookups | None) -> None:
    """Raise StaleCatalog if the catalog has changed since `found` (when given)."""
    if found is not None and catalog.lookups() is not found:
        raise StaleCatalog


def reject(event: CallbackEvent, reason: str, found: catalog.Lookups | None = None) -> None:
    """Invalid input: the sender is told the reason, and the request is kept with it.

    `found`: as process()'s."""
    check_current(found)
    event.outcome, event.reason = Outcome.REJECTED, reason
    event.save()


def mark_duplicate(event: CallbackEvent, first_id: int) -> None:
    """A retry of a callback already recorded: kept, linked to the first, counted nowhere."""
    event.outcome, event.reason = Outcome.DUPLICATE, f"Duplicate of callback {first_id}."
    event.duplicate_of_id = first_id
    event.save()


def fail(event: CallbackEvent, error: Exception) -> None:
    """Our own error: the raw request is kept, so reprocess_callbacks can process it again."""
    event.outcome, event.reason = Outcome.FAILED, f"{type(error).__name__}: {error}"[:2000]
    event.save()
    logger.exception("callback %s failed", event.pk)
