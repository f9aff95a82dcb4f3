import csv
import io
import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import Permission, User
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from campaigns.models import Campaign, Kind, PollChoice
from campaigns.results import Counting, votes_over_time
from tests.helpers import receive

DAY1 = datetime(2026, 3, 1, 9, tzinfo=UTC)


@pytest.fixture
def poll(db) -> Campaign:
    campaign = Campaign.objects.create(shortcode="12345", keyword="VOTE", kind=Kind.POLL)
    PollChoice.objects.create(campaign=campaign, reply="A", label="Tampa", order=1)
    PollChoice.objects.create(campaign=campaign, reply="B", label="Miami", order=2)
    return campaign


@pytest.fixture
def staff(db, client):
    user = User.objects.create_user("marketer", password="x", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_campaign"))
    client.force_login(user)
    return user


def vote(endpoint, mobile: str, reply: str, at: datetime, label: str = "") -> None:
    """A poll callback through the real pipeline: raw event, then record()."""
    params = {"mobile": mobile, "shortcode": "12345", "key": "VOTE", "reply": reply, "label": label}
    assert receive(Kind.POLL, at=at, **params) is not None


def results_page(client, campaign, **params):
    url = reverse("admin:campaigns_campaign_results", args=[campaign.pk])
    return client.get(url, params)


def by_reply(rows) -> dict:
    return {r.choice.reply: (r.votes, r.voters, round(100 * r.share, 1)) for r in rows}


def test_it_counts_every_vote_by_default(client, staff, poll, endpoint):
    vote(endpoint, "+12125550001", "A", DAY1)
    vote(endpoint, "+12125550001", "B", DAY1 + timedelta(hours=1))
    vote(endpoint, "+12125550002", "a", DAY1 + timedelta(hours=2))

    response = results_page(client, poll)

    assert response.status_code == 200
    results = response.context["results"]
    assert by_reply(results.configured) == {"A": (2, 2, 66.7), "B": (1, 1, 33.3)}
    assert (results.votes, results.voters) == (3, 2)
    page = response.content.decode()
    assert "Counting: <strong>Every vote</strong>" in page
    assert "66.7%" in page and "Tampa" in page


def test_it_counts_each_subscribers_latest_vote(client, staff, poll, endpoint):
    vote(endpoint, "+12125550001", "A", DAY1)
    vote(endpoint, "+12125550001", "B", DAY1 + timedelta(hours=1))
    vote(endpoint, "+12125550002", "A", DAY1 + timedelta(hours=2))
    vote(endpoint, "+12125550003", "B", DAY1 + timedelta(hours=3))
    vote(endpoint, "+12125550003", "B", DAY1 + timedelta(hours=4))

    response = results_page(client, poll, counting="latest")

    results = response.context["results"]
    assert by_reply(results.configured) == {"A": (1, 1, 33.3), "B": (2, 2, 66.7)}
    assert (results.votes, results.voters) == (3, 3)
    assert "Counting: <strong>Each subscriber&#x27;s latest vote</strong>" in response.text


def test_it_counts_only_votes_in_the_date_range(client, staff, poll, endpoint):
    vote(endpoint, "+12125550001", "A", DAY1 - timedelta(days=1))
    vote(endpoint, "+12125550001", "B", DAY1)
    vote(endpoint, "+12125550002", "B", DAY1 + timedelta(days=1, hours=14))
    vote(endpoint, "+12125550003", "A", DAY1 + timedelta(days=2))

    response = results_page(client, poll, since="2026-03-01", until="2026-03-02")

    assert by_reply(response.context["results"].configured) == {
        "A": (0, 0, 0.0),
        "B": (2, 2, 100.0),
    }
    assert "from Mar 1, 2026" in response.text and "through Mar 2, 2026" in response.text


def test_the_latest_vote_is_the_latest_within_the_range(client, staff, poll, endpoint):
    vote(endpoint, "+12125550001", "A", DAY1)
    vote(endpoint, "+12125550001", "B", DAY1 + timedelta(days=5))

    response = results_page(client, poll, counting="latest", until="2026-03-02")

    assert by_reply(response.context["results"].configured)["A"] == (1, 1, 100.0)


def test_a_choice_made_from_a_callback_is_a_choice_marked_as_such(client, staff, poll, endpoint):
    vote(endpoint, "+12125550001", "A", DAY1)
    vote(endpoint, "+12125550002", "maybe", DAY1, label="Dunno")

    response = results_page(client, poll)

    results = response.context["results"]
    assert by_reply(results.choices) == {
        "A": (1, 1, 50.0),
        "B": (0, 0, 0.0),
        "maybe": (1, 1, 50.0),
    }
    table = response.text[response.text.index('id="choices"') :]
    row = table[table.index("<td>MAYBE</td>") :].split("</tr>")[0]
    assert "Dunno" in row and "from a callback" in row
    assert "matched no" not in response.text


def test_replies_sort_whatever_their_case(client, staff, poll, endpoint):
    PollChoice.objects.create(campaign=poll, reply="c", label="Orlando", order=2)

    choices = [r.choice.reply for r in results_page(client, poll).context["results"].choices]

    assert choices == ["A", "B", "c"]


def series(response) -> list[int]:
    """Votes per period, all choices together, from the chart's data."""
    timeline = response.context["timeline"]
    return [
        sum(votes[n] for votes in timeline.votes.values()) for n in range(len(timeline.periods))
    ]


def test_it_draws_share_bars_and_loads_nothing_from_the_internet(client, staff, poll, endpoint):
    for n in range(3):
        vote(endpoint, f"+1212555000{n}", "A", DAY1)
    vote(endpoint, "+12125550009", "B", DAY1)

    page = results_page(client, poll).text

    assert 'style="width: 75.00%"' in page and 'style="width: 25.00%"' in page
    assert not re.search(r"(src|href)=\"(https?:)?//", page), "nothing loads from the internet"


def test_it_charts_votes_per_hour_for_short_ranges_with_gaps(client, staff, poll, endpoint):
    vote(endpoint, "+12125550001", "A", DAY1)
    vote(endpoint, "+12125550002", "A", DAY1 + timedelta(minutes=10))
    vote(endpoint, "+12125550003", "B", DAY1 + timedelta(hours=3))

    response = results_page(client, poll)

    assert series(response) == [2, 0, 0, 1]
    assert response.context["timeline"].unit == "hour"
    assert "Votes per hour" in response.text
    chart = json.loads(response.context["timeline_chart"])
    assert chart["labels"] == ["Mar 1 09:00", "Mar 1 10:00", "Mar 1 11:00", "Mar 1 12:00"]
    lines = {line["label"]: line["data"] for line in chart["datasets"]}
    assert lines == {"A: Tampa": [2, 0, 0, 0], "B: Miami": [0, 0, 0, 1]}


def test_the_chart_labels_times_in_the_configured_time_zone(
    client, staff, poll, endpoint, settings
):
    settings.TIME_ZONE = "America/New_York"
    vote(endpoint, "+12125550001", "A", DAY1)  # 09:00 UTC is 04:00 in New York

    response = results_page(client, poll)

    assert json.loads(response.context["timeline_chart"])["labels"] == ["Mar 1 04:00"]
    assert "Times in America/New_York" in response.text


def test_it_charts_votes_per_day_for_long_ranges(client, staff, poll, endpoint):
    vote(endpoint, "+12125550001", "A", DAY1)
    vote(endpoint, "+12125550002", "A", DAY1 + timedelta(days=4))

    response = results_page(client, poll, counting="all")

    assert series(response) == [1, 0, 0, 0, 1]
    assert "Votes per day" in response.text


def test_it_tells_new_voters_from_returning_ones(client, staff, poll, endpoint):
    vote(endpoint, "+12125550001", "A", DAY1 - timedelta(days=10))  # known before the range
    vote(endpoint, "+12125550001", "B", DAY1)
    vote(endpoint, "+12125550002", "A", DAY1)

    response = results_page(client, poll, since="2026-03-01")

    assert (response.context["new_voters"], response.context["returning_voters"]) == (1, 1)


def test_it_explains_a_bad_date_range(client, staff, poll, endpoint):
    response = results_page(client, poll, since="2026-03-05", until="2026-03-01")

    assert response.status_code == 200
    assert response.context["results"] is None
    assert "The end date is before the start date." in response.text


@pytest.mark.parametrize("until", ["9999-12-31", "0001-01-01"])
def test_it_explains_dates_out_of_range(client, staff, poll, until):
    response = results_page(client, poll, until=until)

    assert response.status_code == 200
    assert response.context["results"] is None
    assert "Ensure this value is" in response.text


def test_it_exports_the_results_as_csv(client, staff, poll, endpoint):
    PollChoice.objects.filter(reply="B").update(label='=HYPERLINK("http://x")')
    vote(endpoint, "+12125550001", "A", DAY1)
    vote(endpoint, "+12125550002", "B", DAY1)
    vote(endpoint, "+12125550003", "@SUM", DAY1, label="-2+3")

    response = results_page(client, poll, format="csv", counting="latest", since="2026-03-01")

    assert response["Content-Type"].startswith("text/csv")
    assert f'filename="poll-{poll.pk}-latest-20260301.csv"' in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows == [
        ["Reply", "Choice", "Set up", "Votes", "Voters", "Share %", "Counting"],
        ["A", "Tampa", "configured", "1", "1", "33.3", "latest"],
        ["B", '\'=HYPERLINK("http://x")', "configured", "1", "1", "33.3", "latest"],
        ["'@SUM", "'-2+3", "from a callback", "1", "1", "33.3", "latest"],
    ]


def test_the_csv_export_rejects_bad_dates(client, staff, poll):
    response = results_page(client, poll, format="csv", since="yesterday")

    assert response.status_code == 400
    assert b"valid date" in response.content


def test_the_page_links_the_csv_export_with_the_same_filters(client, staff, poll, endpoint):
    page = results_page(client, poll, counting="latest", since="2026-03-01").text

    assert "?counting=latest&amp;since=2026-03-01&amp;format=csv" in page


def page_queries(client, campaign) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert results_page(client, campaign, counting="latest").status_code == 200
        assert results_page(client, campaign, format="csv").status_code == 200
    return len(ctx)


def test_its_query_count_does_not_grow_with_choices_or_votes(client, staff, poll, endpoint):
    vote(endpoint, "+12125550001", "A", DAY1)
    few = page_queries(client, poll)

    for n in range(10):
        PollChoice.objects.create(campaign=poll, reply=f"C{n}", label=f"Choice {n}", order=3 + n)
        vote(endpoint, f"+1212555010{n}", f"C{n}", DAY1 + timedelta(days=n))
        vote(endpoint, f"+1212555020{n}", f"new{n}", DAY1 + timedelta(hours=n))

    # Both requests: session, user, permissions, campaign and its choices, the counts (one
    # read of the poll's counters, the same on every database), the chart's range and series,
    # the new voters (the voters come with the counts), and the custom fields offered as
    # breakdowns.
    assert (few, page_queries(client, poll)) == (19, 19)


def test_it_sends_anonymous_visitors_to_the_login_page(client, poll):
    response = results_page(client, poll)

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_it_forbids_staff_without_the_view_permission(client, poll):
    client.force_login(User.objects.create_user("intern", password="x", is_staff=True))

    assert results_page(client, poll).status_code == 403
    assert results_page(client, poll, format="csv").status_code == 403


def test_it_has_no_results_page_for_other_kinds(client, staff):
    info = Campaign.objects.create(keyword="HOURS", kind=Kind.INFO)

    assert results_page(client, info).status_code == 404


def test_it_links_back_to_the_campaign(client, staff, poll):
    page = results_page(client, poll).text

    assert reverse("admin:campaigns_campaign_change", args=[poll.pk]) in page


def test_its_time_chart_follows_the_counting_rule(client, staff, poll, endpoint):
    vote(endpoint, "+12125550001", "A", DAY1)
    vote(endpoint, "+12125550002", "A", DAY1 + timedelta(minutes=5))
    vote(endpoint, "+12125550001", "B", DAY1 + timedelta(hours=2))

    assert series(results_page(client, poll, counting="all")) == [2, 0, 1]
    assert series(results_page(client, poll, counting="latest")) == [1, 0, 1]


def test_the_time_chart_counts_only_votes_inside_a_range_that_starts_mid_hour(poll, endpoint):
    vote(endpoint, "+12125550001", "A", DAY1)
    vote(endpoint, "+12125550002", "A", DAY1 + timedelta(minutes=40))
    vote(endpoint, "+12125550003", "B", DAY1 + timedelta(hours=2, minutes=5))
    vote(endpoint, "+12125550004", "B", DAY1 + timedelta(hours=2, minutes=50))

    periods = votes_over_time(
        poll, Counting.ALL, DAY1 + timedelta(minutes=30), DAY1 + timedelta(hours=2, minutes=30)
    )

    assert [(p["period"].hour, p["votes"]) for p in periods] == [(9, 1), (11, 1)]
