"""What the callback pipeline tells the layers above it, without importing them."""

from collections.abc import Callable

from django.dispatch import Signal

# Sent by callbacks.processing.process() inside the callback's transaction, once the rows are
# recorded, with `response` (a PollResponse, InfoRequest or FormSubmission). A receiver that
# writes rows writes them in that transaction: they commit, or roll back, with the callback.
recorded = Signal()

# A receiver of `recorded` that may write rows also registers here a function telling whether
# it would write now (cheaply: the hot path asks for every callback). When none would, the
# pipeline may record a callback in one statement with no transaction around it (PostgreSQL),
# and sends no `recorded` for it.
writers: list[Callable[[], bool]] = []


def anyone_writes() -> bool:
    return any(would_write() for would_write in writers)
