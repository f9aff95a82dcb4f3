"""Callbacks through the real URL outside any test transaction, as production runs them: the
endpoint, campaign and choice come from the process's lookups, and on PostgreSQL the callback
is recorded in one statement. Whatever changes behind those lookups shows in the next callback;
retries are still counted once; a webhook subscription still gets its event."""

import json
import threading

import pytest
from django.db import connection
from django.test import Client

from callbacks.models import CallbackEvent, Endpoint, Outcome
from campaigns.models import Campaign, Kind, PollChoice, PollResponse
from tests.helpers import send
from webhooks.models import Delivery, EventKind, Subscription
from webhooks.outbox import forget_subscribed_kinds

pytestmark = pytest.mark.django_db(transaction=True)

VOTE = "mobile=2125551212&shortcode=84700&key=FB1&reply=A&label=Tampa"


def test_an_endpoint_disabled_behind_the_orms_back_is_refused_at_once(client, endpoint):
    assert send(client, endpoint, Kind.POLL, VOTE).status_code == 200  # the process knows it

    Endpoint.objects.filter(pk=endpoint.pk).update(enabled=False)  # no save(), no signal

    response = send(client, endpoint, Kind.POLL, VOTE + "&n=2")
    assert (response.status_code, response.content) == (404, b"Not found")
    assert CallbackEvent.objects.count() == 1


def test_a_token_rotated_at_once_stops_opening_the_endpoint(client, endpoint):
    old = Endpoint.objects.get(pk=endpoint.pk)
    assert send(client, old, Kind.POLL, VOTE).status_code == 200

    endpoint.rotate_token(old_works_until=endpoint.created_at)

    assert send(client, old, Kind.POLL, VOTE + "&n=2").status_code == 404
    assert send(client, endpoint, Kind.POLL, VOTE + "&n=3").status_code == 200
    assert PollResponse.objects.count() == 2


def test_a_reply_text_changed_behind_the_orms_back_is_answered_at_once(client, endpoint):
    campaign = Campaign.objects.create(keyword="HOURS", kind=Kind.INFO, reply_text="Open 9-5")
    query = "lead=HOURS&msg=hours&mobile=212555"
    assert send(client, endpoint, Kind.INFO, query + "1212").content == b"Open 9-5"
    assert send(client, endpoint, Kind.INFO, query + "1213").content == b"Open 9-5"

    Campaign.objects.filter(pk=campaign.pk).update(reply_text="Closed today")

    assert send(client, endpoint, Kind.INFO, query + "1214").content == b"Closed today"
    assert CallbackEvent.objects.filter(outcome=Outcome.PROCESSED).count() == 3


def test_a_choice_removed_and_made_again_gets_the_next_votes(client, endpoint):
    send(client, endpoint, Kind.POLL, VOTE)
    send(client, endpoint, Kind.POLL, VOTE + "&n=2")  # the process knows campaign and choice
    old = PollChoice.objects.get()
    PollResponse.objects.all().delete()
    old.delete()
    new = PollChoice.objects.create(campaign=old.campaign, reply="A", label="Anchovies")

    assert send(client, endpoint, Kind.POLL, VOTE + "&n=3").status_code == 200

    assert PollResponse.objects.get().choice == new


def test_the_same_vote_twice_is_stored_once_and_answered_twice(client, endpoint):
    send(client, endpoint, Kind.POLL, VOTE + "&n=1")  # the process knows the campaign

    first = send(client, endpoint, Kind.POLL, VOTE)
    again = send(client, endpoint, Kind.POLL, VOTE)

    assert [first.content, again.content] == [b"OK", b"OK"]
    original, retry = CallbackEvent.objects.filter(query_string=VOTE).order_by("id")
    assert original.outcome == Outcome.PROCESSED
    assert (retry.outcome, retry.duplicate_of) == (Outcome.DUPLICATE, original)
    assert PollResponse.objects.filter(callback=original).exists()
    assert PollResponse.objects.count() == 2


def test_concurrent_identical_callbacks_through_the_url_are_counted_once(client, endpoint):
    send(client, endpoint, Kind.POLL, VOTE + "&n=1")  # the process knows the campaign
    copies, statuses = 8, []
    barrier = threading.Barrier(copies)

    def send_copy():
        try:
            barrier.wait()
            statuses.append(send(Client(), endpoint, Kind.POLL, VOTE).status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=send_copy) for _ in range(copies)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert statuses == [200] * copies
    events = CallbackEvent.objects.filter(query_string=VOTE)
    outcomes = sorted(events.values_list("outcome", flat=True))
    assert outcomes == [Outcome.DUPLICATE] * (copies - 1) + [Outcome.PROCESSED]
    first = events.get(outcome=Outcome.PROCESSED)
    assert set(events.values_list("duplicate_of", flat=True)) == {None, first.pk}
    assert PollResponse.objects.filter(callback__query_string=VOTE).get().callback == first


@pytest.fixture
def subscription():
    yield Subscription.objects.create(
        target_url="http://127.0.0.1:9/", kinds=[EventKind.POLL_RESPONSE]
    )
    forget_subscribed_kinds()  # the next test's empty database has none


def test_a_subscription_gets_the_event_of_every_vote(client, endpoint, subscription):
    send(client, endpoint, Kind.POLL, VOTE + "&n=1")
    send(client, endpoint, Kind.POLL, VOTE + "&n=2")

    events = [json.loads(body) for body in Delivery.objects.values_list("body", flat=True)]
    assert {event["type"] for event in events} == {EventKind.POLL_RESPONSE}
    assert sorted(event["data"]["id"] for event in events) == sorted(
        PollResponse.objects.values_list("id", flat=True)
    )
    assert len(events) == 2
