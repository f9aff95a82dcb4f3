"""Retries counted once.

The platform sends no delivery id, and a sender that times out sends the same callback
again. An identical callback (same endpoint, kind and parameters) within the campaign's
duplicate window is a retry: kept in the raw log as a duplicate of the first, counted nowhere.

The database decides, in the transaction that records the callback: one upsert claims the
fingerprint unless an unexpired claim holds it. Two concurrent copies cannot both win (the
second waits on the unique index until the first commits or rolls back), and a claim rolled
back with its transaction leaves nothing behind.
"""

import hashlib
import json
import logging
import threading
import time
from datetime import timedelta

from django.db import connection, connections
from django.utils import timezone

from callbacks.models import CallbackEvent, CallbackFingerprint

logger = logging.getLogger(__name__)


class DuplicateCallback(Exception):
    """Raised inside the recording transaction, so everything the retry did is rolled back."""

    def __init__(self, first_id: int):
        super().__init__(f"duplicate of callback {first_id}")
        self.first_id = first_id


def fingerprint(event: CallbackEvent, params: list[tuple[str, str]]) -> str:
    """The same for the same endpoint, kind and parameters, in whatever order or method."""
    identity = [event.endpoint_id, event.kind, sorted(params)]
    return hashlib.sha256(json.dumps(identity, ensure_ascii=False).encode()).hexdigest()


# One statement, the same on PostgreSQL and SQLite (3.35+): insert, or take over a claim
# whose window does not reach this callback's arrival (on either side); RETURNING yields a
# row only when this event holds the claim now.
CLAIM = """
INSERT INTO {table} (fingerprint, event_id, received_at, expires_at) {rows}
ON CONFLICT (fingerprint) DO UPDATE
    SET event_id = excluded.event_id,
        received_at = excluded.received_at,
        expires_at = excluded.expires_at
    WHERE {table}.expires_at <= excluded.received_at
       OR excluded.expires_at <= {table}.received_at
RETURNING event_id
"""


def claim_sql(
    event: CallbackEvent,
    params: list[tuple[str, str]],
    window: int,
    event_id: str = "",
    key: str = "",
) -> tuple[str, list]:
    """The claim's statement and parameters for the event (saved, or with `event_id`, SQL
    naming its future id in a larger statement: `<cte>.<column>`, claimed once per row of
    that CTE)."""
    if event_id:
        source = event_id.split(".")[0]
        # Names from the caller's code, never from input.
        rows = f"SELECT %s, {event_id}, %s, %s FROM {source} WHERE true"  # noqa: S608
    else:
        rows = "VALUES (%s, %s, %s, %s)"
    table = connection.ops.quote_name(CallbackFingerprint._meta.db_table)
    values = claim_params(event, params, window, event_id, key)
    return CLAIM.format(table=table, rows=rows), values


def claim_params(
    event: CallbackEvent,
    params: list[tuple[str, str]],
    window: int,
    event_id: str = "",
    key: str = "",
) -> list:
    """claim_sql()'s parameters alone (its text is the same for every event)."""
    ops = connection.ops
    arrived = event.received_at
    until = arrived + timedelta(seconds=window)
    times = [ops.adapt_datetimefield_value(arrived), ops.adapt_datetimefield_value(until)]
    key = key or fingerprint(event, params)
    return [key, *times] if event_id else [key, event.pk, *times]


def claim_first(
    event: CallbackEvent, params: list[tuple[str, str]], window: int, key: str = ""
) -> None:
    """Claim these parameters for the saved event, or raise DuplicateCallback.

    Call inside the transaction that saves the event; with a window of 0, nothing is asked.
    `key`: their fingerprint(), if made before (outside a lock).
    """
    if window <= 0:
        return
    sql, values = claim_sql(event, params, window, key=key)
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
        if cursor.fetchone() is not None:
            return
    first_id = (
        CallbackFingerprint.objects.filter(fingerprint=key or fingerprint(event, params))
        .values_list("event_id", flat=True)
        .get()
    )
    raise DuplicateCallback(first_id)


def forget_expired() -> int:
    """Delete the claims no retry can match any more; they only take space."""
    now = timezone.now()
    return CallbackFingerprint.objects.filter(expires_at__lte=now).delete()[0]


# Each process forgets expired claims at most every FORGET_EVERY seconds, in a background
# thread started by a callback that reached the database (callbacks/views.py).
FORGET_EVERY = 600.0
_lock = threading.Lock()
_next_forget = time.monotonic() + FORGET_EVERY


def forget_expired_soon() -> None:
    global _next_forget
    if time.monotonic() < _next_forget:
        return
    with _lock:
        if time.monotonic() < _next_forget:
            return
        _next_forget = time.monotonic() + FORGET_EVERY
    threading.Thread(target=_forget_in_thread, name="forget-fingerprints", daemon=True).start()


def _forget_in_thread() -> None:
    try:
        forget_expired()
    except Exception:
        logger.exception("could not delete expired callback fingerprints")
    finally:
        connections.close_all()
