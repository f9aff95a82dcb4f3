"""Retries counted once: an identical callback within the window is a duplicate, not a row."""

import threading
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from callbacks import dedupe
from callbacks.models import CallbackEvent, CallbackFingerprint, Outcome
from campaigns.models import Campaign, InfoRequest, Kind, PollResponse
from subscribers.models import Subscriber
from tests.helpers import send, vote

VOTE = "mobile=2125551212&shortcode=84700&key=FB1&reply=A&label=Tampa"


@pytest.mark.django_db
def test_the_same_vote_twice_is_stored_once_and_answered_twice(client, endpoint):
    first = send(client, endpoint, Kind.POLL, VOTE)
    again = send(client, endpoint, Kind.POLL, VOTE)

    assert (first.status_code, first.content) == (200, b"OK")
    assert (again.status_code, again.content) == (200, b"OK")
    original, retry = CallbackEvent.objects.order_by("id")
    assert original.outcome == Outcome.PROCESSED
    assert (retry.outcome, retry.duplicate_of) == (Outcome.DUPLICATE, original)
    assert retry.reason == f"Duplicate of callback {original.pk}."
    assert PollResponse.objects.get().callback == original


@pytest.mark.django_db
def test_the_same_parameters_in_another_order_or_method_are_the_same_callback(client, endpoint):
    send(client, endpoint, Kind.POLL, VOTE)
    reordered = dict(pair.split("=") for pair in reversed(VOTE.split("&")))
    assert send(client, endpoint, Kind.POLL, method="post", data=reordered).status_code == 200

    assert CallbackEvent.objects.filter(outcome=Outcome.DUPLICATE).count() == 1
    assert PollResponse.objects.count() == 1


@pytest.mark.django_db
def test_a_different_parameter_kind_or_endpoint_is_a_new_callback(client, endpoint):
    other = type(endpoint).objects.create(name="Second account")
    send(client, endpoint, Kind.POLL, VOTE)
    send(client, endpoint, Kind.POLL, VOTE.replace("label=Tampa", "label=Tampa+Bay"))
    send(client, other, Kind.POLL, VOTE)
    send(client, endpoint, Kind.FORM, VOTE)

    assert not CallbackEvent.objects.filter(outcome=Outcome.DUPLICATE).exists()
    assert PollResponse.objects.count() == 3


@pytest.mark.django_db
def test_a_retried_info_request_gets_the_reply_again_and_is_counted_once(client, endpoint):
    Campaign.objects.create(keyword="HOURS", kind=Kind.INFO, reply_text="Open 9-5")
    query = "mobile=2125551212&lead=HOURS&msg=hours"
    answers = [send(client, endpoint, Kind.INFO, query).content for _ in range(2)]

    assert answers == [b"Open 9-5", b"Open 9-5"]
    assert InfoRequest.objects.count() == 1


@pytest.mark.django_db
def test_after_the_window_the_same_callback_counts_again(endpoint, settings):
    settings.CALLBACK_DUPLICATE_WINDOW = 600
    start = timezone.now()
    vote("+12125551212", "A", at=start)
    vote("+12125551212", "A", at=start + timedelta(seconds=599))
    vote("+12125551212", "A", at=start + timedelta(seconds=601))

    outcomes = list(CallbackEvent.objects.order_by("received_at").values_list("outcome", flat=True))
    assert outcomes == [Outcome.PROCESSED, Outcome.DUPLICATE, Outcome.PROCESSED]
    assert PollResponse.objects.count() == 2


@pytest.mark.django_db
def test_a_campaign_sets_its_own_window(endpoint, settings):
    settings.CALLBACK_DUPLICATE_WINDOW = 600
    Campaign.objects.create(shortcode="12345", keyword="PIZZA", kind=Kind.POLL, duplicate_window=5)
    start = timezone.now()
    vote("+12125551212", "A", at=start)
    vote("+12125551212", "A", at=start + timedelta(seconds=4))
    vote("+12125551212", "A", at=start + timedelta(seconds=6))

    outcomes = list(CallbackEvent.objects.order_by("received_at").values_list("outcome", flat=True))
    assert outcomes == [Outcome.PROCESSED, Outcome.DUPLICATE, Outcome.PROCESSED]


