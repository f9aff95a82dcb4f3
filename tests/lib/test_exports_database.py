"""Big CSV exports take a fast path (PostgreSQL's COPY writes the CSV; SQLite's raw rows are
escaped column by column): the very bytes the Python writer makes, spreadsheet escaping,
time zones and custom-field columns included."""

from datetime import UTC, datetime

import pytest
from django.db import DataError, connection
from django.utils import timezone

from callbacks.models import CallbackEvent, Endpoint, Outcome
from campaigns.admin import PollResponseAdmin
from campaigns.models import Campaign, Kind, PollChoice, PollResponse
from lib.exports import csv_lines, csv_response, database_lines, table
from subscribers.models import SUBSCRIBER_COLUMNS, Subscriber

pytestmark = pytest.mark.django_db

HOSTILE = [
    "=1+1",
    "+1+cmd",
    "-2+3",
    "@SUM(A1)",
    "\t=1+1",
    "\r=1+1",
    "+12125551212",
    "-5",
    "12.5",
    "+١٢٣",  # not ASCII digits: not a plain number, so escaped
    "-1.",
    "",
    "a,b",
    'say "hi"',
    "two\nlines",
    "cr\rinside",
    "é ü ✓",
    "'quoted",
    " =lead space",
]


def hostile_votes() -> None:
    endpoint = Endpoint.objects.create(name="x")
    campaign = Campaign.objects.create(
        shortcode="84700", keyword="FB1", kind=Kind.POLL, name='Vote, "now"\n=1'
    )
    for n, text in enumerate(HOSTILE):
        subscriber = Subscriber.objects.create(
            mobile=f"+1212555{n:04d}", country="US" if n % 2 else "", carrier=text
        )
        choice = PollChoice.objects.create(campaign=campaign, reply=f"R{n}", label=text or "x")
        # Whole seconds and fractions: Python drops ".000000", so must the database. Months
        # in and out of daylight saving time, and the hours around its changes.
        month, hour = 1 + n % 12, (0, 3, 6, 7)[n % 4]
        at = datetime(2026, month, 8, hour, 4, 5, 0 if n % 2 else 120000 + n, tzinfo=UTC)
        event = CallbackEvent.objects.create(
            endpoint=endpoint, kind=Kind.POLL, outcome=Outcome.PROCESSED, received_at=at
        )
        PollResponse.objects.create(
            campaign=campaign,
            subscriber=subscriber,
            callback=event,
            choice=choice,
            received_at=at,
            reply=text,
            label=text[::-1],
        )


def both_ways(header, rows):
    lines = database_lines(header, rows)
    assert lines is not None
    by_database = b"".join(line if isinstance(line, bytes) else line.encode() for line in lines)
    written = "".join(csv_lines(header, rows)).encode()
    return by_database, written


def votes_table(times):
    header, rows = table(PollResponse.objects.order_by("id"), PollResponseAdmin.export_columns)
    return header, (rows if times == "local" else rows.iso_times())


@pytest.mark.parametrize("zone", ["UTC", "America/New_York", "Asia/Kolkata"])
@pytest.mark.parametrize("times", ["local", "iso"])
def test_the_fast_path_writes_the_very_bytes_python_writes(times, zone):
    hostile_votes()

    with timezone.override(zone):
        fast, written = both_ways(*votes_table(times))

    assert fast == written
    assert written.count(b"\r\n") >= len(HOSTILE) + 1
    assert b"'=1+1" in fast and b"+12125551212" in fast


@pytest.mark.parametrize(
    ("times", "zone", "expected"),
    [
        # 2026-01-08 00:04:05.12 UTC, the first vote
        ("local", "UTC", b"2026-01-08 00:04:05,"),
        ("local", "America/New_York", b"2026-01-07 19:04:05,"),
        ("local", "Asia/Kolkata", b"2026-01-08 05:34:05,"),
        ("iso", "America/New_York", b"2026-01-08T00:04:05.120000+00:00,"),
    ],
)
def test_times_are_written_in_the_configured_zone_for_people_and_utc_for_programs(
    times, zone, expected
):
    hostile_votes()

    with timezone.override(zone):
        fast, _ = both_ways(*votes_table(times))

    assert fast.split(b"\r\n")[1].startswith(expected)


# A filter gives the query parameters, and with them the driver reads every "%" in it.
@pytest.mark.parametrize("filtered", [False, True])
def test_custom_field_columns_take_the_fast_path_to_the_same_bytes(filtered):
    for n, text in enumerate(HOSTILE):
        # Keys that are hard to say in SQL: quotes, percent signs, a number, a path.
        fields = {"Name": text or "x", "it's 100%": text[::-1] or "y", "0": "zero", "$.a": n}
        if n % 3 == 0:
            fields = {"Zip": "02134", "%s%(x)s\\%b": "odd"}
        Subscriber.objects.create(mobile=f"+1212555{n:04d}", carrier=text, fields=fields)
    subscribers = Subscriber.objects.order_by("id")
    if filtered:
        subscribers = subscribers.filter(mobile__startswith="+1212")
    header, rows = table(subscribers, SUBSCRIBER_COLUMNS, "fields")

    with timezone.override("America/New_York"):
        fast, written = both_ways(header, rows)

    assert header[-6:] == ["$.a", "%s%(x)s\\%b", "0", "Name", "Zip", "it's 100%"]
    assert fast == written
    assert b",'=1+1," in fast and b",02134" in fast and b",zero," in fast


def test_the_admin_export_is_written_by_the_database_and_reads_the_same(admin_client):
    hostile_votes()
    header, rows = table(PollResponse.objects.order_by("id"), PollResponseAdmin.export_columns)

    response = admin_client.get("/admin/campaigns/pollresponse/export.csv?o=1")

    body = b"".join(
        chunk if isinstance(chunk, bytes) else chunk.encode()
        for chunk in response.streaming_content
    )
    # The admin's headers are for people; the rows are the Python writer's, byte for byte.
    head, _, written = body.partition(b"\r\n")
    assert head.startswith(b"Received at (UTC),Mobile,")
    expected = "".join(csv_lines(header, rows)).encode().partition(b"\r\n")[2]
    assert sorted(written.split(b"\r\n")) == sorted(expected.split(b"\r\n"))


@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite divides by zero to NULL")
def test_a_copy_that_fails_raises_djangos_error_as_any_query_would():
    Subscriber.objects.create(mobile="+12125550100")
    failing = Subscriber.objects.extra(where=["1 / (id - id) = 1"])
    header, rows = table(failing, SUBSCRIBER_COLUMNS)
    response = csv_response("subscribers.csv", header, rows)

    # Django's type, not the driver's: Django's own handling (and ours) knows it.
    with pytest.raises(DataError, match="division by zero"):
        b"".join(response.streaming_content)
