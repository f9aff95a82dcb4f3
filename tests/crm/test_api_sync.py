"""Incremental sync through /api/v1/<resource>/changes/?after=: a client that keeps asking gets
every created or changed row exactly once, even while transactions commit out of order."""

import threading
import time

import httpx
import pytest
from django.db import connection, transaction
from django.utils import timezone
from rest_framework.authtoken.models import Token

from subscribers.models import Subscriber
from tests.helpers import integration_user

pytestmark = pytest.mark.slow


class Reader:
    """An integration that polls the changes feed and remembers every row version it got."""

    def __init__(self, base_url: str, token: str, resource: str = "subscribers"):
        self.client = httpx.Client(
            base_url=base_url, headers={"Authorization": f"Token {token}"}, timeout=30
        )
        self.url = f"/api/v1/{resource}/changes/"
        self.after = None
        self.received: list[tuple[int, str]] = []

    def latest(self) -> dict[int, str]:
        """Each row's version as last received."""
        return dict(self.received)

    def poll_until(self, count: int) -> None:
        """Poll until `count` row versions came (a PostgreSQL server's other databases may hold
        the horizon back for a moment), 5 minutes at most."""
        deadline = time.monotonic() + 300
        while len(self.received) < count and time.monotonic() < deadline:
            self.poll()

    def poll(self) -> int:
        """Read until the feed says there is no more for now; return how many rows came."""
        count = 0
        while True:
            params = {"page_size": 7}
            if self.after:
                params["after"] = self.after
            page = self.client.get(self.url, params=params)
            assert page.status_code == 200, page.text
            body = page.json()
            for row in body["results"]:
                self.received.append((row["id"], row["fields"].get("version", "")))
            count += len(body["results"])
            self.after = body["after"]
            if not body["more"]:
                return count


def token_for(user) -> str:
    return Token.objects.create(user=user).key


def write(mobile: str, version: str) -> None:
    with transaction.atomic():
        Subscriber.objects.upsert(mobile, fields={"version": version}, seen_at=timezone.now())


def in_thread(target, *args) -> threading.Thread:
    def run():
        try:
            target(*args)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_a_reader_polling_while_transactions_commit_out_of_order_gets_every_change_once(
    server,
):
    if connection.vendor != "postgresql":
        pytest.skip("SQLite lets one writer at a time: no transaction can be held open")
    reader = Reader(server, token_for(integration_user("crm.view_subscriber", name="sync")))
    written = set()
    held_open, release = threading.Event(), threading.Event()

    def slow_writer():
        # Takes its transaction id first, writes, and commits after everyone else.
        with transaction.atomic():
            write("+12125550100", "slow-1")
            held_open.set()
            release.wait(timeout=60)
            write("+12125550101", "slow-2")

    slow = in_thread(slow_writer)
    assert held_open.wait(timeout=30)
    written |= {("+12125550100", "slow-1"), ("+12125550101", "slow-2")}

    def fast_writer(n: int):
        for i in range(10):
            mobile = f"+1212555{n:02d}{i:02d}"
            write(mobile, f"fast-{n}-{i}")

    fast = [in_thread(fast_writer, n) for n in range(2, 6)]
    while any(thread.is_alive() for thread in fast):
        reader.poll()
    for thread in fast:
        thread.join()
    written |= {
        (f"+1212555{n:02d}{i:02d}", f"fast-{n}-{i}") for n in range(2, 6) for i in range(10)
    }
    reader.poll()
    # Everything after the open transaction waits for it: nothing is published past it yet.
    assert reader.received == []

    release.set()
    slow.join()
    # A second round of changes to rows already read comes back as changes.
    for n in range(2, 4):
        write(f"+1212555{n:02d}00", f"again-{n}")
        written.add((f"+1212555{n:02d}00", f"again-{n}"))
    # Poll as an integration would until every change is in: transactions of other databases
    # on the same PostgreSQL server may hold the horizon back for a moment.
    final = dict(Subscriber.objects.values_list("id", "fields__version"))
    deadline = time.monotonic() + 300
    while reader.latest() != final and time.monotonic() < deadline:
        reader.poll()
        time.sleep(0.1)

    mobiles = dict(Subscriber.objects.values_list("id", "mobile"))
    received = [(mobiles[row_id], version) for row_id, version in reader.received]
    assert len(received) == len(set(received)), "a row version came twice"
    # Each row's latest version arrives; one changed twice before a poll may skip the first.
    assert reader.latest() == final
    assert {mobile for mobile, _ in written} == {mobile for mobile, _ in received}


def test_a_reader_polling_between_writes_gets_every_change_once(server):
    reader = Reader(server, token_for(integration_user("crm.view_subscriber", name="sync")))
    written = []
    for round_ in range(3):
        for i in range(12):
            write(f"+13055550{i:03d}", f"round-{round_}")
        written += [(f"+13055550{i:03d}", f"round-{round_}") for i in range(12)]
        reader.poll_until(len(written))
    mobiles = dict(Subscriber.objects.values_list("id", "mobile"))
    assert [(mobiles[row_id], version) for row_id, version in reader.received] == written
    assert reader.poll() == 0