@pytest.mark.django_db
def test_a_campaign_window_of_zero_counts_every_copy(endpoint, settings):
    settings.CALLBACK_DUPLICATE_WINDOW = 600
    Campaign.objects.create(shortcode="12345", keyword="PIZZA", kind=Kind.POLL, duplicate_window=0)
    vote("+12125551212", "A")
    vote("+12125551212", "A")

    assert PollResponse.objects.count() == 2
    assert not CallbackFingerprint.objects.exists()


@pytest.mark.django_db
def test_the_duplicate_check_is_one_statement_and_none_when_turned_off(client, endpoint, settings):
    settings.CALLBACK_DUPLICATE_WINDOW = 600
    send(client, endpoint, Kind.POLL, VOTE)  # campaign, choice and subscriber now exist
    send(client, endpoint, Kind.POLL, VOTE + "&n=0")  # the process now knows the campaign
    with CaptureQueriesContext(connection) as on:
        send(client, endpoint, Kind.POLL, VOTE + "&n=1")
    settings.CALLBACK_DUPLICATE_WINDOW = 0
    with CaptureQueriesContext(connection) as off:
        send(client, endpoint, Kind.POLL, VOTE)
        send(client, endpoint, Kind.POLL, VOTE)

    assert len(on) * 2 == len(off) + 2
    assert not [q for q in off.captured_queries if "callbackfingerprint" in q["sql"]]
    assert PollResponse.objects.count() == 5


@pytest.mark.django_db
def test_reprocessing_a_failed_callback_that_was_retried_makes_no_second_row(client, endpoint):
    # The platform retried after our failure, and the retry was recorded.
    failed = CallbackEvent.objects.create(
        endpoint=endpoint,
        kind=Kind.POLL,
        method="GET",
        query_string=VOTE,
        received_at=timezone.now() - timedelta(seconds=30),
        outcome=Outcome.FAILED,
        reason="OperationalError: the database went away",
    )
    send(client, endpoint, Kind.POLL, VOTE)
    call_command("reprocess_callbacks", stdout=StringIO())

    failed.refresh_from_db()
    retry = CallbackEvent.objects.exclude(pk=failed.pk).get()
    assert (failed.outcome, failed.duplicate_of) == (Outcome.DUPLICATE, retry)
    assert PollResponse.objects.get().callback == retry


@pytest.mark.django_db(transaction=True)
def test_concurrent_identical_callbacks_are_counted_once(endpoint):
    """Sixteen copies at once, each in its own thread and connection: the database decides."""
    copies, errors = 16, []
    barrier = threading.Barrier(copies)
    at = timezone.now()

    def send_copy():
        try:
            barrier.wait()
            vote("+12125551212", "A", at=at)
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)
        finally:
            connection.close()

    threads = [threading.Thread(target=send_copy) for _ in range(copies)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    outcomes = sorted(CallbackEvent.objects.values_list("outcome", flat=True))
    assert outcomes == [Outcome.DUPLICATE] * (copies - 1) + [Outcome.PROCESSED]
    first = CallbackEvent.objects.get(outcome=Outcome.PROCESSED)
    assert set(CallbackEvent.objects.values_list("duplicate_of", flat=True)) == {None, first.pk}
    assert PollResponse.objects.get().callback == first
    assert Subscriber.objects.count() == 1


@pytest.mark.django_db
def test_expired_claims_are_forgotten_and_live_ones_kept(endpoint, settings):
    settings.CALLBACK_DUPLICATE_WINDOW = 600
    vote("+12125551212", "A", at=timezone.now() - timedelta(seconds=601))
    vote("+12125551213", "A")

    assert dedupe.forget_expired() == 1
    assert CallbackFingerprint.objects.get().event.query_string.startswith("mobile=%2B12125551213")


@pytest.mark.django_db
def test_callbacks_recorded_out_of_order_are_compared_by_arrival_time(endpoint, settings):
    """A drain stores older callbacks after newer ones: a day apart is no retry."""
    settings.CALLBACK_DUPLICATE_WINDOW = 600
    now = timezone.now()
    vote("+12125551212", "A", at=now)
    vote("+12125551212", "A", at=now - timedelta(days=1))
    vote("+12125551212", "A", at=now - timedelta(days=1, seconds=-30))

    by_age = CallbackEvent.objects.order_by("received_at").values_list("outcome", flat=True)
    assert list(by_age) == [Outcome.PROCESSED, Outcome.DUPLICATE, Outcome.PROCESSED]
    assert PollResponse.objects.count() == 2
