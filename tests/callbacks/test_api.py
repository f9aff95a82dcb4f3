from datetime import timedelta

import pytest
from django.utils import timezone

from callbacks.models import CallbackEvent, Outcome
from tests.helpers import client_for, integration_user, receive, vote

URL = "/api/v1/callbacks/"
VIEW = "callbacks.view_callbackevent"
pytestmark = pytest.mark.django_db


def staff():
    return client_for(integration_user(VIEW, staff=True, name="ops"))


def kinds(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [row["kind"] for row in response.json()["results"]]


def test_it_answers_401_to_anonymous_callers():
    assert client_for(None).get(URL).status_code == 401


def test_it_answers_403_to_an_integration_that_is_not_staff():
    vote("2125551212", "A")
    assert client_for(integration_user(VIEW)).get(URL).status_code == 403


def test_it_answers_403_to_staff_without_the_view_permission():
    vote("2125551212", "A")
    assert client_for(integration_user(staff=True)).get(URL).status_code == 403


def test_staff_read_the_raw_log_as_received():
    vote("2125551212", "A")
    [row] = staff().get(URL).json()["results"]
    assert row["kind"] == "poll"
    assert "mobile=2125551212" in row["query_string"]
    assert row["outcome"] == "processed"


def test_the_log_is_read_only():
    event = vote("2125551212", "A").callback
    client = client_for(
        integration_user(VIEW, "callbacks.delete_callbackevent", staff=True, name="root")
    )
    assert client.delete(f"{URL}{event.id}/").status_code == 405
    assert CallbackEvent.objects.count() == 1


def test_filters_each_match_and_miss():
    now = timezone.now()
    vote("2125551212", "A", at=now - timedelta(days=2))
    receive("info", lead="HOURS", mobile="2125551212")
    CallbackEvent.objects.filter(kind="info").update(outcome=Outcome.FAILED)
    client = staff()
    day_ago = (now - timedelta(days=1)).isoformat()
    assert kinds(client.get(URL, {"kind": "poll"})) == ["poll"]
    assert kinds(client.get(URL, {"kind": "form"})) == []
    assert kinds(client.get(URL, {"outcome": "failed"})) == ["info"]
    assert kinds(client.get(URL, {"outcome": "rejected"})) == []
    assert kinds(client.get(URL, {"received_after": day_ago})) == ["info"]
    assert kinds(client.get(URL, {"received_before": day_ago})) == ["poll"]
    endpoint = CallbackEvent.objects.first().endpoint_id
    assert kinds(client.get(URL, {"endpoint": endpoint})) == ["info", "poll"]
    assert kinds(client.get(URL, {"endpoint": endpoint + 1})) == []
    assert client.get(URL, {"outcome": "lost"}).status_code == 400


def test_csv_keeps_the_raw_request_and_escapes_it():
    receive("form", key="JOIN", mobile="2125551212", Name="=2+2")
    response = staff().get(URL, {"format": "csv"})
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert lines[0] == (
        "id,received_at,endpoint,kind,method,query_string,body,content_type,remote_addr,outcome,"
        "reason,duplicate_of,spooled_at"
    )
    assert "Name=%3D2%2B2" in lines[1]
    assert lines[1].endswith(",processed,,,")


def test_queries_per_page_do_not_grow_with_the_page(django_assert_num_queries):
    for n in range(50):
        vote(f"21255501{n:02d}", "A")
    client = staff()
    for size in (5, 50):
        with django_assert_num_queries(4):
            assert len(kinds(client.get(URL, {"page_size": size}))) == size


def test_an_id_filter_beyond_any_id_is_a_400_not_a_crash():
    vote("2125551212", "A")
    client = staff()
    for value in ("-38097669023892443561023504384", "9223372036854775808", "0"):
        response = client.get(URL, {"endpoint": value, "format": "csv"})
        assert response.status_code == 400, value
        assert "endpoint" in response.json()["errors"]
