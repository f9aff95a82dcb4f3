"""A large, realistic data set for trying the admin and measuring it (docs/benchmarks-admin.md).

Every response row needs its own raw CallbackEvent (one-to-one), so the data set holds one
callback event per poll response, info request and form submission. `--callbacks` counts the
callbacks that are *not* poll votes: info requests, form submissions, and rejected or failed
requests that produced no row.
"""

import random
import time
from datetime import timedelta
from urllib.parse import urlencode

from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.utils import timezone

from callbacks.models import CallbackEvent, Endpoint, Outcome
from campaigns.models import Campaign, FormSubmission, InfoRequest, Kind, PollChoice, PollResponse
from subscribers.models import Subscriber

BATCH = 5000
DAYS = 60
AREA_CODES = ("212", "305", "415", "646", "702", "813", "917", "312", "404", "617")
CARRIERS = ("Verizon", "AT&T", "T-Mobile", "US Cellular", "")
FIRST_NAMES = ("Ana", "Ben", "Chloe", "Dev", "Eli", "Fatima", "Gus", "Hana", "Ivan", "Jo")
POLLS = {
    "VOTE": ("Best city", ["Tampa", "Miami", "Orlando", "Jacksonville"]),
    "PICK": ("Song of the summer", ["Track one", "Track two", "Track three"]),
    "MVP": ("Player of the game", ["Jones", "Smith", "Garcia", "Lee", "Brown"]),
    "FLAVOR": ("Next flavour", ["Mango", "Lime", "Cherry"]),
    "RATE": ("Rate the show", ["1", "2", "3", "4", "5"]),
}
INFOS = ("HOURS", "MENU", "DEALS")
FORMS = ("JOIN", "VIP", "WIN")
SHORTCODE = "12345"


def mobile_number(i: int) -> str:
    """The i-th demo number: distinct for every i below 10 area codes x 800 exchanges x 10,000."""
    area = AREA_CODES[i % len(AREA_CODES)]
    rest = i // len(AREA_CODES)
    return f"+1{area}{200 + rest // 10_000}{rest % 10_000:04d}"


