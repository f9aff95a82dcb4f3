"""Poll results: votes, unique voters and shares per choice, as the admin and API show them.

The figures come from the counters the database keeps per choice and quarter hour
(campaigns/tallies.py):
every vote over any range; each subscriber's latest vote and distinct voters over any range
that runs to the poll's last vote (the whole poll, "since Monday", live mode). Every time
zone's hours and days start on a quarter hour; edges that do not (a custom range's minutes)
are counted from the responses of those quarter hours only. New voters of a range that runs to
the end come from their own counters (PollNewVoters). On PostgreSQL, a range that ends on a
midnight (in the zone the database counts days in, the site's) before the poll's last vote,
and starts on a quarter hour, reads its latest votes, voters and new voters from the range
counters (PollRangeTally, PollRangeNewVoters): every range the admin page offers. Other ranges
that end before the last vote (an API `until` inside a day, SQLite) scan the votes in the
range (scan_tally(); PostgreSQL's shapes stream over an index).

The counters hold every voter, so a segment's figures are counted from its votes: on the
results page, in one statement over them on PostgreSQL (results_page()).
"""

import logging
from bisect import bisect_right
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection
from django.db.models import (
    Case,
    Count,
    Exists,
    F,
    Max,
    Min,
    OuterRef,
    Q,
    QuerySet,
    Sum,
    Value,
    When,
    Window,
)
from django.db.models.expressions import RawSQL
from django.db.models.functions import RowNumber, Trunc
from django.utils import timezone

from campaigns import tallies
from campaigns.models import (
    Campaign,
    PollChoice,
    PollNewVoters,
    PollRangeNewVoters,
    PollRangeTally,
    PollResponse,
    PollTally,
)
from lib.filters import any_of
from subscribers.models import Subscriber

logger = logging.getLogger(__name__)


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


def of_subscribers(responses: QuerySet, subscribers) -> QuerySet:
    """The responses of `subscribers`: a queryset of them (e.g. a segment's), or their ids
    (campaigns.segments.read_once() on PostgreSQL), compared as one array."""
    if isinstance(subscribers, list):
        return responses.filter(any_of("subscriber_id", subscribers))
    return responses.filter(subscriber__in=subscribers.values("pk"))


def responses_in_range(campaign, since=None, until=None, *, subscribers=None) -> QuerySet:
    """A poll's votes received in [since, until), of `subscribers` only when given (see
    of_subscribers())."""
    responses = PollResponse.objects.filter(campaign=campaign)
    if subscribers is not None:
        responses = of_subscribers(responses, subscribers)
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
    if isinstance(subscribers, list):
        where.append("subscriber_id = ANY(%s::bigint[])")
        params.append(subscribers)
    elif subscribers is not None:
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


def _latest_of(votes: str) -> str:
    """PostgreSQL: each subscriber's latest vote among `votes` (a table and its WHERE, or a
    relation), one row per subscriber, with its choice and time.

    DISTINCT ON walks the pollresponse_latest_vote index in order, so the rule costs one
    index-only scan instead of a window over a sort.
    """
    return (
        "SELECT DISTINCT ON (subscriber_id) subscriber_id, choice_id, received_at "  # noqa: S608
        f"FROM {votes} ORDER BY subscriber_id, received_at DESC, id DESC"
    )


def _latest_votes_sql(campaign, since, until, subscribers=None) -> tuple[str, list]:
    """PostgreSQL: each subscriber's latest vote in the range (_latest_of())."""
    where, params = _where(campaign, since, until, subscribers)
    return _latest_of(f"{PollResponse._meta.db_table} WHERE {where}"), params


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


def scan_tally(campaign, counting, since, until, subscribers=None) -> tuple[dict, int]:
    """({choice id: (votes, voters)}, voters overall), counted from the votes in the range
    (of `subscribers` only, when given)."""
    if _use_sql():
        return _tally_sql(campaign, counting, since, until, subscribers)
    return _tally_orm(campaign, counting, since, until, subscribers)


def _use_tallies() -> bool:
    return True


QUARTER = timedelta(minutes=15)
COLUMNS = ("votes", "latest", "voters")


