"""What a callback does to the data: the callback pipeline (callbacks.processing) records every
event here, whether it arrives live or is processed again."""

from campaigns.models import Campaign, FormSubmission, InfoRequest, Kind, PollResponse, Response
from subscribers.models import Subscriber


def record(event, callback) -> Response:
    """Record a parsed callback: find its campaign, upsert its subscriber, add the response row.

    Runs inside the pipeline's transaction: the subscriber row stays locked until it ends.
    """
    campaign = Campaign.objects.for_callback(callback.kind, callback.shortcode, callback.keyword)
    subscriber = Subscriber.objects.upsert(
        callback.mobile,
        country=callback.country,
        carrier=callback.carrier,
        fields=callback.fields,
        seen_at=event.received_at,
    )
    common = {
        "campaign": campaign,
        "subscriber": subscriber,
        "callback": event,
        "received_at": event.received_at,
        "extras": callback.extras,
    }
    if callback.kind == Kind.POLL:
        return PollResponse.objects.create(
            choice=campaign.choice_for(callback.reply, callback.label),
            reply=callback.reply,
            label=callback.label,
            **common,
        )
    if callback.kind == Kind.INFO:
        return InfoRequest.objects.create(message=callback.message, **common)
    return FormSubmission.objects.create(fields=callback.fields, **common)
