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
from datetime import timedelta

from django.db import connection

from callbacks.models import CallbackEvent, CallbackFingerprint


class DuplicateCallback(Exception):
    """Raised inside the recording transaction, so everything the retry did is rolled back."""

    def __init__(self, first_id: int):
        super().__init__(f"duplicate of callback {first_id}")
        self.first_id = first_id


def fingerprint(event: CallbackEvent, params: list[tuple[str, str]]) -> str:
    """The same for the same endpoint, kind and parameters, in whatever order or method."""
    identity = [event.endpoint_id, event.kind, sorted(params)]
    return hashlib.sha256(json.dumps(identity, ensure_ascii=False).encode()).hexdigest()


# One statement, the same on PostgreSQL and SQLite (3.35+): insert, or take over an expired
# claim; RETURNING yields a row only when this event holds the claim now.
CLAIM = """
INSERT INTO {table} (fingerprint, event_id, expires_at) VALUES (%s, %s, %s)
ON CONFLICT (fingerprint) DO UPDATE
    SET event_id = excluded.event_id, expires_at = excluded.expires_at
    WHERE {table}.expires_at <= %s
RETURNING event_id
"""


def claim_first(event: CallbackEvent, params: list[tuple[str, str]], window: int) -> None:
    """Claim these parameters for the saved event, or raise DuplicateCallback.

    Call inside the transaction that saves the event; with a window of 0, nothing is asked.
    """
    if window <= 0:
        return
    key = fingerprint(event, params)
    ops = connection.ops
    since = event.received_at
    until = since + timedelta(seconds=window)
    sql = CLAIM.format(table=ops.quote_name(CallbackFingerprint._meta.db_table))
    values = [key, event.pk, ops.adapt_datetimefield_value(until)]
    with connection.cursor() as cursor:
        cursor.execute(sql, [*values, ops.adapt_datetimefield_value(since)])
        if cursor.fetchone() is not None:
            return
    first_id = (
        CallbackFingerprint.objects.filter(fingerprint=key).values_list("event_id", flat=True)
    ).get()
    raise DuplicateCallback(first_id)
