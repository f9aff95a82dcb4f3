from urllib.parse import urlencode

import pytest
from django.core.management import call_command

from callbacks.models import FORM_ENCODED, CallbackEvent, Outcome
from campaigns.models import Campaign, FormSubmission, InfoRequest, Kind, PollChoice, PollResponse
from crm.models import Subscriber
from tests.conftest import seed_urls

pytestmark = pytest.mark.django_db


def send(client, endpoint, kind, query="", method="get", data=None):
    url = endpoint.url_path(kind) + (f"?{query}" if query else "")
    if method == "post":
        return client.post(url, urlencode(data or {}), FORM_ENCODED)
    if method == "multipart":
        return client.post(url, data or {})
    return client.get(url)


@pytest.mark.parametrize("kind,query", seed_urls())
def test_every_seed_example_is_recorded(client, endpoint, kind, query):
    response = send(client, endpoint, kind, query)
    assert response.status_code == 200
    event = CallbackEvent.objects.get()
    assert (event.kind, event.outcome, event.query_string) == (kind, Outcome.PROCESSED, query)
    assert event.record is not None
    assert Subscriber.objects.get().mobile == "+12125551212"


def test_the_seed_form_stores_custom_fields_on_submission_and_subscriber(client, endpoint):
    (query,) = [q for kind, q in seed_urls() if kind == Kind.FORM]
    send(client, endpoint, Kind.FORM, query)

    submission = FormSubmission.objects.select_related("campaign", "subscriber").get()
    assert submission.fields == {"Name": "Bill", "DOB": "1/1/2000", "Zip": "10024"}
    assert (submission.campaign.shortcode, submission.campaign.keyword) == ("84700", "SOMEKEY")
    assert submission.campaign.kind == Kind.FORM
    assert submission.campaign.needs_review
    subscriber = submission.subscriber
    assert (subscriber.country, subscriber.carrier) == ("US", "VERIZONUS")
    assert subscriber.fields == {"Name": "Bill", "DOB": "1/1/2000", "Zip": "10024"}


def test_the_seed_poll_records_the_vote_and_makes_the_choice(client, endpoint):
    (query,) = [q for kind, q in seed_urls() if kind == Kind.POLL]
    response = send(client, endpoint, Kind.POLL, query)

    assert response.content == b"OK"
    vote = PollResponse.objects.select_related("choice", "campaign", "subscriber").get()
    assert (vote.reply, vote.label, vote.extras) == ("A", "Tampa", {})
    assert (vote.choice.reply, vote.choice.label, vote.choice.from_callback) == ("A", "Tampa", True)
    assert (vote.campaign.keyword, vote.campaign.kind) == ("FB1", Kind.POLL)
    assert vote.subscriber.carrier == "VERIZONUS"


def test_the_seed_info_request_answers_with_the_reply_text(client, endpoint):
    Campaign.objects.create(keyword="keyword", kind=Kind.INFO, reply_text="Hours: 9-5 ✓")
    (query,) = [q for kind, q in seed_urls() if kind == Kind.INFO]
    response = send(client, endpoint, Kind.INFO, query)

    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert response.content.decode() == "Hours: 9-5 ✓"
    request = InfoRequest.objects.get()
    assert (request.message, request.campaign.keyword) == ("ServerMsg", "keyword")
    assert not Campaign.objects.filter(needs_review=True).exists()


def test_an_info_keyword_without_reply_text_answers_an_empty_body(client, endpoint):
    response = send(client, endpoint, Kind.INFO, "lead=NEWKW&mobile=2125551212&msg=hi")
    assert (response.status_code, response.content) == (200, b"")
    assert Campaign.objects.get(keyword="NEWKW").needs_review


def test_a_form_post_is_the_same_as_a_get(client, endpoint):
    data = {
        "country": "USA",
        "shortcode": "84700",
        "key": "JOIN",
        "mobile": "2125551212",
        "carrierId": "TMOBILE",
        "Email": "bill@example.com",
    }
    response = send(client, endpoint, Kind.FORM, method="post", data=data)
    assert response.status_code == 200
    assert FormSubmission.objects.get().fields == {"Email": "bill@example.com"}
    event = CallbackEvent.objects.get()
    assert event.method == "POST"
    assert "Email=bill%40example.com" in event.body


