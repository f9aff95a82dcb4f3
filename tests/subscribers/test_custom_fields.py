"""The custom field summary the database keeps (subscribers.custom_fields) agrees with a count
of the subscriber table after every kind of write, and reading it reads no subscriber."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from subscribers.custom_fields import custom_field_summary, recount
from subscribers.models import Subscriber
from tests.helpers import client_for, integration_user, receive, vote

pytestmark = pytest.mark.django_db


def summary() -> dict[str, int]:
    return {row["name"]: row["subscribers"] for row in custom_field_summary()}


def test_the_summary_matches_a_recount_after_every_kind_of_write():
    steps = [
        lambda: receive("form", key="JOIN", mobile="2125551212", Name="Ann", City="Tampa"),
        lambda: receive("form", key="JOIN", mobile="3055550123", Name="Bob"),
        lambda: vote("4155550100", "A"),  # a subscriber with no field
        lambda: receive("form", key="JOIN", mobile="3055550123", Name="Bob B.", Zip="33101"),
        lambda: Subscriber.objects.get(mobile="+12125551212").set_fields(
            {"City": None, "Plan": "Gold"}
        ),
        lambda: Subscriber.objects.filter(mobile="+13055550123").update(fields={"Name": "B"}),
        lambda: Subscriber.objects.filter(mobile="+12125551212").delete(),
        lambda: Subscriber.objects.update(fields={}),
        lambda: receive("form", key="JOIN", mobile="2125551212", Name="Ann again"),
    ]
    for number, step in enumerate(steps):
        step()
        assert summary() == recount(), f"after step {number}"
    assert summary() == {"Name": 1}


def test_a_field_no_one_has_any_more_leaves_the_summary():
    receive("form", key="JOIN", mobile="2125551212", Name="Ann", City="Tampa")
    assert set(summary()) == {"City", "Name"}
    Subscriber.objects.get().set_fields({"City": ""})
    assert summary() == {"Name": 1}


def test_last_seen_is_the_latest_subscriber_given_the_field():
    earlier = timezone.now() - timedelta(days=3)
    receive("form", key="JOIN", mobile="2125551212", Name="Ann", DOB="1990-01-01")
    Subscriber.objects.filter(mobile="+12125551212").update(last_seen_at=earlier)
    receive("form", key="JOIN", mobile="3055550123", Name="Bob")
    bob = Subscriber.objects.get(mobile="+13055550123")
    rows = {row["name"]: row["last_seen_at"] for row in custom_field_summary()}
    assert rows["Name"] == bob.last_seen_at
    assert rows["DOB"] < bob.last_seen_at


def test_reading_the_summary_reads_no_subscriber():
    receive("form", key="JOIN", mobile="2125551212", Name="Ann")
    client = client_for(integration_user("crm.view_subscriber"))
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/api/v1/custom-fields/")
    assert response.status_code == 200
    assert [row["name"] for row in response.json()] == ["Name"]
    read = [query["sql"] for query in queries.captured_queries]
    assert not [sql for sql in read if "crm_subscriber" in sql and "crm_subscriber_" not in sql]
