"""Poll results: votes, unique voters and shares per choice, as the admin and API show them."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection
from django.db.models import Count, F, Max, Min, Q, QuerySet, Sum, Window
from django.db.models.functions import RowNumber, Trunc
from django.utils import timezone

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
    """The responses that count, as a queryset (simple and portable; the pages below use
    faster shapes of the same rules on PostgreSQL)."""
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


def _latest_votes_sql(campaign, since, until) -> tuple[str, list]:
    """PostgreSQL: each subscriber's latest vote in the range, one row per subscriber.

    DISTINCT ON walks the pollresponse_latest_vote index in order, so the rule costs one
    index-only scan instead of a window over a sort.
    """
    where, params = ["campaign_id = %s"], [campaign.pk]
    if since:
        where.append("received_at >= %s")
        params.append(since)
    if until:
        where.append("received_at < %s")
        params.append(until)
    sql = (
        f"SELECT DISTINCT ON (subscriber_id) choice_id, received_at "  # noqa: S608
        f"FROM {PollResponse._meta.db_table} WHERE {' AND '.join(where)} "
        "ORDER BY subscriber_id, received_at DESC, id DESC"
    )
    return sql, params


def _use_latest_sql() -> bool:
    return connection.vendor == "postgresql"


def _tally(campaign, choice_ids, counting, since, until) -> tuple[dict, int]:
    """({choice id: (votes, voters)}, voters overall), in one or two queries."""
    if counting == Counting.LATEST:
        # One vote per subscriber: a choice's votes are its voters.
        if _use_latest_sql():
            inner, params = _latest_votes_sql(campaign, since, until)
            with connection.cursor() as cursor:
                cursor.execute(
                    f"SELECT choice_id, COUNT(*) FROM ({inner}) latest GROUP BY choice_id",  # noqa: S608
                    params,
                )
                votes = dict(cursor.fetchall())
        else:
            votes = dict(
                counted_responses(campaign, counting, since, until)
                .values_list("choice")
                .annotate(n=Count("id"))
                .order_by()
            )
        return {choice: (n, n) for choice, n in votes.items()}, sum(votes.values())

    responses = responses_in_range(campaign, since, until)
    # Group by (choice, subscriber) first: both figures then come from one streamed pass over
    # the pollresponse_choice_voters index, where COUNT(DISTINCT) would sort every group.
    pairs = responses.values("choice", "subscriber").annotate(n=Count("id")).order_by()
    totals = pairs.aggregate(
        **{f"votes_{c}": Sum("n", filter=Q(choice=c)) for c in choice_ids},
        **{f"voters_{c}": Count("subscriber", filter=Q(choice=c)) for c in choice_ids},
    )
    counts = {c: (totals[f"votes_{c}"] or 0, totals[f"voters_{c}"] or 0) for c in choice_ids}
    return counts, responses.values("subscriber").distinct().count()


def poll_results(campaign, counting=Counting.ALL, since=None, until=None) -> PollResults:
    choices = list(campaign.choices.all())
    counts, voters = _tally(campaign, [c.id for c in choices], counting, since, until)
    votes = sum(n for n, _ in counts.values())
    results = [
        ChoiceResult(
            choice=choice,
            votes=counts.get(choice.id, (0, 0))[0],
            voters=counts.get(choice.id, (0, 0))[1],
            share=counts.get(choice.id, (0, 0))[0] / votes if votes else 0.0,
        )
        for choice in choices
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
    first, last = since, until
    if first is None or last is None:
        # The span of the votes received decides the unit; one cheap indexed query.
        bounds = responses_in_range(campaign, since, until).aggregate(
            first=Min("received_at"), last=Max("received_at")
        )
        first, last = first or bounds["first"], last or bounds["last"]
    unit = "hour" if first and last and last - first <= timedelta(days=3) else "day"
    if counting == Counting.LATEST and _use_latest_sql():
        tz = timezone.get_current_timezone()
        inner, params = _latest_votes_sql(campaign, since, until)
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT date_trunc(%s, received_at AT TIME ZONE %s) AS period, COUNT(*) "  # noqa: S608
                f"FROM ({inner}) latest GROUP BY 1 ORDER BY 1",
                [unit, str(tz), *params],
            )
            return [
                {"period": timezone.make_aware(period, tz), "votes": n}
                for period, n in cursor.fetchall()
            ]
    return list(
        counted_responses(campaign, counting, since, until)
        .annotate(period=Trunc("received_at", unit))
        .values("period")
        .annotate(votes=Count("id"))
        .order_by("period")
    )