def test_a_multipart_post_is_read_too(client, endpoint):
    data = {"mobile": "2125551212", "lead": "HOURS", "msg": "when are you open?"}
    assert send(client, endpoint, Kind.INFO, method="multipart", data=data).status_code == 200
    assert InfoRequest.objects.get().message == "when are you open?"


def test_post_parameters_add_to_the_query_string(client, endpoint):
    data = {"reply": "B", "label": "Orlando"}
    send(client, endpoint, Kind.POLL, "mobile=2125551212&key=FB1", method="post", data=data)
    assert PollResponse.objects.get().label == "Orlando"


def test_parameter_names_match_whatever_their_case_and_spelling(client, endpoint):
    query = "MOBILE=2125551212&Short%20Code=84700&KEY=fb1&CarrierID=ATTUS&Reply=b&LABEL=Orlando"
    assert send(client, endpoint, Kind.POLL, query).status_code == 200
    vote = PollResponse.objects.select_related("campaign", "subscriber").get()
    assert (vote.campaign.shortcode, vote.campaign.keyword) == ("84700", "fb1")
    assert (vote.reply, vote.label, vote.subscriber.carrier) == ("b", "Orlando", "ATTUS")


def test_a_renamed_label_parameter_is_kept(client, endpoint):
    query = "mobile=2125551212&carrier=VERIZONUS&shortcode=84700&key=FB1&reply=A&city=Tampa"
    assert send(client, endpoint, Kind.POLL, query).status_code == 200
    vote = PollResponse.objects.get()
    assert vote.extras == {"city": "Tampa"}


def test_a_configured_choice_keeps_its_label(client, endpoint):
    campaign = Campaign.objects.create(shortcode="84700", keyword="FB1", kind=Kind.POLL)
    choice = PollChoice.objects.create(campaign=campaign, reply="A", label="Tampa Bay")
    send(client, endpoint, Kind.POLL, "mobile=2125551212&shortcode=84700&key=fb1&reply=a&label=X")
    choice.refresh_from_db()
    assert choice.label == "Tampa Bay"
    assert PollResponse.objects.get().choice == choice
    assert not Campaign.objects.filter(needs_review=True).exists()


@pytest.mark.parametrize("mobile", ["2125551212", "%2B1%20212-555-1212", "12125551212"])
def test_one_number_in_any_format_is_one_subscriber(client, endpoint, mobile):
    Subscriber.objects.create(mobile="+12125551212")
    send(client, endpoint, Kind.INFO, f"lead=HELLO&mobile={mobile}")
    assert Subscriber.objects.get().mobile == "+12125551212"


def test_the_country_parameter_decides_how_a_number_is_read(client, endpoint):
    send(client, endpoint, Kind.FORM, "country=GBR&shortcode=60300&key=JOIN&mobile=02071838750")
    subscriber = Subscriber.objects.get()
    assert (subscriber.mobile, subscriber.country) == ("+442071838750", "GB")


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
    def broken(event, callback):
        Subscriber.objects.create(mobile="+12125551212")  # half-done work must be undone
        raise RuntimeError("disk on fire")

    monkeypatch.setattr("campaigns.services.record", broken)
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


def test_a_known_poll_vote_costs_a_fixed_number_of_queries(
    client, endpoint, django_assert_max_num_queries
):
    query = "mobile=2125551212&carrier=VERIZONUS&shortcode=84700&key=FB1&reply=A&label=Tampa"
    send(client, endpoint, Kind.POLL, query)  # campaign, choice and subscriber now exist
    # Endpoint, event insert, campaign, subscriber lock + update, choice, vote insert, and
    # two savepoints with their releases (the outer one is BEGIN outside a test): nothing
    # that grows with the data.
    with django_assert_max_num_queries(11):
        assert send(client, endpoint, Kind.POLL, query).status_code == 200
    assert PollResponse.objects.count() == 2
