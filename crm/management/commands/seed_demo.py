import random
from datetime import timedelta
from urllib.parse import urlencode

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from callbacks.models import CallbackEvent, Endpoint
from callbacks.processing import process
from callbacks.simulator import DEFAULT_CHOICES, Campaigns, Traffic
from campaigns.models import Campaign, Kind

# Callbacks by hour of the day: quiet nights, a lunch peak, a bigger evening one.
# Polls draw the most callbacks.
MIX = (Kind.POLL, Kind.POLL, Kind.INFO, Kind.FORM)
HOURLY = [1, 1, 1, 1, 1, 2, 3, 5, 6, 7, 8, 9, 12, 11, 8, 7, 8, 10, 14, 16, 14, 10, 6, 3]


def demo_campaigns(campaigns: Campaigns) -> None:
    """A poll with labelled choices, a Text-4-Info keyword with its reply, a web form."""
    poll, _ = Campaign.objects.get_or_create(
        shortcode=campaigns.shortcode,
        keyword=campaigns.poll_keyword,
        defaults={"kind": Kind.POLL, "name": "Where should we open next?"},
    )
    for order, choice in enumerate(campaigns.choices, start=1):
        poll.choices.get_or_create(
            reply=choice.reply, defaults={"label": choice.label, "order": order}
        )
    Campaign.objects.get_or_create(
        shortcode="",
        keyword=campaigns.info_keyword,
        defaults={
            "kind": Kind.INFO,
            "name": "Opening hours",
            "reply_text": "Open 9am-9pm Mon-Sat, 11am-6pm Sun. Reply STOP to end.",
        },
    )
    Campaign.objects.get_or_create(
        shortcode=campaigns.shortcode,
        keyword=campaigns.form_keyword,
        defaults={"kind": Kind.FORM, "name": "Summer club sign-up"},
    )


def past_times(count: int, days: int, rng: random.Random) -> list:
    """`count` moments over the last `days` days: more each day, by the hour of the day."""
    now = timezone.now()
    day_weights = [1 + d for d in range(days)]  # a campaign that grows
    times = []
    for _ in range(count):
        day = rng.choices(range(days), weights=day_weights)[0]
        hour = rng.choices(range(24), weights=HOURLY)[0]
        start = (now - timedelta(days=days - day)).replace(hour=hour, minute=0, second=0)
        times.append(start + timedelta(seconds=rng.randrange(3600)))
    return sorted(t for t in times if t < now)


class Command(BaseCommand):
    help = (
        "Sample campaigns and a history of callbacks for `make demo`; prints the demo "
        "endpoint's three callback URLs."
    )

    def add_arguments(self, parser):
        parser.add_argument("--base-url", default="http://localhost:8000")
        parser.add_argument("--history", type=int, default=400, help="back-dated callbacks")
        parser.add_argument("--days", type=int, default=14, help="spread over this many days")
        parser.add_argument("--seed", type=int, default=2026)

    def handle(self, *args, base_url, history, days, seed, **options):
        if days < 1 or history < 0:
            raise CommandError("--days must be at least 1 and --history not negative")
        campaigns = Campaigns(choices=DEFAULT_CHOICES)
        demo_campaigns(campaigns)
        endpoint, _ = Endpoint.objects.get_or_create(name="Demo")
        traffic = Traffic(campaigns, seed=seed)
        # History goes through the pipeline every callback takes (process()), with the time
        # it would have arrived at: the rows are what those callbacks would have made.
        # One commit for the whole history (each process() is then a savepoint).
        with transaction.atomic():
            for at in past_times(history, days, traffic.random):
                kind = traffic.random.choice(MIX)
                query = urlencode(traffic.params(kind))
                event = CallbackEvent(
                    endpoint=endpoint, kind=kind, method="GET", query_string=query, received_at=at
                )
                process(event)
        for kind in (Kind.FORM, Kind.POLL, Kind.INFO):
            self.stdout.write(base_url.rstrip("/") + endpoint.url_path(kind))
