"""What a callback does to the data: the callback pipeline (callbacks.processing) records every
event here, whether it arrives live or is processed again."""

from dataclasses import dataclass

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
from subscribers.models import Subscriber


@dataclass(frozen=True)
class Target:
    """Where a callback lands: its campaign and, for a vote, its choice."""

    campaign: Campaign
    choice: PollChoice | None = None


def target(callback) -> Target:
    """The campaign (and choice) of a parsed callback, made for review when nobody set it up.

    Run it before the write transaction opens: it reads from the process's lookups, and on
    a miss it queries (or creates, in its own short transaction) without holding a lock.
    """
    found = catalog.lookups()
    campaign = found.campaign(callback.kind, callback.shortcode, callback.keyword)
    if callback.kind != Kind.POLL:
        return Target(campaign)
    return Target(campaign, found.choice(campaign, callback.reply, callback.label))


def record(event, callback, target: Target) -> Response:
    """Record a parsed callback: upsert its subscriber, add the response row.

    Runs inside the pipeline's transaction: two statements, the subscriber's upsert (which
    locks its row until the transaction ends) and the response's insert.
    """
    subscriber = Subscriber.objects.upsert(
        callback.mobile,
        country=callback.country,
        carrier=callback.carrier,
        fields=callback.fields,
        seen_at=event.received_at,
    )
    common = {
        "campaign": target.campaign,
        "subscriber": subscriber,
        "callback": event,
        "received_at": event.received_at,
        "extras": callback.extras,
    }
    if callback.kind == Kind.POLL:
        return PollResponse.objects.create(
            choice=target.choice, reply=callback.reply, label=callback.label, **common
        )
    if callback.kind == Kind.INFO:
        return InfoRequest.objects.create(message=callback.message, **common)
    return FormSubmission.objects.create(fields=callback.fields, **common)
