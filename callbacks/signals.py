"""What the callback pipeline tells the layers above it, without importing them."""

from django.dispatch import Signal

# Sent by callbacks.processing.process() inside the callback's transaction, once the rows are
# recorded, with `response` (a PollResponse, InfoRequest or FormSubmission). A receiver that
# writes rows writes them in that transaction: they commit, or roll back, with the callback.
recorded = Signal()
