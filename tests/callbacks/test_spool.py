"""Durable before acknowledged: when the database cannot take a callback, the local spool does.

The database is made read-only for real (PostgreSQL's session setting, SQLite's query_only),
so the callback's INSERT fails as it does on a read-only replica after a failover. Stopping
the database itself is tests/callbacks/test_faults.py's job.
"""

import json
from contextlib import contextmanager
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from callbacks import spool
from callbacks.models import CallbackEvent, Outcome
from campaigns.models import Campaign, InfoRequest, Kind, PollResponse
from subscribers.models import Subscriber
from tests.helpers import send

pytestmark = pytest.mark.django_db(transaction=True)

VOTE = "mobile=2125551212&shortcode=84700&key=FB1&reply=A&label=Tampa"


@pytest.fixture(autouse=True)
def spool_dir(settings, tmp_path, monkeypatch):
    settings.CALLBACK_SPOOL_DIR = tmp_path / "spool"
    # The watcher thread a spooling process starts would drain behind the tests' backs;
    # tests/callbacks/test_faults.py shows it at work.
    monkeypatch.setattr(spool, "CHECK_EVERY", 3600.0)
    return settings.CALLBACK_SPOOL_DIR


@contextmanager
def read_only_database():
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
        else:
            cursor.execute("PRAGMA query_only = ON")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE")
            else:
                cursor.execute("PRAGMA query_only = OFF")


def drain() -> str:
    out = StringIO()
    call_command("drain_spool", stdout=out)
    return out.getvalue()


def spooled_records(folder) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]


def test_a_callback_the_database_refuses_is_spooled_answered_and_drained_once(client, endpoint):
    with read_only_database():
        response = send(client, endpoint, Kind.POLL, VOTE)

    assert (response.status_code, response.content) == (200, b"OK")
    assert not CallbackEvent.objects.exists()
    [record] = spooled_records(spool.spool_dir())
    assert (record["kind"], record["query_string"]) == ("poll", VOTE)

    assert drain() == f"Drained 1 processed; 0 left in {spool.spool_dir()}.\n"
    event = CallbackEvent.objects.get()
    assert event.outcome == Outcome.PROCESSED
    assert str(event.spool_id) == record["spool_id"]
    assert event.received_at.isoformat() == record["received_at"]
    assert event.received_at <= event.spooled_at
    assert PollResponse.objects.get().callback == event

    assert drain() == f"Drained nothing; 0 left in {spool.spool_dir()}.\n"
    assert CallbackEvent.objects.count() == 1


def test_a_drain_that_died_before_removing_its_file_does_not_store_it_twice(client, endpoint):
    with read_only_database():
        send(client, endpoint, Kind.POLL, VOTE)
    [path] = spool.pending()
    kept = path.read_bytes()
    drain()
    # As if the process had died between the commit and the unlink.
    path.write_bytes(kept)

    assert drain() == f"Drained 1 already stored; 0 left in {spool.spool_dir()}.\n"
    assert CallbackEvent.objects.count() == 1
    assert PollResponse.objects.count() == 1


def test_spooled_callbacks_are_stored_in_the_order_they_arrived(client, endpoint):
    with read_only_database():
        for n in range(5):
            send(client, endpoint, Kind.POLL, f"{VOTE}&n={n}")
    drain()

    events = CallbackEvent.objects.order_by("id")
    assert [e.query_string for e in events] == [f"{VOTE}&n={n}" for n in range(5)]
    assert list(events.values_list("received_at", flat=True)) == sorted(
        events.values_list("received_at", flat=True)
    )


def test_the_next_callback_that_reaches_the_database_drains_the_spool(client, endpoint):
    with read_only_database():
        send(client, endpoint, Kind.POLL, VOTE)
    assert send(client, endpoint, Kind.POLL, VOTE.replace("2125551212", "2125551213")).status_code
    spool._drainer.join(timeout=30)

    assert not spool.pending()
    assert CallbackEvent.objects.filter(outcome=Outcome.PROCESSED).count() == 2
    assert Subscriber.objects.count() == 2


def test_text_for_info_answers_with_the_last_reply_it_knew_while_spooling(client, endpoint):
    Campaign.objects.create(keyword="HOURS", kind=Kind.INFO, reply_text="Open 9-5")
    query = "mobile=2125551212&lead=HOURS&msg=hours"
    assert send(client, endpoint, Kind.INFO, query).content == b"Open 9-5"

    with read_only_database():
        again = send(client, endpoint, Kind.INFO, query.replace("2125551212", "2125551213"))
        unknown = send(client, endpoint, Kind.INFO, "mobile=2125551212&lead=NEVERSEEN")

    assert (again.status_code, again.content) == (200, b"Open 9-5")
    assert (unknown.status_code, unknown.content) == (200, b"")
    drain()
    assert InfoRequest.objects.count() == 3


def test_invalid_input_is_refused_while_spooling_and_stored_as_rejected(client, endpoint):
    with read_only_database():
        response = send(client, endpoint, Kind.POLL, "key=FB1&reply=A")

    assert (response.status_code, response.content) == (400, b"mobile: This field is required.")
    drain()
    event = CallbackEvent.objects.get()
    assert (event.outcome, event.reason) == (Outcome.REJECTED, "mobile: This field is required.")


def test_when_not_even_the_spool_can_keep_it_the_answer_is_503_with_retry_after(
    client, endpoint, spool_dir
):
    spool_dir.parent.mkdir(parents=True, exist_ok=True)
    spool_dir.write_text("a file where the spool folder should be")
    with read_only_database():
        response = send(client, endpoint, Kind.POLL, VOTE)

    assert response.status_code == 503
    assert response["Retry-After"] == "60"
    assert response.content == b"Service unavailable, try again later"


def test_a_record_whose_endpoint_is_gone_is_held_not_lost(client, endpoint):
    with read_only_database():
        send(client, endpoint, Kind.POLL, VOTE)
    [path] = spool.pending()
    record = json.loads(path.read_text())
    path.write_text(json.dumps({**record, "token": "no-such-token"}))

    assert drain() == f"Drained 1 held; 0 left in {spool.spool_dir()}.\n"
    assert (spool.spool_dir() / "held" / path.name).exists()
    assert not CallbackEvent.objects.exists()


def test_one_drain_at_a_time(client, endpoint):
    with read_only_database():
        send(client, endpoint, Kind.POLL, VOTE)
    with spool._drain_lock() as locked:
        assert locked
        with pytest.raises(CommandError, match="Another process is draining"):
            drain()
    assert spool.pending()


def test_a_retry_spooled_beside_its_stored_original_is_a_duplicate(client, endpoint):
    send(client, endpoint, Kind.POLL, VOTE)
    with read_only_database():
        send(client, endpoint, Kind.POLL, VOTE)
    drain()

    original, retry = CallbackEvent.objects.order_by("id")
    assert (retry.outcome, retry.duplicate_of, retry.spooled_at is not None) == (
        Outcome.DUPLICATE,
        original,
        True,
    )
    assert PollResponse.objects.count() == 1


def test_a_spool_whose_disk_is_down_to_its_reserve_refuses_with_503(
    client, endpoint, spool_dir, settings, caplog
):
    settings.CALLBACK_SPOOL_MIN_FREE_MB = 1024**3  # a petabyte: no disk here has it free
    with read_only_database():
        response = send(client, endpoint, Kind.POLL, VOTE)

    assert (response.status_code, response["Retry-After"]) == (503, "60")
    assert spooled_records(spool_dir) == []
    assert "neither the database nor the spool took it" in caplog.text
    assert "free for the spool" in caplog.text
