"""Poll results: votes, unique voters and shares per choice, as the admin and API show them."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection
from django.db.models import Count, F, Max, Min, QuerySet, Window
from django.db.models.functions import RowNumber, Trunc
from django.utils import timezone

from campaigns.models import Campaign, PollChoice, PollResponse
from subscribers.models import Subscriber


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
    choices: list[ChoiceResult]  # set up by a marketer or made from a callback's reply
    votes: int
    voters: int

    @property
    def configured(self) -> list[ChoiceResult]:
        """The choices a marketer set up."""
        return [r for r in self.choices if not r.choice.from_callback]

    @property
    def unmatched(self) -> list[ChoiceResult]:
        """The choices made from callbacks' replies that matched none."""
        return [r for r in self.choices if r.choice.from_callback]


def responses_in_range(campaign, since=None, until=None, *, subscribers=None) -> QuerySet:
    """A poll's votes received in [since, until), of `subscribers` only when given (a
    queryset of subscribers, e.g. a segment's)."""
    responses = PollResponse.objects.filter(campaign=campaign)
    if subscribers is not None:
        responses = responses.filter(subscriber__in=subscribers.values("pk"))
    if since:
        responses = responses.filter(received_at__gte=since)
    if until:
        responses = responses.filter(received_at__lt=until)
    return responses


def counted_responses(
    campaign, counting=Counting.ALL, since=None, until=None, *, subscribers=None
) -> QuerySet:
    """The responses that count, as a queryset (simple and portable; the pages below use
    faster shapes of the same rules on PostgreSQL)."""
    responses = responses_in_range(campaign, since, until, subscribers=subscribers)
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


def _where(campaign, since, until, subscribers=None) -> tuple[str, list]:
    where, params = ["campaign_id = %s"], [campaign.pk]
    if subscribers is not None:
        sql, sql_params = subscribers.values("pk").query.sql_with_params()
        where.append(f"subscriber_id IN ({sql})")
        params.extend(sql_params)
    if since:
        where.append("received_at >= %s")
        params.append(since)
    if until:
        where.append("received_at < %s")
        params.append(until)
    return " AND ".join(where), params


def _latest_votes_sql(campaign, since, until, subscribers=None) -> tuple[str, list]:
    """PostgreSQL: each subscriber's latest vote in the range, one row per subscriber.

    DISTINCT ON walks the pollresponse_latest_vote index in order, so the rule costs one
    index-only scan instead of a window over a sort.
    """
    where, params = _where(campaign, since, until, subscribers)
    sql = (
        f"SELECT DISTINCT ON (subscriber_id) choice_id, received_at "  # noqa: S608
        f"FROM {PollResponse._meta.db_table} WHERE {where} "
        "ORDER BY subscriber_id, received_at DESC, id DESC"
    )
    return sql, params


def _use_sql() -> bool:
    return connection.vendor == "postgresql"


def _fetch(sql: str, params: list) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _tally_sql(campaign, counting, since, until, subscribers=None) -> tuple[dict, int]:
    """PostgreSQL: the same figures as _tally_orm(), in shapes that stream over an index."""
    latest, params = _latest_votes_sql(campaign, since, until, subscribers)
    if counting == Counting.LATEST:
        rows = _fetch(f"SELECT choice_id, COUNT(*) FROM ({latest}) l GROUP BY 1", params)  # noqa: S608
        # One vote per subscriber: a choice's votes are its voters.
        return {choice: (n, n) for choice, n in rows}, sum(n for _, n in rows)
    where, params_all = _where(campaign, since, until, subscribers)
    # Group by (choice, subscriber) first: votes and voters then come from one pass in the
    # order of pollresponse_choice_voters, where COUNT(DISTINCT) would sort every group.
    rows = _fetch(
        f"SELECT choice_id, SUM(n), COUNT(*) FROM (SELECT choice_id, subscriber_id, "  # noqa: S608
        f"COUNT(*) AS n FROM {PollResponse._meta.db_table} WHERE {where} GROUP BY 1, 2) pairs "
        "GROUP BY 1",
        params_all,
    )
    voters = _fetch(f"SELECT COUNT(*) FROM ({latest}) l", params)[0][0]  # noqa: S608
    return {choice: (int(votes), n) for choice, votes, n in rows}, voters


def _tally_orm(campaign, counting, since, until, subscribers=None) -> tuple[dict, int]:
    responses = counted_responses(campaign, counting, since, until, subscribers=subscribers)
    counts = {
        row["choice"]: (row["votes"], row["voters"])
        for row in responses.values("choice")
        .annotate(votes=Count("id"), voters=Count("subscriber", distinct=True))
        .order_by()
    }
    voters = responses_in_range(campaign, since, until, subscribers=subscribers)
    voters = voters.values("subscriber").distinct().count()
    return counts, voters


def _tally(campaign, counting, since, until, subscribers=None) -> tuple[dict, int]:
    """({choice id: (votes, voters)}, voters overall)."""
    if _use_sql():
        return _tally_sql(campaign, counting, since, until, subscribers)
    return _tally_orm(campaign, counting, since, until, subscribers)


def poll_results(
    campaign, counting=Counting.ALL, since=None, until=None, *, subscribers=None
) -> PollResults:
    """The poll's figures; the votes of `subscribers` only when given (a segment's)."""
    # Replies compare whatever their case: "b" sorts with "B", between "A" and "C".
    choices = sorted(campaign.choices.all(), key=lambda c: (c.order, c.reply.lower()))
    counts, voters = _tally(campaign, counting, since, until, subscribers)
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
        choices=results,
        votes=votes,
        voters=voters,
    )


