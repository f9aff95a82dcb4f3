"""Poll results: votes, unique voters and shares per choice, as the admin and API show them."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, F, Max, Min, QuerySet, Window
from django.db.models.functions import RowNumber, Trunc

from campaigns.models import Campaign, PollChoice, PollResponse


class Counting:
    # Every vote counts, so one subscriber may vote many times.
    ALL = "all"
    # Only each subscriber's latest vote in the range counts: one subscriber, one vote.
    LATEST = "latest"
    choices = [(ALL, "Every vote"), (LATEST, "Each subscriber's latest vote")]


@dataclass(frozen=True)
class ChoiceResult:
    choice: PollChoice
    votes: int
    voters: int
    share: float  # of all votes counted, 0..1


@dataclass(frozen=True)
class PollResults:
    campaign: Campaign
    counting: str
    since: datetime | None
    until: datetime | None
    configured: list[ChoiceResult]  # choices a marketer set up
    unmatched: list[ChoiceResult]  # replies that matched none: choices made from callbacks
    votes: int
    voters: int


def responses_in_range(campaign, since=None, until=None) -> QuerySet:
    responses = PollResponse.objects.filter(campaign=campaign)
    if since:
        responses = responses.filter(received_at__gte=since)
    if until:
        responses = responses.filter(received_at__lt=until)
    return responses


def counted_responses(campaign, counting=Counting.ALL, since=None, until=None) -> QuerySet:
    responses = responses_in_range(campaign, since, until)
    if counting == Counting.LATEST:
        latest = responses.annotate(
            rank=Window(
                RowNumber(),
                partition_by=F("subscriber_id"),
                order_by=[F("received_at").desc(), F("id").desc()],
            )
        ).filter(rank=1)
        responses = PollResponse.objects.filter(id__in=latest.values("id"))
    return responses


def poll_results(campaign, counting=Counting.ALL, since=None, until=None) -> PollResults:
    counts = {
        row["choice"]: row
        for row in counted_responses(campaign, counting, since, until)
        .values("choice")
        .annotate(votes=Count("id"), voters=Count("subscriber", distinct=True))
        .order_by()
    }
    votes = sum(row["votes"] for row in counts.values())
    voters = responses_in_range(campaign, since, until).aggregate(
        n=Count("subscriber", distinct=True)
    )["n"]
    results = [
        ChoiceResult(
            choice=choice,
            votes=counts.get(choice.id, {}).get("votes", 0),
            voters=counts.get(choice.id, {}).get("voters", 0),
            share=counts.get(choice.id, {}).get("votes", 0) / votes if votes else 0.0,
        )
        for choice in campaign.choices.all()
    ]
    return PollResults(
        campaign=campaign,
        counting=counting,
        since=since,
        until=until,
        configured=[r for r in results if not r.choice.from_callback],
        unmatched=[r for r in results if r.choice.from_callback],
        votes=votes,
        voters=voters,
    )


def votes_over_time(campaign, counting=Counting.ALL, since=None, until=None) -> list[dict]:
    """[{"period": datetime, "votes": n}], hourly for ranges up to three days, else daily."""
    responses = counted_responses(campaign, counting, since, until)
    if since is None or until is None:
        # The span of the votes received decides the unit; one cheap indexed query.
        bounds = responses_in_range(campaign, since, until).aggregate(
            first=Min("received_at"), last=Max("received_at")
        )
        since, until = since or bounds["first"], until or bounds["last"]
    hourly = since and until and until - since <= timedelta(days=3)
    return list(
        responses.annotate(period=Trunc("received_at", "hour" if hourly else "day"))
        .values("period")
        .annotate(votes=Count("id"))
        .order_by("period")
    )
