"""What the admin home shows at a glance. Each figure is one query over an indexed range."""

from collections import Counter
from datetime import timedelta

from django.db.models import Count, Q
from django.utils import timezone

from callbacks.models import CallbackEvent, Outcome
from campaigns.models import Campaign, FormSubmission, InfoRequest, Kind, PollResponse

ACTIVE_CAMPAIGNS = 5
REVIEW_LIST = 10


def callbacks_by_kind(now) -> list[dict]:
    """Callbacks per kind in the last 24 hours and 7 days."""
    day, week = now - timedelta(days=1), now - timedelta(days=7)
    counts = {
        row["kind"]: row
        for row in CallbackEvent.objects.filter(received_at__gte=week)
        .values("kind")
        .annotate(day=Count("id", filter=Q(received_at__gte=day)), week=Count("id"))
        .order_by()
    }
    return [
        {
            "kind": label,
            "day": counts.get(kind, {}).get("day", 0),
            "week": counts.get(kind, {}).get("week", 0),
        }
        for kind, label in Kind.choices
    ]


def most_active_campaigns(now, limit: int = ACTIVE_CAMPAIGNS) -> list[tuple[Campaign, int]]:
    """Campaigns with the most responses in the last 7 days."""
    since = now - timedelta(days=7)
    totals: Counter = Counter()
    for model in (PollResponse, InfoRequest, FormSubmission):
        rows = (
            model.objects.filter(received_at__gte=since)
            .values("campaign")
            .annotate(n=Count("id"))
            .order_by()
        )
        totals.update({row["campaign"]: row["n"] for row in rows})
    top = totals.most_common(limit)
    campaigns = Campaign.objects.in_bulk([pk for pk, _ in top])
    return [(campaigns[pk], n) for pk, n in top if pk in campaigns]


def dashboard(now=None) -> dict:
    now = now or timezone.now()
    week = now - timedelta(days=7)
    review = Campaign.objects.filter(needs_review=True).order_by("-created_at")
    problems = {
        row["outcome"]: row["n"]
        for row in CallbackEvent.objects.filter(
            received_at__gte=week, outcome__in=[Outcome.REJECTED, Outcome.FAILED]
        )
        .values("outcome")
        .annotate(n=Count("id"))
        .order_by()
    }
    return {
        "callbacks": callbacks_by_kind(now),
        "active_campaigns": most_active_campaigns(now),
        "review_campaigns": list(review[:REVIEW_LIST]),
        "review_count": review.count(),
        "rejected": problems.get(Outcome.REJECTED, 0),
        "failed": problems.get(Outcome.FAILED, 0),
    }