def _period_starts(first: datetime, end: datetime, unit: str) -> list[datetime]:
    """The start of every hour or day (in the current time zone) from `first` up to `end`."""
    tz = timezone.get_current_timezone()
    start = timezone.localtime(first, tz).replace(minute=0, second=0, microsecond=0, tzinfo=None)
    if unit == "day":
        start = start.replace(hour=0)
    step = timedelta(hours=1) if unit == "hour" else timedelta(days=1)
    starts = []
    # Stepping in local wall time keeps days whole across daylight-saving changes.
    while (period := timezone.make_aware(start, tz)) < end:
        starts.append(period)
        start += step
    return starts


def _votes_per_period_sql(campaign, unit, first, until, last) -> list[dict]:
    """PostgreSQL, every vote: one indexed range count per period.

    Grouping by date_trunc() sorted every vote of the range (the planner expects as many
    groups as timestamps, so it will not hash); counting each period's slice of the
    (campaign, received_at) index reads the same entries once, in order, with no sort.
    """
    end = until or last + timedelta(microseconds=1)
    starts = _period_starts(first, end, unit)
    # Each slice is clipped to the range: the first period may start before `since`.
    lows = [max(start, first) for start in starts]
    highs = [min(start, end) for start in starts[1:]] + [end]
    rows = _fetch(
        f"SELECT (SELECT COUNT(*) FROM {PollResponse._meta.db_table} "  # noqa: S608
        "WHERE campaign_id = %s AND received_at >= low AND received_at < high) "
        "FROM unnest(%s::timestamptz[], %s::timestamptz[]) WITH ORDINALITY AS p(low, high, n) "
        "ORDER BY n",
        [campaign.pk, lows, highs],
    )
    # As the grouped query: only periods with votes.
    return [{"period": start, "votes": n} for start, (n,) in zip(starts, rows, strict=True) if n]


def votes_over_time(
    campaign, counting=Counting.ALL, since=None, until=None, *, subscribers=None
) -> list[dict]:
    """[{"period": datetime, "votes": n}], hourly for ranges up to three days, else daily."""
    first, last = since, until
    if first is None or last is None:
        # The span of the votes received decides the unit; one cheap indexed query.
        bounds = responses_in_range(campaign, since, until, subscribers=subscribers).aggregate(
            first=Min("received_at"), last=Max("received_at")
        )
        first, last = first or bounds["first"], last or bounds["last"]
    unit = "hour" if first and last and last - first <= timedelta(days=3) else "day"
    if counting == Counting.ALL and _use_sql() and first and last and subscribers is None:
        return _votes_per_period_sql(campaign, unit, since or first, until, last)
    if counting == Counting.LATEST and _use_sql():
        tz = timezone.get_current_timezone()
        latest, params = _latest_votes_sql(campaign, since, until, subscribers)
        rows = _fetch(
            "SELECT date_trunc(%s, received_at AT TIME ZONE %s) AS period, COUNT(*) "  # noqa: S608
            f"FROM ({latest}) l GROUP BY 1 ORDER BY 1",
            [unit, str(tz), *params],
        )
        return [{"period": timezone.make_aware(period, tz), "votes": n} for period, n in rows]
    return list(
        counted_responses(campaign, counting, since, until, subscribers=subscribers)
        .annotate(period=Trunc("received_at", unit))
        .values("period")
        .annotate(votes=Count("id"))
        .order_by("period")
    )


@dataclass(frozen=True)
class Timeline:
    unit: str  # "hour" or "day"
    periods: list[datetime]  # every period's start, in the current time zone, gaps included
    votes: dict[int, list[int]]  # choice id -> votes per period


def timeline_by_choice(
    campaign, counting=Counting.ALL, since=None, until=None, *, subscribers=None
) -> Timeline:
    """Votes per hour (ranges up to three days) or day, one series per choice."""
    bounds = responses_in_range(campaign, since, until, subscribers=subscribers).aggregate(
        first=Min("received_at"), last=Max("received_at")
    )
    if bounds["first"] is None:
        return Timeline("day", [], {})
    first, last = since or bounds["first"], until or bounds["last"]
    unit = "hour" if last - first <= timedelta(days=3) else "day"
    periods = _period_starts(first, until or bounds["last"] + timedelta(microseconds=1), unit)
    index = {period: n for n, period in enumerate(periods)}
    votes: dict[int, list[int]] = {}
    rows = (
        counted_responses(campaign, counting, since, until, subscribers=subscribers)
        .annotate(period=Trunc("received_at", unit))
        .values_list("period", "choice")
        .annotate(n=Count("id"))
        .order_by()
    )
    for period, choice, n in rows:
        series = votes.setdefault(choice, [0] * len(periods))
        series[index[timezone.localtime(period)]] += n
    return Timeline(unit, periods, votes)


def new_and_returning(campaign, since=None, until=None, *, subscribers=None) -> tuple[int, int]:
    """(new, returning) voters in the range: new ones were first seen by the CRM in the range
    (or, over all time, since the poll's first vote); returning ones knew us before."""
    votes = responses_in_range(campaign, since, until, subscribers=subscribers)
    start = since or votes.aggregate(first=Min("received_at"))["first"]
    if start is None:
        return 0, 0
    voters = votes.values("subscriber").distinct()
    total = voters.count()
    new = Subscriber.objects.filter(id__in=voters, first_seen_at__gte=start).count()
    return new, total - new
