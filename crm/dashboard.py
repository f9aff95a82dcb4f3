"""What the admin home shows at a glance: the figures a marketer checks every morning.

Every figure is read over an indexed range (a day, a week, 48 hours) or from PostgreSQL's own
estimate of a table's size, so the page costs the same at a thousand rows as at a million.
"""

import json
from collections import Counter, defaultdict
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta

from django.db.models import Count, Sum
from django.db.models.functions import TruncDate, TruncHour
from django.http import HttpRequest
from django.utils import timezone

from callbacks.models import CallbackEvent, Endpoint, Outcome
from campaigns.models import Campaign, FormSubmission, InfoRequest, Kind, PollTally
from lib.admin_lists import estimated_rows
from subscribers.models import Subscriber

BUSIEST_CAMPAIGNS = 6
REVIEW_LIST = 10
SIGNUP_DAYS = 30
CALLBACK_HOURS = 48
TREND_DAYS = 7
# Above this many rows the total is PostgreSQL's estimate: counting would read them all.
EXACT_COUNT_LIMIT = 100_000


@dataclass(frozen=True)
class Total:
    value: int
    estimated: bool


@dataclass(frozen=True)
class Busy:
    campaign: Campaign  # its id until busiest_campaigns() reads the few it shows
    this_week: int
    last_week: int
    daily: list[int]  # responses per day, oldest first, over both weeks

    @property
    def change(self) -> float | None:
        """This week against last week, in percent; None when last week had nothing."""
        if not self.last_week:
            return None
        return 100 * (self.this_week - self.last_week) / self.last_week

    @property
    def sparkline(self) -> str:
        """SVG polyline points for the daily counts in a 100 x 24 box."""
        top = max(self.daily) or 1
        step = 100 / max(len(self.daily) - 1, 1)
        return " ".join(f"{i * step:.1f},{24 - 22 * n / top:.1f}" for i, n in enumerate(self.daily))


def subscriber_total() -> Total:
    estimate = estimated_rows(Subscriber)
    if estimate > EXACT_COUNT_LIMIT:
        return Total(estimate, estimated=True)
    return Total(Subscriber.objects.count(), estimated=False)


def local_midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, timezone.get_current_timezone())


def signups_per_day(today: date, days: int = SIGNUP_DAYS) -> list[tuple[date, int]]:
    """New subscribers (first seen) per local day, the last `days` days, empty days included."""
    first = today - timedelta(days=days - 1)
    counts = dict(
        Subscriber.objects.filter(first_seen_at__gte=local_midnight(first))
        .annotate(day=TruncDate("first_seen_at"))
        .values_list("day")
        .annotate(n=Count("*"))
        .order_by()
    )
    return [
        (first + timedelta(days=n), counts.get(first + timedelta(days=n), 0)) for n in range(days)
    ]


def callbacks_per_hour(now: datetime, hours: int = CALLBACK_HOURS) -> list[tuple[datetime, dict]]:
    """Callbacks per local hour and outcome, the last `hours` hours, empty hours included."""
    tz = timezone.get_current_timezone()
    last = timezone.localtime(now, tz).replace(minute=0, second=0, microsecond=0)
    first = last - timedelta(hours=hours - 1)
    counts: dict = defaultdict(Counter)
    rows = (
        CallbackEvent.objects.filter(received_at__gte=first)
        .annotate(hour=TruncHour("received_at"))
        .values_list("hour", "outcome")
        .annotate(n=Count("*"))
        .order_by()
    )
    for hour, outcome, n in rows:
        counts[timezone.localtime(hour, tz)][outcome] += n
    return [(first + timedelta(hours=n), counts[first + timedelta(hours=n)]) for n in range(hours)]


def problems_since(since: datetime) -> Counter:
    """Rejected and failed callbacks since a time, by outcome: the few rows of the index of
    callbacks not processed, not a week of every callback."""
    rows = (
        CallbackEvent.objects.filter(
            received_at__gte=since, outcome__in=[Outcome.REJECTED, Outcome.FAILED]
        )
        .values_list("outcome")
        .annotate(n=Count("*"))
        .order_by()
    )
    return Counter(dict(rows))


def campaign_activity(first: date) -> dict[int, Counter]:
    """Responses per campaign and local day since `first`, all three kinds together. Votes
    are summed from the poll counters (every zone's days start on a quarter hour): a TV vote
    sends millions, where info requests and forms come in thousands."""
    since = local_midnight(first)
    counted = [
        PollTally.objects.filter(quarter__gte=since)
        .annotate(day=TruncDate("quarter"))
        .values_list("campaign", "day")
        .annotate(n=Sum("votes"))
    ] + [
        model.objects.filter(received_at__gte=since)
        .annotate(day=TruncDate("received_at"))
        .values_list("campaign", "day")
        .annotate(n=Count("*"))
        for model in (InfoRequest, FormSubmission)
    ]
    daily: dict = defaultdict(Counter)
    for rows in counted:
        for campaign, day, n in rows.order_by():
            daily[campaign][day] += n
    return daily