def _quarter(moment: datetime) -> datetime:
    moment = moment.astimezone(UTC)
    return moment.replace(minute=moment.minute // 15 * 15, second=0, microsecond=0)


def runs_to_the_end(campaign, until) -> bool:
    """Is [since, until) the same as [since, ∞): no vote at or after `until`?"""
    return (
        until is None
        or not PollResponse.objects.filter(campaign=campaign, received_at__gte=until).exists()
    )


def _later_vote(same: tuple[str, ...], tie_on_id: bool) -> Exists:
    """A vote by the same subscriber (and `same` fields) received after this one."""
    later = Q(received_at__gt=OuterRef("received_at"))
    if tie_on_id:
        later |= Q(received_at=OuterRef("received_at"), id__gt=OuterRef("id"))
    return Exists(PollResponse.objects.filter(later, **{field: OuterRef(field) for field in same}))


def _edge_counts(campaign, pieces: list[tuple], column: str) -> Counter:
    """{(interval, choice id): n} for the pieces of quarter hours cut by a range's edges,
    counted from their responses as the counters count them: (low, high, interval) pieces."""
    within = Q()
    for low, high, _ in pieces:
        within |= Q(received_at__gte=low, received_at__lt=high)
    piece = Case(
        *(When(received_at__gte=lo, received_at__lt=hi, then=Value(n)) for lo, hi, n in pieces)
    )
    votes = PollResponse.objects.filter(within, campaign=campaign)
    count = Count("id")
    if column == "latest":
        votes = votes.filter(~_later_vote(("campaign", "subscriber"), tie_on_id=True))
    elif column == "voters":
        votes = votes.filter(~_later_vote(("campaign", "choice", "subscriber"), tie_on_id=False))
        count = Count("subscriber", distinct=True)
    rows = votes.annotate(piece=piece).values_list("piece", "choice").annotate(n=count).order_by()
    return Counter({(interval, choice): n for interval, choice, n in rows})


def _summed(rows: QuerySet, inner: list, sums: dict) -> list[dict]:
    """The counters summed per choice and interval ("interval": how many inner bounds lie at
    or before the quarter), as few rows as the database can give."""
    if not inner:
        # One interval (the figures, not the chart): the database sums per choice alone.
        return list(rows.values("choice").annotate(**sums).order_by())
    if _use_sql():
        # width_bucket() places each quarter in its period: a chart's few hundred sums come
        # back, not every quarter's row (25,000 for two months of a busy poll).
        interval = RawSQL("width_bucket(quarter, %s::timestamptz[])", (inner,))
        return list(
            rows.annotate(interval=interval)
            .values("interval", "choice")
            .annotate(**sums)
            .order_by()
        )
    found = rows.values("quarter", "choice").annotate(**sums).order_by()
    return [{**row, "interval": bisect_right(inner, row["quarter"])} for row in found]


def tally_counts(campaign, bounds: list, columns=COLUMNS) -> dict[str, Counter]:
    """{column: {(interval, choice id): n}} for the intervals [bounds[i], bounds[i + 1]),
    from the counters; the first and last bounds may be None (open).

    `latest` and `voters` are right only when the last interval runs to the end of the poll
    (runs_to_the_end()): the counters place each subscriber at their latest vote."""
    inner = bounds[1:-1]
    finite = [b for b in bounds if b is not None]
    cut = {_quarter(b) for b in finite if b != _quarter(b)}  # quarters an edge falls inside
    rows = PollTally.objects.filter(campaign=campaign)
    if bounds[0] is not None:
        rows = rows.filter(quarter__gte=_quarter(bounds[0]))
    if bounds[-1] is not None:
        rows = rows.filter(quarter__lt=bounds[-1])
    if cut:
        rows = rows.exclude(quarter__in=cut)
    sums = {column: Sum(column) for column in columns}
    found = {column: Counter() for column in columns}
    for row in _summed(rows, inner, sums):
        interval = row.get("interval", 0)
        for column in columns:
            if row[column]:
                found[column][(interval, row["choice"])] += row[column]
    pieces = []
    for quarter in sorted(cut):
        end = quarter + QUARTER
        edges = sorted({quarter, end, *(b for b in finite if quarter < b < end)})
        for low, high in zip(edges, edges[1:], strict=False):
            if (bounds[0] is None or low >= bounds[0]) and (
                bounds[-1] is None or high <= bounds[-1]
            ):
                pieces.append((low, high, bisect_right(inner, low)))
    if pieces:
        for column in columns:
            found[column].update(_edge_counts(campaign, pieces, column))
    return found


def _counters_tally(campaign, counting, since, until, zone=None) -> tuple[dict, int]:
    """scan_tally()'s figures from the counters, for a range that runs to the poll's end, or
    (with the counters' `zone`) one the range counters count."""
    if zone is None:
        found = tally_counts(campaign, [since, until])
    else:
        found = range_counts(campaign, [since, until], zone)
        found["votes"] = Counter()
        if counting != Counting.LATEST:
            found |= tally_counts(campaign, [since, until], ("votes",))
    by_choice = {
        column: {choice: n for (_, choice), n in found[column].items()} for column in COLUMNS
    }
    voters = sum(by_choice["latest"].values())
    if counting == Counting.LATEST:
        # One vote per subscriber: a choice's votes are its voters.
        return {choice: (n, n) for choice, n in by_choice["latest"].items()}, voters
    votes, per_choice = by_choice["votes"], by_choice["voters"]
    return {c: (votes.get(c, 0), per_choice.get(c, 0)) for c in votes.keys() | per_choice}, voters


def _range_zone(*bounds) -> ZoneInfo | None:
    """The zone of the range counters when they can count [bounds[0], bounds[-1]) (a range
    that ends before the poll's last vote), cut at the inner bounds: the end on a midnight
    there, every other bound on a quarter hour. None: scan the votes."""
    if bounds[-1] is None or not (_use_tallies() and _use_sql()):
        return None
    if any(b is not None and b != _quarter(b) for b in bounds):
        return None
    name = tallies.counters_zone()
    if name != settings.TIME_ZONE:
        logger.warning(
            "The poll range counters count days in %s, the site in %s: bounded ranges are "
            "scanned until `manage.py rebuild_poll_tallies` recounts them.",
            name,
            settings.TIME_ZONE,
        )
    zone = ZoneInfo(name)
    end = bounds[-1].astimezone(zone)
    return zone if end.time() == time(0) else None


def _end_day(until: datetime, zone: ZoneInfo) -> date:
    return until.astimezone(zone).date()


def range_counts(campaign, bounds: list, zone: ZoneInfo, columns=("latest", "voters")) -> dict:
    """tally_counts()'s shape for a range that ends on a midnight in `zone` before the poll's
    last vote (_range_zone()): the votes of [bounds[0], bounds[-1]) whose voter's next vote (in
    the poll: `latest`; for the same choice: `voters`) never came (the counters by quarter
    hour) or is on the end's day or later (the range counters)."""
    found = tally_counts(campaign, bounds, columns)
    rows = PollRangeTally.objects.filter(
        campaign=campaign, quarter__lt=bounds[-1], next_day__gte=_end_day(bounds[-1], zone)
    )
    if bounds[0] is not None:
        rows = rows.filter(quarter__gte=bounds[0])
    for row in _summed(rows, bounds[1:-1], {column: Sum(column) for column in columns}):
        for column in columns:
            if row[column]:
                found[column][(row.get("interval", 0), row["choice"])] += row[column]
    return found


def _tally(campaign, counting, since, until, subscribers=None) -> tuple[dict, int]:
    """({choice id: (votes, voters)}, voters overall). The counters hold every voter, so a
    segment's figures (`subscribers`) are counted from its votes."""
    if subscribers is None and _use_tallies():
        if runs_to_the_end(campaign, until):
            return _counters_tally(campaign, counting, since, until)
        if zone := _range_zone(since, until):
            return _counters_tally(campaign, counting, since, until, zone)
    return scan_tally(campaign, counting, since, until, subscribers)


def poll_results(
    campaign, counting=Counting.ALL, since=None, until=None, *, subscribers=None
) -> PollResults:
    """The poll's figures; the votes of `subscribers` only when given (a segment's)."""
    counts, voters = _tally(campaign, counting, since, until, subscribers)
    return _results(campaign, counting, since, until, counts, voters)


def _results(campaign, counting, since, until, counts: dict, voters: int) -> PollResults:
    """PollResults from ({choice id: (votes, voters)}, voters overall)."""
    # Replies compare whatever their case: "b" sorts with "B", between "A" and "C".
    choices = sorted(campaign.choices.all(), key=lambda c: (c.order, c.reply.lower()))
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


@dataclass(frozen=True)
class Timeline:
    unit: str  # "hour" or "day"
    periods: list[datetime]  # every period's start, in the current time zone, gaps included
    votes: dict[int, list[int]]  # choice id -> votes per period


# Ranges up to this long are charted per hour, longer ones per day.
HOURLY_UP_TO = timedelta(days=3)


def _chart_periods(since, until, first: datetime, last: datetime) -> tuple[str, list[datetime]]:
    """(unit, every period's start) of the chart of [since, until) whose votes run from
    `first` to `last`: hours for ranges up to HOURLY_UP_TO, days beyond."""
    unit = "hour" if (until or last) - (since or first) <= HOURLY_UP_TO else "day"
    return unit, _period_starts(since or first, until or last + timedelta(microseconds=1), unit)


def _bucketed(unit: str, periods: list[datetime], rows) -> Timeline:
    """The Timeline of (period start, choice id, votes) rows, periods aware."""
    index = {period: n for n, period in enumerate(periods)}
    votes: dict[int, list[int]] = {}
    for period, choice, n in rows:
        series = votes.setdefault(choice, [0] * len(periods))
        series[index[timezone.localtime(period)]] += n
    return Timeline(unit, periods, votes)


def timeline_by_choice(
    campaign, counting=Counting.ALL, since=None, until=None, *, subscribers=None
) -> Timeline:
    """Votes per hour (ranges up to three days) or day, one series per choice."""
    bounds = responses_in_range(campaign, since, until, subscribers=subscribers).aggregate(
        first=Min("received_at"), last=Max("received_at")
    )
    if bounds["first"] is None:
        return Timeline("day", [], {})
    unit, periods = _chart_periods(since, until, bounds["first"], bounds["last"])
    votes: dict[int, list[int]] = {}
    edges = [since, *periods[1:], until]
    found = None
    if subscribers is None and _use_tallies():
        if counting == Counting.ALL or runs_to_the_end(campaign, until):
            column = "votes" if counting == Counting.ALL else "latest"
            found = tally_counts(campaign, edges, (column,))[column]
        elif zone := _range_zone(*edges):
            found = range_counts(campaign, edges, zone, ("latest",))["latest"]
    if found is not None:
        for (n, choice), count in found.items():
            votes.setdefault(choice, [0] * len(periods))[n] += count
        return Timeline(unit, periods, votes)
    if counting == Counting.LATEST and _use_sql():
        # Latest votes in a range that ends before the poll does: one pass over the index.
        tz = timezone.get_current_timezone()
        latest, params = _latest_votes_sql(campaign, since, until, subscribers)
        found = _fetch(
            "SELECT date_trunc(%s, received_at AT TIME ZONE %s), choice_id, COUNT(*) "  # noqa: S608
            f"FROM ({latest}) l GROUP BY 1, 2",
            [unit, str(tz), *params],
        )
        rows = [(timezone.make_aware(period, tz), choice, n) for period, choice, n in found]
    else:
        rows = (
            counted_responses(campaign, counting, since, until, subscribers=subscribers)
            .annotate(period=Trunc("received_at", unit))
            .values_list("period", "choice")
            .annotate(n=Count("id"))
            .order_by()
        )
    return _bucketed(unit, periods, rows)


def votes_over_time(
    campaign, counting=Counting.ALL, since=None, until=None, *, subscribers=None
) -> list[dict]:
    """[{"period": datetime, "votes": n}] for the periods with votes, all choices together."""
    timeline = timeline_by_choice(campaign, counting, since, until, subscribers=subscribers)
    totals = [
        sum(series[n] for series in timeline.votes.values()) for n in range(len(timeline.periods))
    ]
    return [
        {"period": period, "votes": total}
        for period, total in zip(timeline.periods, totals, strict=True)
        if total
    ]


def new_and_returning(
    campaign, since=None, until=None, voters=None, *, subscribers=None
) -> tuple[int, int]:
    """(new, returning) voters in the range: new ones were first seen by the CRM at or after
    its start (over all time: the poll's first vote); returning ones knew us before.

    `voters`: the distinct voters in the range when the caller has them (poll_results()
    counts them from the counters). The new ones come from the counters for a range that runs
    to the poll's end; otherwise they are looked up from the subscribers first seen since the
    start, each probing its votes through an index."""
    votes = responses_in_range(campaign, since, until, subscribers=subscribers)
    start = since or votes.aggregate(first=Min("received_at"))["first"]
    if start is None:
        return 0, 0
    if voters is None:
        voters = votes.values("subscriber").distinct().count()
    counters = subscribers is None and _use_tallies()
    if counters and runs_to_the_end(campaign, until):
        new = _new_voters_since(campaign, start)
    elif counters and (zone := _new_voters_zone(since, until)):
        new = _range_new_voters(campaign, start, until, zone, votes)
    else:
        voted = Exists(votes.filter(subscriber=OuterRef("pk")))
        new = Subscriber.objects.filter(voted, first_seen_at__gte=start).count()
    return new, voters - new


def _new_voters_zone(since, until) -> ZoneInfo | None:
    """_range_zone() for new voters: the range counters know the days voters were first
    seen, no more, so the range starts at a midnight too (or at the poll's first vote)."""
    zone = _range_zone(since, until)
    if zone and since is not None and since.astimezone(zone).time() != time(0):
        return None
    return zone


def _range_new_voters(campaign, start, until, zone, votes: QuerySet) -> int:
    """The voters of [start, until) first seen at or after `start`, from the range counters
    (each voter at their first vote in the range, their previous one before it): `start` a
    midnight in `zone`, or the range's first vote (then those first seen between its midnight
    and it are taken away)."""
    day, end = start.astimezone(zone).date(), _end_day(until, zone)
    found = PollRangeNewVoters.objects.filter(
        campaign=campaign, day__gte=day, day__lt=end, prev_day__lt=day, seen_day__gte=day
    )
    new = found.aggregate(n=Sum("voters"))["n"] or 0
    midnight = datetime.combine(day, time.min, zone)
    if midnight < start:
        new -= Subscriber.objects.filter(
            Exists(votes.filter(subscriber=OuterRef("pk"))),
            first_seen_at__gte=midnight,
            first_seen_at__lt=start,
        ).count()
    return new


def _new_voters_since(campaign, start: datetime) -> int:
    """Voters first seen at or after `start` who voted since: whole quarters from the
    counters (PollNewVoters), the quarter `start` falls inside from its few voters."""
    whole = _quarter(start)
    if whole != start:
        whole += QUARTER
    found = PollNewVoters.objects.filter(campaign=campaign, quarter__gte=whole)
    new = found.aggregate(n=Sum("voters"))["n"] or 0
    if whole != start:
        new += _new_voters_counted_in(campaign, start, whole)
    return new


def _new_voters_counted_in(campaign, low: datetime, high: datetime) -> int:
    """Voters the counters place in [low, high) (inside one quarter): the earlier of their
    first_seen_at and their latest vote falls in it, either because they were first seen in
    it and voted since, or because their latest vote is in it and they were first seen later."""
    votes = PollResponse.objects.filter(campaign=campaign)
    seen_in = Subscriber.objects.filter(
        Exists(votes.filter(subscriber=OuterRef("pk"), received_at__gte=low)),
        first_seen_at__gte=low,
        first_seen_at__lt=high,
    ).count()
    latest_in = (
        votes.filter(received_at__gte=low, received_at__lt=high)
        .filter(subscriber__first_seen_at__gte=high)
        .filter(~_later_vote(("campaign", "subscriber"), tie_on_id=False))
        .values("subscriber")
        .distinct()
        .count()
    )
    return seen_in + latest_in


@dataclass(frozen=True)
class ResultsPage:
    """What the results page shows: the figures, the chart, new and returning voters."""

    results: PollResults
    timeline: Timeline
    new: int
    returning: int


def results_page(
    campaign, counting=Counting.ALL, since=None, until=None, *, subscribers=None
) -> ResultsPage:
    """The results page's figures. A segment's, given as ids (campaigns.segments.read_once()
    on PostgreSQL), are counted in one pass over its votes: the counters hold every voter and
    cannot serve a subset, and each figure scanning the votes again took 7 passes."""
    if isinstance(subscribers, list) and _use_sql():
        return _subset_page(campaign, counting, since, until, subscribers)
    results = poll_results(campaign, counting, since, until, subscribers=subscribers)
    timeline = timeline_by_choice(campaign, counting, since, until, subscribers=subscribers)
    new, returning = new_and_returning(
        campaign, since, until, results.voters, subscribers=subscribers
    )
    return ResultsPage(results, timeline, new, returning)


def _subset_sql(campaign, counting, since, until, ids: list[int]) -> tuple[str, list]:
    """PostgreSQL: every figure of the results page from the votes of `ids` in the range, read
    once (the `votes` CTE) and counted by the rules of _tally_sql(), timeline_by_choice() and
    new_and_returning(). Rows (kind, choice id, at, n, m):
    - ("choice", choice, NULL, votes, voters) per choice counted;
    - ("voters", NULL, NULL, distinct voters, NULL) and ("new", NULL, NULL, new voters, NULL);
    - ("first" | "last", NULL, the first or last vote's time in UTC, NULL, NULL);
    - ("period", choice, the period's start in local time, votes, NULL), in the unit
      _chart_periods() picks from the first and last votes."""
    where, params = _where(campaign, since, until, ids)
    if counting == Counting.LATEST:
        # One vote per subscriber: a choice's votes are its voters.
        counted, voters = "latest", "COUNT(*)"
    else:
        counted, voters = "votes", "COUNT(DISTINCT subscriber_id)"
    per_choice = f"SELECT choice_id, COUNT(*), {voters} FROM {counted} GROUP BY 1"  # noqa: S608
    tz = str(timezone.get_current_timezone())
    sql = f"""
    WITH votes AS MATERIALIZED (
        SELECT subscriber_id, choice_id, received_at, id FROM {PollResponse._meta.db_table}
        WHERE {where}
    ), latest AS MATERIALIZED ({_latest_of("votes")}), ends AS (
        SELECT MIN(received_at) AS first, MAX(received_at) AS last FROM votes
    ), unit AS (
        SELECT CASE WHEN COALESCE(%s, last) - COALESCE(%s, first) <= %s
            THEN 'hour' ELSE 'day' END AS unit FROM ends
    )
    SELECT 'choice', choice_id, NULL::timestamp, n, m FROM ({per_choice}) c (choice_id, n, m)
    UNION ALL SELECT 'voters', NULL, NULL, COUNT(*), NULL FROM latest
    UNION ALL SELECT 'new', NULL, NULL, COUNT(*), NULL FROM latest
        JOIN {Subscriber._meta.db_table} s ON s.id = latest.subscriber_id, ends
        WHERE s.first_seen_at >= COALESCE(%s, ends.first)
    UNION ALL SELECT 'first', NULL, first AT TIME ZONE 'UTC', NULL, NULL FROM ends
    UNION ALL SELECT 'last', NULL, last AT TIME ZONE 'UTC', NULL, NULL FROM ends
    UNION ALL SELECT 'period', choice_id, date_trunc(unit, received_at AT TIME ZONE %s),
        COUNT(*), NULL FROM {counted}, unit GROUP BY 2, 3
    """  # noqa: S608
    return sql, [*params, until, since, HOURLY_UP_TO, since, tz]


def _subset_page(campaign, counting, since, until, ids: list[int]) -> ResultsPage:
    counts, figures, ends, found = {}, {"voters": 0, "new": 0}, {}, []
    tz = timezone.get_current_timezone()
    for kind, choice, at, n, m in _fetch(*_subset_sql(campaign, counting, since, until, ids)):
        if kind == "choice":
            counts[choice] = (n, m)
        elif kind in figures:
            figures[kind] = n
        elif kind == "period":
            found.append((timezone.make_aware(at, tz), choice, n))
        else:
            ends[kind] = at and at.replace(tzinfo=UTC)
    results = _results(campaign, counting, since, until, counts, figures["voters"])
    if ends["first"] is None:
        return ResultsPage(results, Timeline("day", [], {}), 0, 0)
    unit, periods = _chart_periods(since, until, ends["first"], ends["last"])
    new = figures["new"]
    return ResultsPage(results, _bucketed(unit, periods, found), new, results.voters - new)
