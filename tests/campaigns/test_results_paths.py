"""Poll results come from the database's counters (campaigns/tallies.py) where they can, and
from the votes in the range otherwise: PostgreSQL with its own SQL (index-only scans), every
other database with the ORM's portable shape of the same rules. Random votes go through
every path and every figure must agree, on every range and in a time zone whose days start
on the half hour."""

import random
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.db.models import Q

from campaigns import results, tallies
from campaigns.models import Campaign, Kind, PollChoice, PollResponse
from campaigns.results import Counting, poll_results, votes_over_time
from subscribers.models import Subscriber
from tests.helpers import receive

START = datetime(2026, 3, 1, 9, tzinfo=UTC)


def figures(campaign, counting, since, until) -> tuple:
    found = poll_results(campaign, counting, since, until)
    per_choice = [
        (r.choice.reply, r.votes, r.voters, r.share) for r in found.configured + found.unmatched
    ]
    timeline = [
        (row["period"], row["votes"]) for row in votes_over_time(campaign, counting, since, until)
    ]
    new_and_returning = results.new_and_returning(campaign, since, until, found.voters)
    return found.votes, found.voters, per_choice, timeline, new_and_returning


@pytest.fixture
def random_poll(db, settings) -> Campaign:
    # Random votes repeat one another: every one counts here, none is taken for a retry.
    settings.CALLBACK_DUPLICATE_WINDOW = 0
    rng = random.Random(7)  # fixed: a failure is reproducible
    campaign = Campaign.objects.create(shortcode="12345", keyword="VOTE", kind=Kind.POLL)
    for order, reply in enumerate("ABC"):
        PollChoice.objects.create(campaign=campaign, reply=reply, label=reply, order=order)
    for n in range(0, 60, 4):  # known before the poll: returning voters from its first vote
        Subscriber.objects.create(mobile=f"+1212555{n:04d}", first_seen_at=START - timedelta(2))
    for _ in range(300):
        at = START + timedelta(minutes=rng.randrange(5 * 24 * 60))
        receive(
            Kind.POLL,
            at=at,
            mobile=f"+1212555{rng.randrange(60):04d}",
            shortcode="12345",
            key="VOTE",
            reply=rng.choice("ABCDd"),  # D and d: one reply nobody configured
        )
    # Voters the new-voter counters place inside the quarter hour a range starts in: the
    # poll's first vote (08:10) and 30 h 17 min after START. First seen in it and voting
    # later, or voting in it and first seen later (the subscriber made by a newer callback).
    edges = {
        "+12125559001": (START - timedelta(minutes=48), START - timedelta(minutes=50)),
        "+12125559002": (START + timedelta(days=6), START - timedelta(minutes=47)),
        "+12125559003": (START + timedelta(hours=30, minutes=20), START + timedelta(days=2)),
        "+12125559004": (START + timedelta(days=6), START + timedelta(hours=30, minutes=25)),
    }
    for mobile, (seen, at) in edges.items():
        Subscriber.objects.create(mobile=mobile, first_seen_at=seen)
        receive(Kind.POLL, at=at, mobile=mobile, shortcode="12345", key="VOTE", reply="A")
    assert PollResponse.objects.filter(campaign=campaign).count() == 304
    return campaign


RANGES = [
    (None, None),
    (START + timedelta(days=1), None),
    (None, START + timedelta(days=2, hours=5)),
    (START + timedelta(hours=7), START + timedelta(days=1, hours=3)),  # hourly buckets
    (START + timedelta(days=1), START + timedelta(days=4)),  # daily buckets
    (START + timedelta(hours=30, minutes=17), START + timedelta(days=9)),  # to the end, mid-hour
    (START + timedelta(minutes=45), START + timedelta(hours=2, minutes=10)),  # inside hours
]
CASES = [(counting, since, until) for counting, _ in Counting.choices for since, until in RANGES]


def agreeing(campaign, cases: list, monkeypatch, scans: bool = True) -> list[tuple]:
    """Every case's figures from the counters, once each is asserted to be the votes' (with
    `scans` False, the counters must answer without scanning any vote)."""

    def scan(*args, **kwargs):
        raise AssertionError("scanned")

    with monkeypatch.context() as patched:
        if not scans:
            patched.setattr(results, "scan_tally", scan)
            patched.setattr(results, "_latest_votes_sql", scan)
        from_counters = [figures(campaign, *case) for case in cases]
    with monkeypatch.context() as patched:
        patched.setattr(results, "_use_tallies", lambda: False)
        from_votes = [figures(campaign, *case) for case in cases]
    for case, counted, scanned in zip(cases, from_counters, from_votes, strict=True):
        assert counted == scanned, case
        assert counted[0] > 0, case
    return from_counters


@pytest.mark.parametrize("zone", ["UTC", "Asia/Kolkata"])
def test_the_counters_and_the_votes_agree_on_every_figure(random_poll, monkeypatch, settings, zone):
    settings.TIME_ZONE = zone  # +05:30: every day starts inside an hour
    from_counters = agreeing(random_poll, CASES, monkeypatch)

    new_and_returning = [counted[-1] for counted in from_counters]
    assert all(new > 0 and returning > 0 for new, returning in new_and_returning[:3])


