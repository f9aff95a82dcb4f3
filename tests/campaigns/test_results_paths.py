"""PostgreSQL counts poll results with its own SQL (index-only scans); every other database
uses the ORM's portable shape of the same rules. Both run on PostgreSQL, so random votes
go through both there and every figure must agree."""

import random
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from campaigns import results
from campaigns.models import Campaign, Kind, PollChoice, PollResponse
from campaigns.results import Counting, poll_results, votes_over_time
from tests.helpers import receive

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="only PostgreSQL has the second path"
)

START = datetime(2026, 3, 1, 9, tzinfo=UTC)


def figures(campaign, counting, since, until) -> tuple:
    found = poll_results(campaign, counting, since, until)
    per_choice = [
        (r.choice.reply, r.votes, r.voters, r.share) for r in found.configured + found.unmatched
    ]
    timeline = [
        (row["period"], row["votes"]) for row in votes_over_time(campaign, counting, since, until)
    ]
    return found.votes, found.voters, per_choice, timeline


@pytest.fixture
def random_poll(db) -> Campaign:
    rng = random.Random(7)  # fixed: a failure is reproducible
    campaign = Campaign.objects.create(shortcode="12345", keyword="VOTE", kind=Kind.POLL)
    for order, reply in enumerate("ABC"):
        PollChoice.objects.create(campaign=campaign, reply=reply, label=reply, order=order)
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
    assert PollResponse.objects.filter(campaign=campaign).count() == 300
    return campaign


RANGES = [
    (None, None),
    (START + timedelta(days=1), None),
    (None, START + timedelta(days=2, hours=5)),
    (START + timedelta(hours=7), START + timedelta(days=1, hours=3)),  # hourly buckets
    (START + timedelta(days=1), START + timedelta(days=4)),  # daily buckets
]


def test_sql_and_orm_agree_on_every_figure(random_poll, monkeypatch):
    cases = [
        (counting, since, until) for counting, _ in Counting.choices for since, until in RANGES
    ]
    with_sql = [figures(random_poll, *case) for case in cases]
    monkeypatch.setattr(results, "_use_sql", lambda: False)
    with_orm = [figures(random_poll, *case) for case in cases]

    for case, sql, orm in zip(cases, with_sql, with_orm, strict=True):
        assert sql == orm, case
        assert sql[0] > 0, case
