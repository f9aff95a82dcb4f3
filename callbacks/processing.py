"""The callback pipeline: a stored raw request in, its outcome and the rows it made out.

The view and `reprocess_callbacks` both call process(); it opens its own transaction, so no
caller has to remember to.
"""

import logging

from django.db import transaction

from callbacks.dedupe import DuplicateCallback, claim_first
from callbacks.models import CallbackEvent, Outcome
from callbacks.params import read_params
from callbacks.parsing import InvalidCallback, parse
from callbacks.signals import recorded
from campaigns.models import Response
from campaigns.services import record, target

logger = logging.getLogger(__name__)


def process(event: CallbackEvent) -> Response | None:
    """Parse and record a callback, and save the event with its outcome whatever happens.

    Returns the row it produced, or None when the callback was rejected, failed or a duplicate.
    A DatabaseError escapes only when not even the failed event could be saved: the database
    cannot take the callback, and the caller must keep it (the view spools it).
    """
    try:
        params = read_params(event)
        callback = parse(event.kind, params)
    except InvalidCallback as e:
        return reject(event, str(e))
    except Exception as e:
        return fail(event, e)

    adding = event._state.adding
    try:
        # Campaign and choice first, from the process's lookups: the write transaction then
        # holds four statements (event, subscriber upsert, response, duplicate claim) and no
        # savepoint; on SQLite the write lock is held for just these.
        where = target(callback)
        with transaction.atomic():
            event.outcome, event.reason = Outcome.PROCESSED, ""
            event.save()
            row = record(event, callback, where)
            claim_first(event, params, row.campaign.effective_duplicate_window())
            recorded.send(sender=CallbackEvent, response=row)
            return row
    except DuplicateCallback as e:
        if adding:
            event.pk, event._state.adding = None, True
        return mark_duplicate(event, e.first_id)
    except Exception as e:
        if adding:
            # The event's INSERT was rolled back with the rest: insert it afresh.
            event.pk, event._state.adding = None, True
        return fail(event, e)


def reject(event: CallbackEvent, reason: str) -> None:
    """Invalid input: the sender is told the reason, and the request is kept with it."""
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
