"""simulate_campaign against the real server: what it sends is what the product stores."""

import json
from collections import Counter
from io import StringIO
from urllib.parse import parse_qsl

import pytest
from django.core.management import CommandError, call_command

from callbacks.models import CallbackEvent, Outcome
from callbacks.params import read_params
from callbacks.simulator import Campaigns, Traffic, parse_choices
from campaigns.models import Campaign, FormSubmission, InfoRequest, Kind, PollResponse
from subscribers.models import Subscriber


def simulate(*args, **options) -> str:
    out = StringIO()
    call_command("simulate_campaign", *args, stdout=out, **options)
    return out.getvalue()


@pytest.mark.slow
def test_it_sends_realistic_callbacks_that_are_all_stored(server, endpoint, tmp_path):
    Campaign.objects.create(keyword="HOURS", kind=Kind.INFO, reply_text="Open 9-5")
    urls = [server + endpoint.url_path(kind) for kind in (Kind.POLL, Kind.INFO, Kind.FORM)]
    report = tmp_path / "report.json"

    out = simulate(*urls, count=120, rate=400, seed=7, report=str(report))

    summary = json.loads(report.read_text())
    assert summary["sent"] == 120 and summary["statuses"] == {"200": 120}
    assert "Sent 120 callbacks for" in out and "Answers: 120 x 200." in out
    assert "Latency: p50 " in out and " p99 " in out
    events = CallbackEvent.objects.all()
    assert events.count() == 120
    # The simulator never repeats a callback exactly (the product would count a repeat as
    # the platform's retry): every one is processed.
    distinct = {(e.endpoint_id, e.kind, tuple(sorted(read_params(e)))) for e in events}
    assert len(distinct) == 120
    assert Counter(events.values_list("outcome", flat=True)) == {Outcome.PROCESSED: 120}
    # New and returning subscribers, one row each however their number was typed.
    mobiles = set(Subscriber.objects.values_list("mobile", flat=True))
    assert mobiles == set(summary["mobiles"])
    assert 40 < len(mobiles) < 120
    typed = {dict(parse_qsl(e.query_string))["mobile"][:2] for e in events}
    assert {"(2", "+1", "1-"} <= typed and any(t.isdigit() for t in typed)
    # Each kind with the seed document's parameters.
    assert set(PollResponse.objects.values_list("reply", "label")) == {
        ("A", "Tampa"),
        ("B", "Miami"),
        ("C", "Orlando"),
    }
    assert {s.subscriber.carrier for s in PollResponse.objects.select_related("subscriber")} > {
        "VERIZONUS"
    }
    assert all(set(f.fields) == {"Name", "DOB", "Zip"} for f in FormSubmission.objects.all())
    assert set(InfoRequest.objects.values_list("campaign__keyword", flat=True)) == {"HOURS"}
    assert FormSubmission.objects.exists() and InfoRequest.objects.exists()


def test_poll_replies_follow_their_weights():
    traffic = Traffic(Campaigns(choices=parse_choices("A:Tampa:8,B:Miami:2")), seed=1)
    replies = [traffic.params(Kind.POLL)["reply"] for _ in range(2000)]

    assert 0.75 < replies.count("A") / len(replies) < 0.85


def test_it_refuses_a_remote_target_unless_allowed():
    with pytest.raises(CommandError, match="--allow-remote"):
        simulate("http://203.0.113.5/callbacks/abc/poll/", count=1)


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8000/callbacks/abc/vote/", "ftp://127.0.0.1/callbacks/abc/poll/"]
)
def test_it_refuses_a_url_that_is_no_callback_url(url):
    with pytest.raises(CommandError):
        simulate(url, count=1)
