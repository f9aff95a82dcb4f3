"""The poll counters the database keeps (campaigns/tallies.py) against a recount of the votes,
after every way votes arrive, change and go: concurrent callbacks from the same subscribers,
retries, spooled and reprocessed callbacks, deletions and edits in bulk."""

import random
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.db import connection, transaction

from callbacks import spool
from callbacks.models import CallbackEvent, Endpoint, Outcome
from campaigns import tallies
from campaigns.models import Campaign, Kind, PollChoice, PollResponse
from subscribers.models import Subscriber
from tests.helpers import receive

START = datetime(2026, 3, 1, 9, tzinfo=UTC)
PARAMS = {"shortcode": "12345", "key": "VOTE"}


@pytest.fixture
def poll(transactional_db) -> Campaign:
    Endpoint.objects.create(name="Sumotext")  # before the threads, which would each make one
    campaign = Campaign.objects.create(shortcode="12345", keyword="VOTE", kind=Kind.POLL)
    for order, reply in enumerate("AB"):
        PollChoice.objects.create(campaign=campaign, reply=reply, label=reply, order=order)
    return campaign


def query(mobile: str, reply: str, n: int) -> str:
    return f"mobile={mobile}&shortcode=12345&key=VOTE&reply={reply}&n={n}"


def send_from_threads(threads: int, each: int) -> None:
    """Callbacks at once from several threads (each its own connection), the same few
    subscribers in all of them, at times out of order (a drained spool's are hours old)."""

    def send(seed: int) -> None:
        rng = random.Random(seed)
        try:
            for n in range(each):
                at = START + timedelta(minutes=rng.randrange(3 * 24 * 60))
                mobile = f"+1212555{rng.randrange(6):04d}"
                reply = rng.choice("ABc")
                receive(Kind.POLL, at=at, mobile=mobile, reply=reply, n=f"{seed}-{n}", **PARAMS)
        finally:
            connection.close()

    workers = [threading.Thread(target=send, args=(seed,)) for seed in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()


def assert_counters_match_a_recount(campaign: Campaign) -> dict:
    counted = tallies.stored(campaign.pk)
    assert counted == tallies.recount(campaign.pk)
    assert counted, "the poll has votes"
    new_voters = tallies.stored_new_voters(campaign.pk)
    assert new_voters == tallies.recount_new_voters(campaign.pk)
    assert sum(new_voters.values()) == sum(latest for _, latest, _ in counted.values())
    if connection.vendor == "postgresql":
        ranges, range_new_voters = tallies.stored_ranges(campaign.pk)
        assert (ranges, range_new_voters) == tallies.recount_ranges(campaign.pk)
        assert range_new_voters, "each voter's first vote is there"
    return counted


def test_counters_stay_exact_whoever_writes_the_votes(poll, settings, tmp_path):
    settings.CALLBACK_SPOOL_DIR = tmp_path  # this test's spool, from the first callback on
    send_from_threads(threads=6, each=15)
    assert PollResponse.objects.filter(campaign=poll).count() == 90
    assert_counters_match_a_recount(poll)

    # A sender's retry is stored as a duplicate and counted nowhere.
    receive(Kind.POLL, at=START, mobile="+12125550001", reply="B", **PARAMS)
    receive(Kind.POLL, at=START + timedelta(seconds=5), mobile="+12125550001", reply="B", **PARAMS)
    assert CallbackEvent.objects.filter(outcome=Outcome.DUPLICATE).count() == 1

    # A failed callback processed again, and a spooled one drained with its arrival time.
    endpoint = Endpoint.objects.get()
    CallbackEvent.objects.create(
        endpoint=endpoint,
        kind=Kind.POLL,
        method="GET",
        query_string=query("+12125550002", "A", 1),
        received_at=START + timedelta(days=5),
        outcome=Outcome.FAILED,
    )
    call_command("reprocess_callbacks", stdout=open("/dev/null", "w"))  # noqa: SIM115
    event = CallbackEvent(
        endpoint=endpoint,
        kind=Kind.POLL,
        method="GET",
        query_string=query("+12125550003", "B", 2),
        received_at=START - timedelta(hours=2, minutes=30),
    )
    spool.write(event, endpoint.token)
    call_command("drain_spool", stdout=open("/dev/null", "w"))  # noqa: SIM115
    assert PollResponse.objects.filter(campaign=poll).count() == 93
    assert_counters_match_a_recount(poll)

    # Edits and deletions in bulk, several of one subscriber's votes in one statement.
    first = PollResponse.objects.filter(campaign=poll).order_by("received_at", "id")
    PollResponse.objects.filter(id__in=first.values("id")[:7]).update(
        choice=PollChoice.objects.get(campaign=poll, reply="B")
    )
    moved = first.last()
    moved.received_at = START - timedelta(days=1)
    moved.save()
    voter = Subscriber.objects.get(mobile="+12125550004")
    PollResponse.objects.filter(subscriber=voter).exclude(id=first.first().id).delete()
    PollResponse.objects.filter(id__in=first.values("id")[:3]).delete()
    Subscriber.objects.get(mobile="+12125550005").delete()  # and their votes with them
    assert_counters_match_a_recount(poll)

    before = tallies.stored(poll.pk)
    call_command("rebuild_poll_tallies", stdout=open("/dev/null", "w"))  # noqa: SIM115
    assert tallies.stored(poll.pk) == before


def insert_votes_at_once(poll, voter, endpoint, choices, times) -> None:
    """One voter's votes at these times, choices in turn, in one INSERT with their callbacks."""
    events = CallbackEvent.objects.bulk_create(
        CallbackEvent(endpoint=endpoint, kind=Kind.POLL, method="GET", received_at=at)
        for at in times
    )
    PollResponse.objects.bulk_create(
        PollResponse(
            campaign=poll, subscriber=voter, callback=event, choice=choices[n % 2], received_at=at
        )
        for n, (event, at) in enumerate(zip(events, times, strict=True))
    )


def test_votes_inserted_in_one_statement_count_as_one_at_a_time(poll):
    voter = Subscriber.objects.create(mobile="+12125550001")
    endpoint = Endpoint.objects.get()
    choices = list(PollChoice.objects.filter(campaign=poll))
    receive(Kind.POLL, at=START + timedelta(hours=5), mobile="+12125550001", reply="B", **PARAMS)
    times = [START + timedelta(minutes=m) for m in (0, 600, 7, 600, 30)]  # a tie, out of order

    insert_votes_at_once(poll, voter, endpoint, choices, times)

    counted = assert_counters_match_a_recount(poll)
    assert sum(votes for votes, _, _ in counted.values()) == 6


def test_the_rebuild_restores_counters_that_drifted(poll):
    receive(Kind.POLL, at=START, mobile="+12125550001", reply="A", **PARAMS)
    receive(Kind.POLL, at=START + timedelta(hours=1), mobile="+12125550001", reply="B", **PARAMS)
    counted = assert_counters_match_a_recount(poll)
    other = Campaign.objects.create(shortcode="12345", keyword="OTHER", kind=Kind.POLL)
    receive(Kind.POLL, at=START, mobile="+12125550002", reply="A", shortcode="12345", key="OTHER")
    new_voters = tallies.stored_new_voters(poll.pk)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE campaigns_polltally SET votes = votes + 5, latest = 0")
        cursor.execute("UPDATE campaigns_pollnewvoters SET voters = voters + 2")
        if connection.vendor == "postgresql":
            ranges = tallies.stored_ranges(poll.pk)
            cursor.execute(
                "INSERT INTO campaigns_pollrangetally (campaign_id, choice_id, quarter, "
                "next_day, slot, latest, voters) VALUES (%s, 0, now(), current_date, 0, 5, 5)",
                [poll.pk],
            )
            cursor.execute("DELETE FROM campaigns_pollrangenewvoters")

    out = tallies.rebuild(poll.pk)

    # Two counter rows (one per choice), one of new voters; on PostgreSQL one range new voter
    # (the first vote; the second is of the same day, as is the first's next vote).
    assert out == (4 if connection.vendor == "postgresql" else 3)
    assert tallies.stored(poll.pk) == counted
    assert tallies.stored_new_voters(poll.pk) == new_voters
    assert tallies.stored(other.pk) != tallies.recount(other.pk), "only the poll asked for"
    if connection.vendor == "postgresql":
        assert tallies.stored_ranges(poll.pk) == ranges


@pytest.mark.skipif(connection.vendor != "postgresql", reason="range counters: PostgreSQL")
def test_a_new_time_zone_is_noticed_and_the_rebuild_counts_its_days(poll, settings):
    receive(Kind.POLL, at=START, mobile="+12125550001", reply="A", **PARAMS)
    receive(Kind.POLL, at=START + timedelta(hours=16), mobile="+12125550001", reply="B", **PARAMS)
    assert tallies.counters_zone() == "UTC"
    utc_days = tallies.stored_ranges(poll.pk)

    settings.TIME_ZONE = "America/Los_Angeles"  # 09:00 and 01:00 UTC: Feb 28 and Mar 1 there
    call_command("rebuild_poll_tallies", "--campaign", str(poll.pk), stdout=open("/dev/null", "w"))  # noqa: SIM115

    assert tallies.counters_zone() == "America/Los_Angeles"
    assert tallies.stored_ranges(poll.pk) == tallies.recount_ranges(poll.pk) != utc_days
    receive(Kind.POLL, at=START + timedelta(days=1), mobile="+12125550001", reply="A", **PARAMS)
    assert_counters_match_a_recount(poll)


def test_the_command_says_what_it_recounted(poll, capsys):
    receive(Kind.POLL, at=START, mobile="+12125550001", reply="A", **PARAMS)

    call_command("rebuild_poll_tallies", "--campaign", str(poll.pk))

    rows = 3 if connection.vendor == "postgresql" else 2  # and a range new voter
    assert capsys.readouterr().out == f"Recounted poll {poll.pk}: {rows} counter rows.\n"


def test_the_command_refuses_a_campaign_that_is_no_poll(poll):
    info = Campaign.objects.create(keyword="HOURS", kind=Kind.INFO)

    with pytest.raises(Exception, match=f"No poll with id {info.pk}"):
        call_command("rebuild_poll_tallies", "--campaign", str(info.pk))


def test_a_vote_written_while_another_of_the_same_voter_is_uncommitted_counts_after_it(poll):
    """Two writers (not the callback pipeline, which queues on the subscriber's row) add votes
    of one subscriber at once: the second waits for the first to commit, then counts on top."""
    voter = Subscriber.objects.create(mobile="+12125550001")
    endpoint, choice = Endpoint.objects.get(), PollChoice.objects.get(reply="A")
    inserted, errors = threading.Event(), []

    def add_vote(at: datetime, hold: threading.Event | None) -> None:
        try:
            with transaction.atomic():
                event = CallbackEvent.objects.create(
                    endpoint=endpoint, kind=Kind.POLL, method="GET", received_at=at
                )
                PollResponse.objects.create(
                    campaign=poll, subscriber=voter, callback=event, choice=choice, received_at=at
                )
                if hold is not None:
                    hold.set()
                    time.sleep(0.5)  # the other writer is now counting, or waiting to
        except Exception as error:  # noqa: BLE001 (reported below)
            errors.append(error)
        finally:
            connection.close()

    first = threading.Thread(target=add_vote, args=(START, inserted))
    first.start()
    assert inserted.wait(timeout=30)
    second = threading.Thread(target=add_vote, args=(START + timedelta(hours=2), None))
    second.start()
    first.join()
    second.join()

    assert errors == []
    counted = assert_counters_match_a_recount(poll)
    assert sum(latest for _, latest, _ in counted.values()) == 1


def test_new_voters_follow_a_first_seen_at_that_moves(poll):
    """A subscriber's first_seen_at later than their votes (a callback drained from the spool
    after a newer one made the subscriber), then moved by an edit, then by a bulk update."""
    receive(Kind.POLL, at=START + timedelta(days=1), mobile="+12125550001", reply="A", **PARAMS)
    receive(Kind.POLL, at=START, mobile="+12125550001", reply="B", **PARAMS)  # older, later
    receive(Kind.POLL, at=START, mobile="+12125550002", reply="A", **PARAMS)
    voter = Subscriber.objects.get(mobile="+12125550001")
    assert voter.first_seen_at == START + timedelta(days=1)
    assert_counters_match_a_recount(poll)

    voter.first_seen_at = START + timedelta(days=3)
    voter.save(update_fields=["first_seen_at"])
    assert_counters_match_a_recount(poll)
    Subscriber.objects.update(first_seen_at=START - timedelta(days=30))
    assert_counters_match_a_recount(poll)

    assert tallies.stored_new_voters(poll.pk) == {str(START - timedelta(days=30))[:19]: 2}


def counter_rows(*polls: Campaign) -> dict[str, list]:
    """The polls' rows in every counter table as stored, ids aside, slot by slot, in key
    order; rows the triggers brought back to zero left out (a recount writes none). (Only
    theirs: on SQLite, an earlier test's flush may leave counts of its votes behind.)"""
    tables = dict(tallies.KEYS)
    if connection.vendor != "postgresql":
        del tables[tallies.RANGE_TALLY], tables[tallies.RANGE_NEW_VOTERS]
    rows = {}
    with connection.cursor() as cursor:
        for table, (key, counted) in tables.items():
            cursor.execute(
                f"SELECT {key}, {', '.join(counted)} FROM {table} "  # noqa: S608
                f"WHERE campaign_id IN ({', '.join(str(p.pk) for p in polls)}) ORDER BY {key}"
            )
            rows[table] = [row for row in cursor.fetchall() if any(row[-len(counted) :])]
    return rows


def test_the_rebuild_writes_the_rows_the_triggers_wrote(poll):
    """Row for row, slots and zeros included, after votes one at a time, in bulk, out of
    order, tied, edited and deleted, over several days, from voters first seen before and
    after them; for every poll and for one."""
    other = Campaign.objects.create(shortcode="12345", keyword="OTHER", kind=Kind.POLL)
    PollChoice.objects.create(campaign=other, reply="A", label="A", order=0)
    rng = random.Random(9)
    for n in range(60):
        at = START + timedelta(minutes=rng.randrange(4 * 24 * 60))
        mobile = f"+1212555{rng.randrange(9):04d}"
        keyword = rng.choice(["VOTE", "VOTE", "OTHER"])
        receive(Kind.POLL, at=at, mobile=mobile, reply=rng.choice("AB"), n=str(n),
                shortcode="12345", key=keyword)  # fmt: skip
    voter = Subscriber.objects.get(mobile="+12125550001")
    endpoint, choices = Endpoint.objects.get(), list(PollChoice.objects.filter(campaign=poll))
    times = [START + timedelta(hours=h) for h in (30, 2, 30, 50, 75)]  # a tie, out of order
    insert_votes_at_once(poll, voter, endpoint, choices, times)
    PollResponse.objects.filter(campaign=poll).order_by("id")[:1].get().delete()
    PollResponse.objects.filter(subscriber=voter, campaign=poll).update(choice=choices[1])
    Subscriber.objects.filter(mobile="+12125550002").update(first_seen_at=START + timedelta(days=2))
    by_triggers = counter_rows(poll, other)
    assert all(by_triggers.values()), "every table has rows"

    tallies.rebuild()
    assert counter_rows(poll, other) == by_triggers
    tallies.rebuild(poll.pk)
    assert counter_rows(poll, other) == by_triggers