def busiest_campaigns(today: date) -> tuple[list[Busy], int]:
    """The campaigns with the most responses in the last 7 days, with the 7 days before, and
    how many campaigns recorded anything in the last 7 days."""
    days = 2 * TREND_DAYS
    first = today - timedelta(days=days - 1)
    split = first + timedelta(days=TREND_DAYS)
    busy = [
        Busy(
            pk,
            sum(n for day, n in counts.items() if day >= split),
            sum(n for day, n in counts.items() if day < split),
            [counts.get(first + timedelta(days=n), 0) for n in range(days)],
        )
        for pk, counts in campaign_activity(first).items()
    ]
    active = sorted((b for b in busy if b.this_week), key=lambda b: -b.this_week)
    campaigns = Campaign.objects.in_bulk([b.campaign for b in active[:BUSIEST_CAMPAIGNS]])
    top = [replace(b, campaign=campaigns.get(b.campaign)) for b in active[:BUSIEST_CAMPAIGNS]]
    return [b for b in top if b.campaign is not None], len(active)


def chart(labels: list[str], datasets: list[dict]) -> str:
    return json.dumps({"labels": labels, "datasets": datasets})


CHART_OPTIONS = json.dumps(
    {
        "animation": False,
        "responsive": True,
        "maintainAspectRatio": False,
        "plugins": {"legend": {"display": True, "position": "bottom"}},
        "scales": {
            "x": {"stacked": True, "ticks": {"autoSkip": True, "maxRotation": 0}},
            "y": {"stacked": True, "beginAtZero": True, "ticks": {"precision": 0}},
        },
    }
)


def callback_urls(request: HttpRequest) -> list[tuple[Endpoint, list[tuple[str, str]]]]:
    """The URLs to paste into Sumotext, per enabled endpoint: they carry its secret token."""
    return [
        (
            endpoint,
            [
                (label, request.build_absolute_uri(endpoint.url_path(kind)))
                for kind, label in Kind.choices
            ],
        )
        for endpoint in Endpoint.objects.filter(enabled=True)
    ]


def dashboard(request: HttpRequest, now: datetime | None = None) -> dict:
    now = now or timezone.now()
    today = timezone.localdate(now)
    day_ago, week_ago = now - timedelta(days=1), now - timedelta(days=7)
    signups = signups_per_day(today)
    hourly = callbacks_per_hour(now)
    new_week = Subscriber.objects.filter(
        first_seen_at__gte=local_midnight(today - timedelta(days=6))
    )
    problems = problems_since(week_ago)
    busiest, active = busiest_campaigns(today)
    review = Campaign.objects.filter(needs_review=True).order_by("-created_at")
    outcome_colors = {
        Outcome.PROCESSED: "var(--color-primary-600)",
        Outcome.REJECTED: "var(--color-orange-400)",
        Outcome.FAILED: "var(--color-red-600)",
    }
    can_see_urls = request.user.has_perm("callbacks.change_endpoint")
    return {
        "subscribers": subscriber_total(),
        "new_today": signups[-1][1],
        "new_week": new_week.count(),
        "today": today,
        "week_start": today - timedelta(days=6),
        "callbacks_day": CallbackEvent.objects.filter(received_at__gte=day_ago).count(),
        "rejected": problems[Outcome.REJECTED],
        "failed": problems[Outcome.FAILED],
        "active_campaigns": active,
        "busiest": busiest,
        "review_campaigns": list(review[:REVIEW_LIST]),
        "review_count": review.count(),
        "signups_chart": chart(
            [f"{day:%b %-d}" for day, _ in signups],
            [
                {
                    "label": "New subscribers",
                    "data": [n for _, n in signups],
                    "backgroundColor": "var(--color-primary-600)",
                }
            ],
        ),
        "callbacks_chart": chart(
            [f"{hour:%a %H:%M}" for hour, _ in hourly],
            [
                {
                    "label": label,
                    "data": [counts[outcome] for _, counts in hourly],
                    "backgroundColor": outcome_colors.get(outcome, "var(--color-base-400)"),
                }
                for outcome, label in Outcome.choices
            ],
        ),
        "chart_options": CHART_OPTIONS,
        "time_zone": timezone.get_current_timezone_name(),
        "callback_urls": callback_urls(request) if can_see_urls else None,
    }


def dashboard_callback(request: HttpRequest, context: dict) -> dict:
    """Unfold's DASHBOARD_CALLBACK: the admin home's figures, for those who may see callbacks."""
    if request.user.has_perm("callbacks.view_callbackevent"):
        context["dashboard"] = dashboard(request)
    return context
