"""What every callback endpoint does alike: tokens, errors, failures, the raw log."""

import pytest
from django.core.management import call_command

from callbacks.models import CallbackEvent, Outcome
from campaigns.models import Kind, PollResponse
from subscribers.models import Subscriber
from tests.helpers import seed_urls, send

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("kind,query", seed_urls())
def test_every_seed_example_is_recorded(client, endpoint, kind, query):
    response = send(client, endpoint, kind, query)
    assert response.status_code == 200
    event = CallbackEvent.objects.get()
    assert (event.kind, event.outcome, event.query_string) == (kind, Outcome.PROCESSED, query)
    assert event.record is not None
    assert Subscriber.objects.get().mobile == "+12125551212"


@pytest.mark.parametrize("mobile", ["2125551212", "%2B1%20212-555-1212", "12125551212"])
def test_one_number_in_any_format_is_one_subscriber(client, endpoint, mobile):
    Subscriber.objects.create(mobile="+12125551212")
    send(client, endpoint, Kind.INFO, f"lead=HELLO&mobile={mobile}")
    assert Subscriber.objects.get().mobile == "+12125551212"


def test_the_trailing_slash_is_optional(client, endpoint):
    url = endpoint.url_path(Kind.POLL).rstrip("/") + "?mobile=2125551212&key=FB1&reply=A"
    assert client.get(url).status_code == 200
    assert PollResponse.objects.count() == 1


@pytest.mark.parametrize(
    "kind,query,reason",
    [
        (Kind.POLL, "key=FB1&reply=A", "mobile: This field is required."),
        (Kind.POLL, "mobile=&key=FB1&reply=A", "mobile: This field is required."),
        (Kind.POLL, "mobile=12&key=FB1&reply=A", "mobile '12' is not a valid phone number in US"),
        (Kind.POLL, "mobile=call%20me&key=FB1&reply=A", "mobile 'call me' is not a phone number"),
        (Kind.POLL, "mobile=2125551212&reply=A", "keyword: This field is required."),
        (Kind.POLL, "mobile=2125551212&key=%20%20&reply=A", "keyword: This field is required."),
        (Kind.POLL, "mobile=2125551212&key=FB1", "reply: This field is required."),
        (Kind.INFO, "mobile=2125551212&msg=hi", "keyword: This field is required."),
        (Kind.FORM, "mobile=2125551212&key=" + "K" * 65, "keyword: Ensure this value has at most"),
        (Kind.FORM, "mobile=2125551212&key=JOIN&Name=Bi%00ll", "'Name': null characters are"),
        (Kind.POLL, "mobile=2125551212&key=FB1&reply=A%00", "reply: Null characters are not"),
        (Kind.FORM, "mobile=2125551212&key=JOIN&Bio=" + "x" * 2001, "Bio: value is too long"),
    ],
)
def test_invalid_input_is_rejected_with_a_reason_and_stored(client, endpoint, kind, query, reason):
    response = send(client, endpoint, kind, query)

    assert response.status_code == 400
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    body = response.content.decode()
    assert body.startswith(reason) and "\n" not in body
    event = CallbackEvent.objects.get()
    assert (event.outcome, event.reason, event.query_string) == (Outcome.REJECTED, body, query)
    assert not Subscriber.objects.exists()


def test_too_many_parameters_are_rejected_and_stored(client, endpoint):
    query = "mobile=2125551212&key=JOIN&" + "&".join(f"f{i}=x" for i in range(1200))
    response = send(client, endpoint, Kind.FORM, query)
    assert (response.status_code, response.content) == (400, b"too many parameters")
    assert CallbackEvent.objects.get().outcome == Outcome.REJECTED


