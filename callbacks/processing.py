"""The callback pipeline: a stored raw request in, its outcome and the rows it made out.

The view and `reprocess_callbacks` both call process(); it opens its own transaction, so no
caller has to remember to.
"""

import logging

from django.db import transaction

from callbacks.models import CallbackEvent, Outcome
from callbacks.params import read_params
from callbacks.parsing import InvalidCallback, parse
from callbacks.signals import recorded
from campaigns.models import Response
from campaigns.services import record

logger = logging.getLogger(__name__)


def process(event: CallbackEvent) -> Response | None:
    """Parse and record a callback, and save the event with its outcome whatever happens.

    Returns the row it produced, or None when the callback was rejected or failed.
    """
    try:
        callback = parse(event.kind, read_params(event))
    except InvalidCallback as e:
        return reject(event, str(e))
    except Exception as e:
        return fail(event, e)

    adding = event._state.adding
    try:
        with transaction.atomic():
            event.outcome, event.reason = Outcome.PROCESSED, ""
            event.save()
            response = record(event, callback)
            recorded.send(sender=CallbackEvent, response=response)
            return response
    except Exception as e:
        if adding:
            # The event's INSERT was rolled back with the rest: insert it afresh.
            event.pk, event._state.adding = None, True
        return fail(event, e)


def reject(event: CallbackEvent, reason: str) -> None:
    """Invalid input: the sender is told the reason, and the request is kept with it."""
    event.outcome, event.reason = Outcome.REJECTED, reason
    event.save()


def fail(event: CallbackEvent, error: Exception) -> None:
    """Our own error: the raw request is kept, so reprocess_callbacks can process it again."""
    event.outcome, event.reason = Outcome.FAILED, f"{type(error).__name__}: {error}"[:2000]
    event.save()
    logger.exception("callback %s failed", event.pk)
