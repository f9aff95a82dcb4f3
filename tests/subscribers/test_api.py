from datetime import UTC, datetime, timedelta

import pytest
from django.core.cache import cache
from django.test import override_settings
from django.utils import timezone

from lib.rest import TimeCursorPagination
from subscribers.models import Subscriber
from tests.helpers import client_for, integration_user, receive, vote

URL = "/api/v1/subscribers/"
pytestmark = pytest.mark.django_db


@pytest.fixture
def reader():
    return client_for(integration_user("crm.view_subscriber"))


def mobiles(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [row["mobile"] for row in response.json()["results"]]


def test_it_answers_401_to_anonymous_callers():
    response = client_for(None).get(URL)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"


def test_it_answers_403_without_the_view_permission():
    vote("2125551212", "A")
    response = client_for(integration_user()).get(URL)
    assert response.status_code == 403


def test_it_lists_subscribers_for_a_user_with_the_view_permission(reader):
    vote("2125551212", "A", carrier="Verizon", country="US")
    [row] = reader.get(URL).json()["results"]
    assert row["mobile"] == "+12125551212"
    assert row["carrier"] == "Verizon"
    assert row["country"] == "US"


def test_it_accepts_session_authentication_for_the_browsable_api(client):
    vote("2125551212", "A")
    client.force_login(integration_user("crm.view_subscriber"))
    response = client.get(URL, HTTP_ACCEPT="text/html")
    assert response.status_code == 200
    assert b"+12125551212" in response.content


@pytest.mark.parametrize(
    "typed", ["(212) 555-1212", "212.555.1212", "+1 212 555 1212", "12125551212"]
)
def test_it_finds_a_subscriber_by_mobile_in_any_format(reader, typed):
    vote("2125551212", "A")
    vote("3055550123", "A")
    assert mobiles(reader.get(URL, {"mobile": typed})) == ["+12125551212"]


def test_it_reads_the_mobile_filter_in_the_country_filter_country(reader):
    vote("+447911123456", "A", country="GB")
    vote("2125551212", "A")
    assert mobiles(reader.get(URL, {"mobile": "07911 123456", "country": "GB"})) == [
        "+447911123456"
    ]
    # Read as a US number it is none: no subscriber can have it (the schema allows its shape).
    assert mobiles(reader.get(URL, {"mobile": "07911 123456"})) == []


@pytest.mark.parametrize("typed", ["call me", "+", "   ", "212 555 1212 ext 5", "1" * 41])
def test_it_rejects_a_mobile_filter_that_is_no_number(reader, typed):
    response = reader.get(URL, {"mobile": typed})
    assert response.status_code == 400
    assert response.json()["errors"]["mobile"]


def test_it_filters_by_country_given_as_an_iso_code(reader):
    vote("+447911123456", "A", country="GB")
    vote("2125551212", "A", country="US")
    assert mobiles(reader.get(URL, {"country": "GB"})) == ["+447911123456"]
    assert mobiles(reader.get(URL, {"country": "USA"})) == ["+12125551212"]
    assert mobiles(reader.get(URL, {"country": "FR"})) == []


@pytest.mark.parametrize("country", ["Atlantis 100%", "United Kingdom", "us", "XX"])
def test_it_rejects_what_is_no_country_code(reader, country):
    response = reader.get(URL, {"country": country})
    assert response.status_code == 400
    assert "not a country's ISO code" in response.json()["errors"]["country"][0]


def test_it_filters_by_carrier_in_any_case(reader):
    vote("2125551212", "A", carrier="Verizon")
    vote("3055550123", "A", carrier="T-Mobile")
    assert mobiles(reader.get(URL, {"carrier": "verizon"})) == ["+12125551212"]
    assert mobiles(reader.get(URL, {"carrier": "AT&T"})) == []


def test_updated_since_returns_only_subscribers_changed_since(reader):
    vote("2125551212", "A")
    vote("3055550123", "A")
    Subscriber.objects.filter(mobile="+12125551212").update(
        updated_at=timezone.now() - timedelta(days=2)
    )
    since = (timezone.now() - timedelta(days=1)).isoformat().replace("+00:00", "Z")
    assert mobiles(reader.get(URL, {"updated_since": since})) == ["+13055550123"]


def test_it_rejects_an_updated_since_that_is_no_time(reader):
    assert reader.get(URL, {"updated_since": "yesterday"}).status_code == 400
    assert reader.get(URL, {"updated_since": "0001-01-01T00:00:00+01:00"}).status_code == 400


def test_it_updates_custom_fields_and_keeps_the_others():
    subscriber = receive("form", key="JOIN", mobile="2125551212", Name="Ann", City="Tampa")
    subscriber = subscriber.subscriber
    editor = client_for(integration_user("crm.view_subscriber", "crm.change_subscriber"))
    response = editor.patch(
        f"{URL}{subscriber.id}/",
        {"fields": {"City": "Miami", "Name": None, "Plan": "Gold"}, "mobile": "+10000000000"},
        format="json",
    )
    assert response.status_code == 200, response.content
    subscriber.refresh_from_db()
    assert subscriber.fields == {"City": "Miami", "Plan": "Gold"}
    assert subscriber.mobile == "+12125551212"  # identity is read-only


def test_it_refuses_to_update_without_the_change_permission(reader):
    subscriber = vote("2125551212", "A").subscriber
    response = reader.patch(f"{URL}{subscriber.id}/", {"fields": {"Name": "X"}}, format="json")
    assert response.status_code == 403
    subscriber.refresh_from_db()
    assert subscriber.fields == {}


def test_it_cannot_delete_or_create_subscribers():
    subscriber = vote("2125551212", "A").subscriber
    admin = client_for(integration_user("crm.add_subscriber", "crm.delete_subscriber"))
    assert admin.delete(f"{URL}{subscriber.id}/").status_code == 405
    assert admin.post(URL, {"mobile": "+13055550123"}, format="json").status_code == 405
    assert Subscriber.objects.count() == 1


def test_csv_has_every_filtered_subscriber_with_custom_fields_as_columns(reader):
    receive("form", key="JOIN", mobile="2125551212", Name='=HYPERLINK("x")', country="US")
    receive("form", key="JOIN", mobile="3055550123", City="Tampa", country="US")
    receive("form", key="JOIN", mobile="+447911123456", City="London")
    response = reader.get(URL, {"format": "csv", "country": "US"})
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response.streaming
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert lines[0] == "id,mobile,country,carrier,first_seen_at,last_seen_at,updated_at,City,Name"
    assert len(lines) == 3
    assert lines[1].startswith(tuple(f"{s.id},+13055550123" for s in Subscriber.objects.all()))
    assert lines[1].endswith(",Tampa,")
    assert lines[2].endswith(',,"\'=HYPERLINK(""x"")"')


@pytest.mark.parametrize("name", ["100%", "%s", "%(x)s", "%b", "back\\slash", "it's"])
def test_csv_of_a_filtered_list_is_whole_whatever_the_custom_field_names(reader, name):
    # A "%" in a field's name once broke the download after its header, when a filter
    # gave the query a parameter.
    receive("form", key="JOIN", mobile="2125551212", country="US", **{name: "kept"})
    response = reader.get(URL, {"format": "csv", "updated_since": "2000-04-01T21:13:10Z"})
    assert response.status_code == 200
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert len(lines) == 2
    assert lines[0].split(",")[-1] == name
    assert lines[1].endswith(",kept")


def test_a_bad_filter_on_a_csv_request_is_told_in_json(reader):
    response = reader.get(URL, {"format": "csv", "mobile": "nope"})
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert "mobile" in response.json()["errors"]


def test_pages_follow_a_cursor_and_stay_stable_when_rows_arrive(reader):
    for n in range(5):
        vote(f"212555010{n}", "A")
    first = reader.get(URL, {"page_size": 2}).json()
    vote("3055550123", "A")  # arrives while the client pages
    second = reader.get(first["next"]).json()
    third = reader.get(second["next"]).json()
    seen = [r["mobile"] for page in (first, second, third) for r in page["results"]]
    assert seen == [f"+1212555010{n}" for n in (4, 3, 2, 1, 0)]
    assert third["next"] is None
    assert "count" not in first


def test_page_size_is_bounded(reader, monkeypatch):
    monkeypatch.setattr(TimeCursorPagination, "max_page_size", 2)
    for n in range(3):
        vote(f"212555010{n}", "A")
    assert len(reader.get(URL, {"page_size": 2}).json()["results"]) == 2
    assert len(reader.get(URL, {"page_size": 1}).json()["results"]) == 1
    for beyond in ("3", "0", "-1", "many"):
        response = reader.get(URL, {"page_size": beyond})
        assert response.status_code == 400
        assert response.json()["errors"] == {"page_size": ["A whole number from 1 to 2."]}


def test_queries_per_page_do_not_grow_with_the_page(reader, django_assert_num_queries):
    for n in range(50):
        receive("form", key="JOIN", mobile=f"21255501{n:02d}", Name=str(n))
    with django_assert_num_queries(4):
        assert len(reader.get(URL, {"page_size": 5}).json()["results"]) == 5
    with django_assert_num_queries(4):
        assert len(reader.get(URL, {"page_size": 50}).json()["results"]) == 50


@override_settings(API_RATE_LIMIT="3/min")
def test_each_token_is_throttled_on_its_own():
    cache.clear()
    first = client_for(integration_user("crm.view_subscriber", name="bi"))
    second = client_for(integration_user("crm.view_subscriber", name="sync"))
    assert [first.get(URL).status_code for _ in range(4)] == [200, 200, 200, 429]
    assert second.get(URL).status_code == 200
    cache.clear()


def test_a_time_with_any_offset_is_read_as_the_same_utc_time(reader):
    vote("2125551212", "A")
    Subscriber.objects.update(updated_at="2025-06-01T12:00:00Z")
    # An offset PostgreSQL itself would refuse ("-17:14") is still a valid ISO 8601 time.
    assert mobiles(reader.get(URL, {"updated_since": "2025-06-01T04:00:00-07:59"})) == [
        "+12125551212"
    ]
    assert mobiles(reader.get(URL, {"updated_since": "2025-06-01T00:00:00-17:14"})) == []


def test_csv_times_are_utc_iso_whatever_the_configured_zone(reader, settings):
    # The admin writes times for people in the configured zone; the API's CSV for programs,
    # ISO 8601 in UTC (lib.exports), whichever fast path writes it.
    settings.TIME_ZONE = "America/New_York"
    at = datetime(2026, 1, 2, 3, 4, 5, 120000, tzinfo=UTC)
    Subscriber.objects.create(mobile="+12125551212", first_seen_at=at, last_seen_at=at)

    response = reader.get(URL, {"format": "csv"})

    header, row = b"".join(response.streaming_content).decode().splitlines()
    assert header.startswith("id,mobile,country,carrier,first_seen_at,last_seen_at,")
    assert ",2026-01-02T03:04:05.120000+00:00,2026-01-02T03:04:05.120000+00:00," in row
