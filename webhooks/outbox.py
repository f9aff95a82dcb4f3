"""Events into the outbox, in the callback's own transaction, only for kinds someone wants.

The hot path pays one dictionary lookup when nobody subscribed (and PostgreSQL then records a
callback in one statement with no transaction, see callbacks.signals.writers): the subscribed
kinds are read from the database at most every CACHE_SECONDS per process (and at once in the
process that changes a subscription), so a new subscription gets events within that time.
"""

import json
import time

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.utils import timezone

from campaigns.api import FormSubmissionSerializer, InfoRequestSerializer, PollResponseSerializer
from campaigns.models import FormSubmission, InfoRequest, PollResponse, Response
from subscribers.api import SubscriberSerializer
from webhooks.models import Delivery, EventKind, Subscription

CACHE_SECONDS = 5.0
EVENTS = {
    PollResponse: (EventKind.POLL_RESPONSE, PollResponseSerializer),
    InfoRequest: (EventKind.INFO_REQUEST, InfoRequestSerializer),
    FormSubmission: (EventKind.FORM_SUBMISSION, FormSubmissionSerializer),
}

_cache: dict = {"until": 0.0, "kinds": {}}


def subscribed_kinds() -> dict[str, list[int]]:
    """{event kind: [subscription ids]} of enabled subscriptions, cached CACHE_SECONDS."""
    if time.monotonic() >= _cache["until"]:
        kinds: dict[str, list[int]] = {}
        for pk, wanted in Subscription.objects.filter(enabled=True).values_list("pk", "kinds"):
            for kind in wanted or ():
                kinds.setdefault(kind, []).append(pk)
        _cache.update(kinds=kinds, until=time.monotonic() + CACHE_SECONDS)
    return _cache["kinds"]


def anyone_subscribed() -> bool:
    """Whether enqueue_recorded() would write for a callback now (callbacks.signals.writers):
    with no subscription, callbacks are recorded without a transaction around them."""
    return bool(subscribed_kinds())


@receiver([post_save, post_delete], sender=Subscription)
def forget_subscribed_kinds(**kwargs) -> None:
    _cache["until"] = 0.0


def event_body(kind: str, data: dict) -> str:
    return json.dumps(
        {"type": kind, "timestamp": timezone.now().isoformat(), "data": data},
        separators=(",", ":"),
        ensure_ascii=False,
    )


def enqueue_recorded(sender, response: Response, **kwargs) -> None:
    """callbacks.signals.recorded: a delivery per subscription wanting what was recorded."""
    wanted = subscribed_kinds()
    if not wanted:
        return
    kind, serializer = EVENTS[type(response)]
    events = [(kind, lambda: serializer(response).data)]
    subscriber = response.subscriber
    # Set by campaigns.services.record() from the upsert's own RETURNING.
    subscriber_kind = (
        EventKind.SUBSCRIBER_CREATED
        if getattr(response, "subscriber_created", False)
        else EventKind.SUBSCRIBER_CHANGED
    )
    events.append((subscriber_kind, lambda: SubscriberSerializer(subscriber).data))
    deliveries = []
    for event_kind, data in events:
        targets = wanted.get(event_kind, ())
        if targets:
            body = event_body(event_kind, data())
            deliveries += [
                Delivery(subscription_id=pk, kind=event_kind, body=body) for pk in targets
            ]
    if not deliveries:
        return
    # The cache may name a subscription another process has since deleted or disabled: a
    # delivery for it would fail the callback's transaction (foreign key).
    live = set(
        Subscription.objects.filter(
            pk__in={delivery.subscription_id for delivery in deliveries}, enabled=True
        ).values_list("pk", flat=True)
    )
    deliveries = [delivery for delivery in deliveries if delivery.subscription_id in live]
    for delivery in deliveries:
        delivery.message_id = Delivery.new_message_id()
    Delivery.objects.bulk_create(deliveries)
