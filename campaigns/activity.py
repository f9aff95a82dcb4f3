"""What one subscriber did across every campaign, newest first."""

from heapq import merge
from itertools import islice

from subscribers.models import Subscriber

TIMELINE_LENGTH = 50


def latest(what: str, rows, limit: int):
    return ((what, row) for row in rows.order_by("-received_at", "-id")[:limit])


def timeline(subscriber: Subscriber, limit: int = TIMELINE_LENGTH) -> list[tuple[str, object]]:
    """What the subscriber did, newest first, as (what, row): the latest `limit` of votes, info
    requests and form submissions together. Three bounded queries, whatever their history."""
    newest_first = merge(
        latest("Vote", subscriber.pollresponses.select_related("campaign", "choice"), limit),
        latest("Info request", subscriber.inforequests.select_related("campaign"), limit),
        latest("Form", subscriber.formsubmissions.select_related("campaign"), limit),
        key=lambda entry: entry[1].received_at,
        reverse=True,
    )
    return list(islice(newest_first, limit))
