"""Breakdowns of a poll by who voted, on the results page and as CSV."""

import csv
import io
from datetime import UTC, date, datetime

import pytest
from django.urls import reverse

from campaigns.breakdowns import AGE, CARRIER, STATE, age_band, breakdown, dimensions
from campaigns.models import Campaign, Kind, PollChoice
from subscribers.models import Subscriber
from tests.helpers import receive

DAY1 = datetime(2026, 3, 1, 9, tzinfo=UTC)


@pytest.fixture
def poll(db) -> Campaign:
    campaign = Campaign.objects.create(shortcode="12345", keyword="VOTE", kind=Kind.POLL)
    PollChoice.objects.create(campaign=campaign, reply="A", label="Tampa", order=1)
    PollChoice.objects.create(campaign=campaign, reply="B", label="Miami", order=2)
    return campaign


def vote(mobile: str, reply: str, carrier: str = "", **fields) -> None:
    params = {"mobile": mobile, "shortcode": "12345", "key": "VOTE", "reply": reply}
    assert receive(Kind.POLL, at=DAY1, carrier=carrier, **params) is not None
    if fields:
        Subscriber.objects.filter(mobile=mobile).update(fields=fields)


def table(found) -> dict:
    replies = {c.pk: c.reply for c in found.choices}
    return {row.value: {replies[pk]: n for pk, n in row.votes.items() if n} for row in found.rows}


def test_it_breaks_votes_down_by_carrier(poll, endpoint):
    vote("+12125550001", "A", "VZ")
    vote("+12125550002", "A", "VZ")
    vote("+13055550003", "B", "ATT")
    vote("+13055550004", "B")

    assert table(breakdown(poll, CARRIER)) == {
        "VZ": {"A": 2},
        "ATT": {"B": 1},
        "(unknown)": {"B": 1},
    }


def test_it_breaks_votes_down_by_us_state_from_the_number(poll, endpoint):
    vote("+12125550001", "A")
    vote("+13055550003", "B")
    vote("+18135550004", "A")
    vote("+442071838750", "B")

    assert table(breakdown(poll, STATE)) == {
        "Florida": {"A": 1, "B": 1},
        "New York": {"A": 1},
        "(outside the US)": {"B": 1},
    }


def test_it_breaks_votes_down_by_a_custom_field_and_by_age_band(poll, endpoint):
    vote("+12125550001", "A", Zip="10024", DOB="1990-05-01")
    vote("+12125550002", "B", Zip="10024", DOB="05/01/2001")
    vote("+12125550003", "B", Zip="33101")

    found = {d.key: d for d in dimensions(poll)}
    assert set(found) == {"carrier", "state", "age", "field:DOB", "field:Zip"}
    assert table(breakdown(poll, found["field:Zip"])) == {
        "10024": {"A": 1, "B": 1},
        "33101": {"B": 1},
    }
    by_age = breakdown(poll, AGE, today=date(2026, 3, 1))
    assert [row.value for row in by_age.rows] == ["18–24", "35–44", "(unknown)"]
    assert table(by_age)["35–44"] == {"A": 1}


@pytest.mark.parametrize(
    "born, band",
    [
        ("2010-01-01", "under 18"),
        ("1990-03-02", "35–44"),
        ("03/01/1991", "35–44"),
        ("1990-02-30", "(unknown)"),  # the common form, but no such day
        ("x", "(unknown)"),
    ],
)
def test_age_bands_read_common_date_formats(born, band):
    assert age_band(born, date(2026, 3, 1)) == band


def test_the_results_page_loads_a_breakdown_with_its_chart_and_csv(admin_client, poll, endpoint):
    vote("+12125550001", "A", "VZ")
    vote("+13055550003", "B", "=cmd")
    url = reverse("admin:campaigns_campaign_breakdown", args=[poll.pk, "carrier"])

    page = admin_client.get(reverse("admin:campaigns_campaign_results", args=[poll.pk])).text
    fragment = admin_client.get(url, {"counting": "latest"}).text
    download = admin_client.get(url, {"counting": "latest", "format": "csv"})

    assert f'data-breakdown="{url}?' in page
    assert 'class="chart"' in fragment and "<td>VZ</td>" in fragment
    rows = list(csv.reader(io.StringIO(b"".join(download.streaming_content).decode())))
    assert rows == [
        ["Carrier", "A: Tampa", "B: Miami", "votes"],
        ["'=cmd", "0", "1", "1"],
        ["VZ", "1", "0", "1"],
    ]


def test_an_unknown_breakdown_is_not_found(admin_client, poll):
    url = reverse("admin:campaigns_campaign_breakdown", args=[poll.pk, "field:Nope"])

    assert admin_client.get(url).status_code == 404
