"""The product as the platform meets it: gunicorn in its own process, real HTTP."""

import http.client
import threading
from urllib.parse import urlsplit

import pytest

from callbacks.models import CallbackEvent, Outcome
from campaigns.models import Campaign, Kind, PollResponse
from subscribers.models import Subscriber
from tests.helpers import seed_urls

pytestmark = pytest.mark.slow


def request(base_url, method, path, body=None, headers=None):
    """Raw HTTP, so the path goes out byte for byte as written (no client re-quoting)."""
    netloc = urlsplit(base_url).netloc
    conn = http.client.HTTPConnection(netloc, timeout=30)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        for name, value in (headers or {}).items():
            conn.putheader(name, value)
        if body is not None:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        response = conn.getresponse()
        return response.status, response.getheader("Content-Type"), response.read()
    finally:
        conn.close()


def test_the_seed_examples_work_over_http(server, endpoint):
    Campaign.objects.create(keyword="keyword", kind=Kind.INFO, reply_text="Thanks!")
    answers = {}
    for kind, query in seed_urls():
        status, content_type, body = request(server, "GET", f"{endpoint.url_path(kind)}?{query}")
        assert (status, content_type) == (200, "text/plain; charset=utf-8")
        answers[kind] = body

    assert answers == {"form": b"OK", "poll": b"OK", "info": b"Thanks!"}
    assert list(Subscriber.objects.values_list("mobile", flat=True)) == ["+12125551212"]
    assert CallbackEvent.objects.filter(outcome=Outcome.PROCESSED).count() == 3
    assert PollResponse.objects.get().label == "Tampa"


# (query string, the one right answer): a clear 400 for what cannot be recorded, 200 for
# what can, a stored event either way.
HOSTILE = [
    # Broken percent-encoding and bytes that are not UTF-8: stored as U+FFFD, recorded.
    ("mobile=2125551212&key=FB1&reply=%E0%A4%A&label=%ff%fe", 200),
    # A null byte in a value, and in a parameter name.
    ("mobile=2125551212&key=FB1&reply=A&label=Tam%00pa", 400),
    ("mobile=2125551212&key=FB1&reply=A&la%00bel=x", 400),
    # Markup and SQL as data.
    ("mobile=2125551212&key=%27%3B%20DROP%20TABLE%20x%3B--&reply=%3Cscript%3E&label=%3Cb%3E", 200),
    # A very long value, and one parameter repeated (the last one counts).
    ("mobile=2125551212&key=FB1&reply=A&label=" + "L" * 6000, 400),
    ("mobile=2125551212&mobile=2125551213&key=FB1&reply=A", 200),
    # Numbers that are not numbers.
    ("mobile=%2B%2B%2B&key=FB1&reply=A", 400),
    ("mobile=" + "9" * 500 + "&key=FB1&reply=A", 400),
    ("mobile=2125551212&country=" + "X" * 500 + "&key=FB1&reply=A", 400),
    # Nothing at all.
    ("", 400),
    ("&&&", 400),
]


@pytest.mark.parametrize(("query", "expected"), HOSTILE)
def test_hostile_input_gets_an_answer_and_a_stored_record(server, endpoint, query, expected):
    status, _, body = request(server, "GET", f"{endpoint.url_path(Kind.POLL)}?{query}")

    assert status == expected, body
    event = CallbackEvent.objects.get()
    assert event.query_string == query
    if status == 400:
        assert event.outcome == Outcome.REJECTED
        assert body.decode() == event.reason and body
    else:
        assert event.outcome == Outcome.PROCESSED


def test_a_post_body_that_is_not_utf8_is_stored(server, endpoint):
    body = b"mobile=2125551212&lead=HOURS&msg=caf\xe9"
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    status, _, _ = request(server, "POST", endpoint.url_path(Kind.INFO), body, headers)
    assert status == 200
    event = CallbackEvent.objects.get()
    assert event.body == "mobile=2125551212&lead=HOURS&msg=caf\ufffd"
    assert bytes(event.body_raw) == body  # the bytes as received, for whoever can read them


def test_concurrent_callbacks_for_a_new_number_make_one_subscriber(server, endpoint):
    senders, statuses = 16, []
    barrier = threading.Barrier(senders)

    def send(i):
        path = f"{endpoint.url_path(Kind.FORM)}?mobile=2125551212&key=JOIN&shortcode=84700&f{i}={i}"
        barrier.wait()
        statuses.append(request(server, "GET", path)[0])

    threads = [threading.Thread(target=send, args=(i,)) for i in range(senders)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert statuses == [200] * senders
    subscriber = Subscriber.objects.get()
    assert subscriber.fields == {f"f{i}": str(i) for i in range(senders)}
    assert Campaign.objects.count() == 1
    assert CallbackEvent.objects.filter(outcome=Outcome.PROCESSED).count() == senders


def test_a_marketers_change_reaches_a_server_that_cached_the_campaign(server, endpoint):
    campaign = Campaign.objects.create(keyword="HOURS", kind=Kind.INFO, reply_text="Open 9-5")
    path = f"{endpoint.url_path(Kind.INFO)}?lead=HOURS&mobile=2125551212&msg=hours"
    # Every worker thread and process answers from its lookups after the first requests.
    assert {request(server, "GET", path)[2] for _ in range(8)} == {b"Open 9-5"}

    campaign.reply_text = "Closed today"
    campaign.save()

    assert {request(server, "GET", path)[2] for _ in range(8)} == {b"Closed today"}