@pytest.mark.skipif(connection.vendor != "postgresql", reason="only PostgreSQL has its own SQL")
def test_sql_and_orm_agree_on_every_figure(random_poll, monkeypatch):
    monkeypatch.setattr(results, "_use_tallies", lambda: False)
    with_sql = [figures(random_poll, *case) for case in CASES]
    monkeypatch.setattr(results, "_use_sql", lambda: False)
    with_orm = [figures(random_poll, *case) for case in CASES]

    for case, sql, orm in zip(CASES, with_sql, with_orm, strict=True):
        assert sql == orm, case
        assert sql[0] > 0, case


def page_figures(campaign, counting, since, until, subscribers) -> tuple:
    page = results.results_page(campaign, counting, since, until, subscribers=subscribers)
    found = page.results
    per_choice = [(r.choice.reply, r.votes, r.voters, r.share) for r in found.choices]
    return found.votes, found.voters, per_choice, page.timeline, (page.new, page.returning)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the one pass is PostgreSQL's SQL")
@pytest.mark.parametrize("zone", ["UTC", "Asia/Kolkata"])
@pytest.mark.parametrize(
    "chosen",
    [
        # Every subscriber known before the poll among them: returning voters in every range.
        Q(mobile__regex=r"[02468]$"),
        # Each first seen by their first vote: the earliest votes are new voters by a hair.
        Q(mobile__regex=r"[13579]$") & ~Q(mobile__startswith="+121255590"),
    ],
    ids=["known before", "first seen voting"],
)
def test_a_segments_one_pass_agrees_with_the_scans_on_every_figure(
    random_poll, monkeypatch, settings, zone, chosen
):
    """A segment's results page counts every figure in one statement over its votes
    (results._subset_sql()); the per-figure scans, given ids or a queryset, must agree."""
    settings.TIME_ZONE = zone
    subset = Subscriber.objects.filter(chosen)
    ids = list(subset.values_list("pk", flat=True))
    assert 0 < len(ids) < Subscriber.objects.count()
    # A voter first seen at the very start of a range is new in it.
    day_two = START + timedelta(days=1)
    later = PollResponse.objects.filter(subscriber__in=ids, received_at__gt=day_two).first()
    Subscriber.objects.filter(pk=later.subscriber_id).update(first_seen_at=day_two)
    one_pass = [page_figures(random_poll, *case, ids) for case in CASES]
    monkeypatch.setattr(results, "_use_sql", lambda: False)
    scanned = [page_figures(random_poll, *case, ids) for case in CASES]
    as_queryset = [page_figures(random_poll, *case, subset) for case in CASES]

    for case, counted, by_scan, by_query in zip(CASES, one_pass, scanned, as_queryset, strict=True):
        assert counted == by_scan == by_query, case
        assert counted[0] < PollResponse.objects.filter(campaign=random_poll).count(), case
    assert sum(counted[0] > 0 for counted in one_pass) >= len(CASES) - 2
    assert any(new > 0 for *_, (new, _) in one_pass)


def midnight(days: int, zone: str) -> datetime:
    """The start of START's day plus `days` in `zone`."""
    day = START.astimezone(ZoneInfo(zone)).date() + timedelta(days=days)
    return datetime.combine(day, time.min, ZoneInfo(zone))


@pytest.mark.skipif(connection.vendor != "postgresql", reason="range counters: PostgreSQL")
@pytest.mark.parametrize("zone", ["UTC", "Asia/Kolkata", "America/New_York"])
def test_ranges_that_end_on_a_midnight_come_from_the_range_counters(
    random_poll, monkeypatch, settings, zone
):
    """Every range the admin page offers (whole days, from, through or both) that ends before
    the poll's last vote, and the API's quarter-hour starts with such an end: every figure as
    the votes give it, and no vote scanned."""
    settings.TIME_ZONE = zone
    tallies.rebuild()  # the range counters count the days of the zone
    ranges = [
        (None, midnight(2, zone)),
        (midnight(1, zone), midnight(2, zone)),  # one day: the chart by hour
        (midnight(1, zone), midnight(4, zone)),
        (midnight(0, zone), midnight(5, zone)),
        (midnight(2, zone) + timedelta(hours=5, minutes=45), midnight(3, zone)),
        (midnight(-3, zone), midnight(1, zone)),  # from before the poll's first vote
    ]
    cases = [
        (counting, since, until) for counting, _ in Counting.choices for since, until in ranges
    ]

    from_counters = agreeing(random_poll, cases, monkeypatch, scans=False)

    assert any(new and returning for *_, (new, returning) in from_counters)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="range counters: PostgreSQL")
def test_a_zone_the_range_counters_do_not_count_in_is_scanned_until_the_rebuild(
    random_poll, settings, caplog, monkeypatch
):
    since, until = midnight(1, "Asia/Kolkata"), midnight(3, "Asia/Kolkata")
    settings.TIME_ZONE = "Asia/Kolkata"  # the counters count UTC's days

    found = figures(random_poll, Counting.LATEST, since, until)

    assert "rebuild_poll_tallies" in caplog.text
    with monkeypatch.context() as patched:
        patched.setattr(results, "_use_tallies", lambda: False)
        assert found == figures(random_poll, Counting.LATEST, since, until)