class Generator:
    def __init__(self, subscribers: int, seed: int):
        self.rng = random.Random(seed)
        self.now = timezone.now().replace(microsecond=0)
        self.start = self.now - timedelta(days=DAYS)
        self.subscribers = subscribers
        self.endpoint = Endpoint.objects.create(name="Demo data")
        self.subscriber_ids: list[int] = []

    def moment(self, position: float) -> timezone.datetime:
        """A time at `position` (0..1) through the period, jittered by up to an hour."""
        seconds = position * DAYS * 86400 + self.rng.uniform(-3600, 0)
        return self.start + timedelta(seconds=max(seconds, 0))

    def make_subscribers(self) -> None:
        rng = self.rng
        for first in range(0, self.subscribers, BATCH):
            rows = []
            for i in range(first, min(first + BATCH, self.subscribers)):
                seen = self.start + timedelta(seconds=rng.uniform(0, DAYS * 86400))
                fields = {}
                if rng.random() < 0.4:
                    fields = {"first_name": rng.choice(FIRST_NAMES), "zip": "33602"}
                rows.append(
                    Subscriber(
                        mobile=mobile_number(i),
                        country="US",
                        carrier=rng.choice(CARRIERS),
                        fields=fields,
                        first_seen_at=seen,
                        last_seen_at=min(seen + timedelta(days=rng.uniform(0, 20)), self.now),
                    )
                )
            self.subscriber_ids += [s.pk for s in Subscriber.objects.bulk_create(rows)]

    def a_subscriber(self) -> int:
        """The index of a subscriber: a few text far more than the rest, as on a real short code."""
        return int(len(self.subscriber_ids) * self.rng.random() ** 2)

    def make_campaigns(self) -> tuple[list, list, list]:
        polls = []
        for keyword, (name, labels) in POLLS.items():
            campaign = Campaign.objects.create(
                shortcode=SHORTCODE, keyword=keyword, kind=Kind.POLL, name=name
            )
            choices = PollChoice.objects.bulk_create(
                PollChoice(campaign=campaign, reply=chr(65 + n), label=label, order=n)
                for n, label in enumerate(labels)
            )
            # Replies that matched no configured choice, as record() makes them.
            choices += PollChoice.objects.bulk_create(
                PollChoice(
                    campaign=campaign, reply=reply, label=reply, order=1000, from_callback=True
                )
                for reply in ("Z", "yes", "?")
            )
            weights = [self.rng.uniform(1, 5) for _ in labels] + [0.05, 0.03, 0.02]
            polls.append((campaign, choices, weights))
        infos = [
            Campaign.objects.create(keyword=k, kind=Kind.INFO, name=k.title(), reply_text="See you")
            for k in INFOS
        ]
        forms = [
            Campaign.objects.create(shortcode=SHORTCODE, keyword=k, kind=Kind.FORM, name=k.title())
            for k in FORMS
        ]
        return polls, infos, forms

    def event(self, kind: str, at, params: dict, outcome=Outcome.PROCESSED) -> CallbackEvent:
        return CallbackEvent(
            endpoint=self.endpoint,
            kind=kind,
            method="GET",
            query_string=urlencode(params),
            remote_addr="203.0.113.7",
            received_at=at,
            outcome=outcome,
            reason="missing mobile" if outcome == Outcome.REJECTED else "",
        )

    def make_votes(self, total: int, polls: list) -> None:
        rng = self.rng
        campaign_weights = [len(polls) - n for n in range(len(polls))]
        for first in range(0, total, BATCH):
            size = min(BATCH, total - first)
            rows = []
            for n in range(size):
                campaign, choices, weights = rng.choices(polls, campaign_weights)[0]
                choice = rng.choices(choices, weights)[0]
                at = self.moment((first + n) / total)
                rows.append((campaign, choice, self.a_subscriber(), at))
            events = [
                self.event(
                    Kind.POLL,
                    at,
                    {"mobile": mobile_number(s), "shortcode": SHORTCODE, "key": c.keyword}
                    | {"reply": ch.reply, "label": ch.label},
                )
                for c, ch, s, at in rows
            ]
            with transaction.atomic():
                CallbackEvent.objects.bulk_create(events)
                PollResponse.objects.bulk_create(
                    PollResponse(
                        campaign=c,
                        choice=ch,
                        subscriber_id=self.subscriber_ids[s],
                        callback=e,
                        received_at=at,
                        reply=ch.reply,
                        label=ch.label,
                    )
                    for (c, ch, s, at), e in zip(rows, events, strict=True)
                )

    def make_other_callbacks(self, total: int, infos: list, forms: list) -> None:
        """Info requests and form submissions, and a few rejected or failed requests."""
        rng = self.rng
        for first in range(0, total, BATCH):
            size = min(BATCH, total - first)
            events, infos_rows, form_rows = [], [], []
            for n in range(size):
                at = self.moment((first + n) / total)
                roll = rng.random()
                if roll < 0.05:
                    events.append(self.event(Kind.POLL, at, {"key": "VOTE"}, Outcome.REJECTED))
                elif roll < 0.06:
                    events.append(self.event(Kind.FORM, at, {"key": "JOIN"}, Outcome.FAILED))
                elif roll < 0.53:
                    campaign = rng.choice(infos)
                    event = self.event(Kind.INFO, at, {"lead": campaign.keyword, "msg": "info pls"})
                    events.append(event)
                    infos_rows.append((campaign, event))
                else:
                    campaign = rng.choice(forms)
                    fields = {"first_name": rng.choice(FIRST_NAMES), "email_opt_in": "yes"}
                    event = self.event(Kind.FORM, at, {"key": campaign.keyword, **fields})
                    events.append(event)
                    form_rows.append((campaign, event, fields))
            with transaction.atomic():
                CallbackEvent.objects.bulk_create(events)
                InfoRequest.objects.bulk_create(
                    InfoRequest(
                        campaign=c,
                        subscriber_id=self.subscriber_ids[self.a_subscriber()],
                        callback=e,
                        received_at=e.received_at,
                        message="info pls",
                    )
                    for c, e in infos_rows
                )
                FormSubmission.objects.bulk_create(
                    FormSubmission(
                        campaign=c,
                        subscriber_id=self.subscriber_ids[self.a_subscriber()],
                        callback=e,
                        received_at=e.received_at,
                        fields=fields,
                    )
                    for c, e, fields in form_rows
                )


class Command(BaseCommand):
    help = "Fill an empty database with a large demo data set (bulk inserts)."

    def add_arguments(self, parser):
        parser.add_argument("--responses", type=int, default=10_000, help="poll responses")
        parser.add_argument("--subscribers", type=int, default=2_000)
        parser.add_argument(
            "--callbacks", type=int, default=1_000, help="callbacks besides the poll votes"
        )
        parser.add_argument("--seed", type=int, default=1)

    def handle(self, *args, **options):
        if Subscriber.objects.exists():
            raise CommandError("The database already has subscribers: use an empty one.")
        if options["subscribers"] < 1:
            raise CommandError("--subscribers must be at least 1.")
        started = time.monotonic()
        generator = Generator(options["subscribers"], options["seed"])
        generator.make_subscribers()
        polls, infos, forms = generator.make_campaigns()
        generator.make_votes(options["responses"], polls)
        generator.make_other_callbacks(options["callbacks"], infos, forms)
        if connection.vendor == "postgresql" and not connection.in_atomic_block:
            # Fresh statistics and visibility map, as autovacuum would leave them.
            with connection.cursor() as cursor:
                cursor.execute("VACUUM ANALYZE")
        return (
            f"{options['subscribers']} subscribers, {options['responses']} poll responses, "
            f"{options['callbacks']} other callbacks in {time.monotonic() - started:.0f} s"
        )