def test_a_body_too_large_is_rejected_and_stored(client, endpoint, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = send(
        client, endpoint, Kind.FORM, "mobile=2125551212&key=JOIN", "post", {"Bio": "x" * 2000}
    )
    assert (response.status_code, response.content) == (400, b"request body too large")
    event = CallbackEvent.objects.get()
    assert (event.outcome, event.query_string) == (Outcome.REJECTED, "mobile=2125551212&key=JOIN")


@pytest.mark.parametrize("token_state", ["unknown", "disabled"])
def test_unknown_and_disabled_tokens_get_a_bare_404(client, endpoint, token_state):
    if token_state == "disabled":
        endpoint.enabled = False
        endpoint.save()
    else:
        endpoint.token = "not-the-token"
    response = send(client, endpoint, Kind.POLL, "mobile=2125551212&key=FB1&reply=A")
    assert (response.status_code, response.content) == (404, b"Not found")
    assert not CallbackEvent.objects.exists()


def test_other_methods_are_not_allowed(client, endpoint):
    assert client.put(endpoint.url_path(Kind.POLL)).status_code == 405


def test_an_error_while_processing_keeps_the_raw_callback_as_failed(client, endpoint, monkeypatch):
    def broken(event, callback, target):
        def write():  # record() makes its statements first, then writes in the transaction
            Subscriber.objects.create(mobile="+12125551212")  # half-done work must be undone
            raise RuntimeError("disk on fire")

        return write

    monkeypatch.setattr("callbacks.processing.record", broken)
    query = "mobile=2125551212&shortcode=84700&key=FB1&reply=A&label=Tampa"
    response = send(client, endpoint, Kind.POLL, query)

    assert (response.status_code, response.content) == (200, b"OK")
    event = CallbackEvent.objects.get()
    assert (event.outcome, event.reason) == (Outcome.FAILED, "RuntimeError: disk on fire")
    assert not Subscriber.objects.exists()

    monkeypatch.undo()
    call_command("reprocess_callbacks", stdout=open("/dev/null", "w"))
    event.refresh_from_db()
    assert (event.outcome, event.reason) == (Outcome.PROCESSED, "")
    assert event.record.reply == "A"


@pytest.mark.parametrize("content_type", ["multipart/form-data", "multipart/form-data; boundary="])
def test_a_malformed_multipart_body_is_rejected_and_stored(client, endpoint, content_type):
    url = endpoint.url_path(Kind.POLL) + "?mobile=2125551212&key=FB1&reply=A"
    response = client.post(url, b"--x\r\nnot really\r\n", content_type=content_type)
    event = CallbackEvent.objects.get()
    assert response.status_code == 400
    assert response.content.decode() == event.reason
    assert event.reason.startswith("malformed multipart body")
    assert event.outcome == Outcome.REJECTED
    assert event.body == "--x\r\nnot really\r\n"


def test_a_body_of_another_type_is_kept_but_only_the_query_string_is_read(client, endpoint):
    url = endpoint.url_path(Kind.POLL) + "?mobile=2125551212&key=FB1&reply=A"
    response = client.post(url, b"--x\r\nnot really\r\n", content_type="multipart/x")
    event = CallbackEvent.objects.get()
    assert (response.status_code, event.outcome) == (200, Outcome.PROCESSED)
    assert event.record.reply == "A"
    assert event.body == "--x\r\nnot really\r\n"


def test_plain_http_callbacks_are_answered_where_https_is_enforced(client, endpoint, settings):
    """The platform does not follow redirects: a 301 would lose the callback."""
    settings.SECURE_SSL_REDIRECT = True
    response = send(client, endpoint, Kind.POLL, "mobile=2125551212&key=FB1&reply=A")
    without_slash = client.get(endpoint.url_path(Kind.POLL).rstrip("/") + "?mobile=2125551213")

    assert (response.status_code, response.content) == (200, b"OK")
    assert (without_slash.status_code, without_slash.content) == (
        400,
        b"keyword: This field is required.",
    )  # answered, not redirected
    assert PollResponse.objects.count() == 1
    for page in ("/admin/", "/api/v1/subscribers/"):
        redirect = client.get(page)
        assert (redirect.status_code, redirect["Location"]) == (301, f"https://testserver{page}")


def test_a_callback_answer_keeps_the_security_headers_and_sets_no_cookie(client, endpoint):
    """Callbacks skip the browser's middleware (sessions, CSRF, logins), not the security
    headers, and still say how long the answer is."""
    client.cookies["sessionid"] = "anything"
    client.cookies["csrftoken"] = "anything"
    response = send(client, endpoint, Kind.POLL, "mobile=2125551212&key=FB1&reply=A")
    assert response.status_code == 200
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Content-Length"] == "2"
    assert not response.cookies
    assert "Cookie" not in response.get("Vary", "")
