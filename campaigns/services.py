"""What a callback does to the data: the callback pipeline (callbacks.processing) records every
event here, whether it arrives live or is processed again."""

from collections.abc import Callable
from dataclasses import dataclass

from django.db import connection

from campaigns import catalog
from campaigns.models import (
    Campaign,
    FormSubmission,
    InfoRequest,
    Kind,
    PollChoice,
    PollResponse,
    Response,
)
from lib.models import insert, insert_statement
from subscribers.models import Subscriber


@dataclass(frozen=True)
class Target:
    """Where a callback lands: its campaign and, for a vote, its choice."""

    campaign: Campaign
    choice: PollChoice | None = None


def target(callback, found: catalog.Lookups | None = None) -> Target:
    """The campaign (and choice) of a parsed callback, made for review when nobody set it up.

    Run it before the write transaction opens: it reads from the process's lookups (`found`,
    or those of the version now), and on a miss it queries (or creates, in its own short
    transaction) without holding a lock.
    """
    if found is None:
        found = catalog.lookups()
    campaign = found.campaign(callback.kind, callback.shortcode, callback.keyword)
    if callback.kind != Kind.POLL:
        return Target(campaign)
    return Target(campaign, found.choice(campaign, callback.reply, callback.label))


def response_row(event, callback, target: Target) -> Response:
    """The unsaved row a callback adds, all but its subscriber."""
    common = {
        "campaign": target.campaign,
        "received_at": event.received_at,
        "extras": callback.extras,
    }
    if callback.kind == Kind.POLL:
        return PollResponse(
            choice=target.choice, reply=callback.reply, label=callback.label, **common
        )
    if callback.kind == Kind.INFO:
        return InfoRequest(message=callback.message, **common)
    return FormSubmission(fields=callback.fields, **common)


def upsert_subscriber_sql(event, callback, **compose) -> tuple[str, list]:
    """The subscriber's upsert; `compose`: upsert_sql()'s source and returning."""
    return Subscriber.objects.upsert_sql(**subscriber_values(event, callback), **compose)


def upsert_subscriber_params(event, callback) -> list:
    """upsert_subscriber_sql()'s parameters alone."""
    return Subscriber.objects.upsert_params(**subscriber_values(event, callback))


def subscriber_values(event, callback) -> dict:
    """What a callback says of its subscriber, as the upsert takes it."""
    return {
        "mobile": callback.mobile,
        "country": callback.country,
        "carrier": callback.carrier,
        "fields": callback.fields,
        "seen_at": event.received_at,
    }


def record(event, callback, target: Target) -> Callable[[], Response]:
    """Record a parsed callback: upsert its subscriber, add the response row.

    Returns the function that writes them, its statements made now: call it inside the
    pipeline's transaction, after the event's own INSERT. Two statements, the subscriber's
    upsert (which locks its row until the transaction ends) and the response's insert, on
    the cursor: no model is built for the subscriber, and nothing is compiled while
    SQLite's write lock is held.
    """
    row = response_row(event, callback, target)
    upsert = upsert_subscriber_sql(event, callback, returning="id")
    sql, values = insert_statement(row, connection, later=("subscriber_id", "callback_id"))

    def write() -> Response:
        with connection.cursor() as cursor:
            cursor.execute(*upsert)
            # `created`: the upsert inserted the subscriber (webhooks tell created from changed).
            row.subscriber_id, row.subscriber_created = cursor.fetchone()
        row.callback = event
        insert(row, connection, (sql, [*values, row.subscriber_id, event.pk]))
        return row

    return write
