"""Big CSV exports have their cells written by the database (PostgreSQL's COPY, SQLite's
SELECT): the very bytes the Python writer makes, spreadsheet escaping included."""

from datetime import UTC, datetime

import pytest

from callbacks.models import CallbackEvent, Endpoint, Outcome
from campaigns.admin import PollResponseAdmin
from campaigns.models import Campaign, Kind, PollChoice, PollResponse
from lib.exports import csv_lines, database_lines, table
from subscribers.models import Subscriber

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
        # Whole seconds and fractions: Python drops ".000000", so must the database.
        at = datetime(2026, 1, 2, 3, 4, 5, 0 if n % 2 else 120000 + n, tzinfo=UTC)
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


def both_ways(rows_of):
    header, rows = rows_of(
        table(PollResponse.objects.order_by("id"), PollResponseAdmin.export_columns)
    )
    lines = database_lines(header, rows)
    assert lines is not None
    by_database = b"".join(line if isinstance(line, bytes) else line.encode() for line in lines)
    written = "".join(csv_lines(header, rows)).encode()
    return by_database, written


@pytest.mark.parametrize("times", ["str", "iso"])
def test_the_database_writes_the_very_bytes_python_writes(times):
    hostile_votes()

    copied, written = both_ways(
        lambda table: table if times == "str" else (table[0], table[1].iso_times())
    )

    assert copied == written
    assert written.count(b"\r\n") >= len(HOSTILE) + 1
    assert b"'=1+1" in copied and b"+12125551212" in copied


def test_the_admin_export_is_written_by_the_database_and_reads_the_same(admin_client):
    hostile_votes()
    header, rows = table(PollResponse.objects.order_by("id"), PollResponseAdmin.export_columns)

    response = admin_client.get("/admin/campaigns/pollresponse/export.csv?o=1")

    body = b"".join(
        chunk if isinstance(chunk, bytes) else chunk.encode()
        for chunk in response.streaming_content
    )
    assert body.startswith(b"received_at,mobile,")
    assert sorted(body.split(b"\r\n")) == sorted(
        "".join(csv_lines(header, rows)).encode().split(b"\r\n")
    )


def test_custom_field_columns_are_written_by_python():
    Subscriber.objects.create(mobile="+12125551212", fields={"Name": "Bill"})
    header, rows = table(Subscriber.objects.all(), [("mobile", "mobile")], "fields")
    assert database_lines(header, rows) is None
