"""Webhooks end to end: a callback writes the outbox in its own transaction, the worker sends
each event, signed the Standard Webhooks way, to a real local HTTP receiver that fails, times
out and recovers; the admin redelivers."""

import base64
import hashlib
import hmac
import json
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from tests.helpers import client_for, integration_user, receive, vote
from webhooks.delivery import deliver_due
from webhooks.models import Delivery, EventKind, Subscription, backoff
from webhooks.outbox import forget_subscribed_kinds

pytestmark = pytest.mark.django_db


class Receiver:
    """An HTTP server on a free local port that answers as told: `mode` is "fail" (500),
    "slow" (answers after 2 s) or "ok" (204), and keeps every request it got."""

    def __init__(self):
        self.mode = "ok"
        self.got: list[tuple[dict, bytes]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.got.append(({k.lower(): v for k, v in self.headers.items()}, body))
                if outer.mode == "slow":
                    time.sleep(2)
                self.send_response(500 if outer.mode == "fail" else 204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()


@pytest.fixture(autouse=True)
def fresh_subscriptions():
    forget_subscribed_kinds()
    yield
    forget_subscribed_kinds()


def verify(secret: str, headers: dict, body: bytes) -> bool:
    """Standard Webhooks verification, written from the specification."""
    key = base64.b64decode(secret.split("_", 1)[1])
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return any(
        hmac.compare_digest(part.split(",", 1)[1], expected)
        for part in headers["webhook-signature"].split()
    )


def test_no_subscription_no_outbox_row():
    vote("2125551212", "A")
    assert not Delivery.objects.exists()


def test_only_the_kinds_subscribed_to_are_written():
    Subscription.objects.create(target_url="http://127.0.0.1:9/", kinds=[EventKind.INFO_REQUEST])
    vote("2125551212", "A")
    receive("info", lead="HOURS", mobile="2125551212", msg="hours?")
    assert list(Delivery.objects.values_list("kind", flat=True)) == [EventKind.INFO_REQUEST]


def test_a_new_subscriber_is_created_then_changed():
    Subscription.objects.create(
        target_url="http://127.0.0.1:9/",
        kinds=[EventKind.SUBSCRIBER_CREATED, EventKind.SUBSCRIBER_CHANGED],
    )
    receive("form", key="JOIN", mobile="2125551212", Name="Ann")
    receive("form", key="JOIN", mobile="2125551212", City="Tampa")
    receive("form", key="JOIN", mobile="3055550123", Name="Bob")
    events = [
        (kind, json.loads(body)["data"]["mobile"], json.loads(body)["data"]["fields"])
        for kind, body in Delivery.objects.order_by("id").values_list("kind", "body")
    ]
    assert events == [
        ("subscriber.created", "+12125551212", {"Name": "Ann"}),
        ("subscriber.changed", "+12125551212", {"Name": "Ann", "City": "Tampa"}),
        ("subscriber.created", "+13055550123", {"Name": "Bob"}),
    ]


def test_only_changes_are_sent_to_who_wants_only_changes():
    Subscription.objects.create(
        target_url="http://127.0.0.1:9/", kinds=[EventKind.SUBSCRIBER_CHANGED]
    )
    vote("2125551212", "A")
    assert not Delivery.objects.exists()
    vote("2125551212", "B")
    assert list(Delivery.objects.values_list("kind", flat=True)) == ["subscriber.changed"]


def test_a_subscription_another_process_deleted_fails_no_callback():
    subscription = Subscription.objects.create(
        target_url="http://127.0.0.1:9/", kinds=[EventKind.POLL_RESPONSE]
    )
    vote("2125551212", "A")
    assert Delivery.objects.count() == 1
    with connection.cursor() as cursor:  # no signal: this process still has it cached
        cursor.execute("DELETE FROM webhooks_delivery")
        cursor.execute("DELETE FROM webhooks_subscription WHERE id = %s", [subscription.id])
    response = vote("3055550123", "A")
    assert response.pk is not None
    assert not Delivery.objects.exists()


def test_a_rejected_callback_writes_no_event():
    Subscription.objects.create(target_url="http://127.0.0.1:9/", kinds=[EventKind.POLL_RESPONSE])
    receive("poll", shortcode="12345", key="PIZZA", reply="A")  # no mobile: rejected
    assert not Delivery.objects.exists()


def test_events_are_signed_retried_with_backoff_and_delivered_once_the_receiver_recovers(
    receiver,
):
    subscription = Subscription.objects.create(
        target_url=receiver.url, kinds=[EventKind.POLL_RESPONSE, EventKind.SUBSCRIBER_CREATED]
    )
    response = vote("2125551212", "A", label="Tampa")
    assert sorted(Delivery.objects.values_list("kind", flat=True)) == [
        EventKind.POLL_RESPONSE,
        EventKind.SUBSCRIBER_CREATED,
    ]
    delivery = Delivery.objects.get(kind=EventKind.POLL_RESPONSE)

    receiver.mode = "fail"
    start = timezone.now()
    assert deliver_due(now=start, timeout=1) == {"delivered": 0, "failed": 2}
    delivery.refresh_from_db()
    assert (delivery.attempts, delivery.last_status, delivery.delivered_at) == (1, 500, None)
    assert delivery.next_attempt_at == start + backoff(1)
    # Not due yet: nothing is sent.
    assert deliver_due(now=start + timedelta(seconds=5), timeout=1) == {
        "delivered": 0,
        "failed": 0,
    }

    receiver.mode = "slow"
    second = start + backoff(1)
    assert deliver_due(now=second, timeout=0.5) == {"delivered": 0, "failed": 2}
    delivery.refresh_from_db()
    assert delivery.attempts == 2 and delivery.last_status is None
    assert "timed out" in delivery.last_error
    assert delivery.next_attempt_at == second + backoff(2) == second + timedelta(seconds=20)

    receiver.mode = "ok"
    assert deliver_due(now=second + backoff(2), timeout=1) == {"delivered": 2, "failed": 0}
    delivery.refresh_from_db()
    assert delivery.delivered_at is not None and delivery.next_attempt_at is None
    assert delivery.last_status == 204

    headers, body = next(
        (h, b) for h, b in reversed(receiver.got) if h["webhook-id"] == delivery.message_id
    )
    assert verify(subscription.secret, headers, body)
    assert not verify(subscription.secret, headers, body + b" ")
    assert abs(int(headers["webhook-timestamp"]) - time.time()) < 60
    event = json.loads(body)
    assert event["type"] == "poll_response.created"
    assert event["data"]["id"] == response.id
    assert event["data"]["choice_label"] == "Tampa"
    # Every attempt of one event carries the same webhook-id, so receivers deduplicate.
    ids = [h["webhook-id"] for h, _ in receiver.got]
    assert ids.count(delivery.message_id) == 3


def test_the_admin_redelivers_a_delivered_event(receiver, admin_client):
    Subscription.objects.create(target_url=receiver.url, kinds=[EventKind.POLL_RESPONSE])
    vote("2125551212", "A")
    call_command("deliver_webhooks", "--once", "--timeout", "2")
    delivery = Delivery.objects.get()
    assert delivery.delivered_at is not None
    page = admin_client.post(
        "/admin/webhooks/delivery/",
        {"action": "redeliver_selected", "_selected_action": [delivery.pk]},
        follow=True,
    )
    assert b"1 deliveries will be sent again." in page.content
    call_command("deliver_webhooks", "--once", "--timeout", "2")
    assert [h["webhook-id"] for h, _ in receiver.got] == [delivery.message_id] * 2
    page = admin_client.get(
        f"/admin/webhooks/delivery/?subscription__id__exact={delivery.subscription_id}"
    )
    assert delivery.message_id.encode() in page.content


def test_an_integration_registers_a_subscription_through_the_api(receiver):
    client = client_for(integration_user("webhooks.add_subscription", "webhooks.view_subscription"))
    response = client.post(
        "/api/v1/webhooks/",
        {"target_url": receiver.url, "kinds": ["poll_response.created"], "secret": "mine"},
    )
    assert response.status_code == 201, response.content
    created = response.json()
    assert created["secret"].startswith("whsec_")
    assert Subscription.objects.get().secret == created["secret"]
    vote("2125551212", "A")
    deliver_due(timeout=2)
    headers, body = receiver.got[0]
    assert verify(created["secret"], headers, body)
    refused = client.post("/api/v1/webhooks/", {"target_url": receiver.url, "kinds": ["nope"]})
    assert refused.status_code == 400
    assert list(refused.json()["errors"]) == ["kinds.0"]
