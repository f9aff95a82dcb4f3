import pytest
from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart

from callbacks.models import CallbackEvent, Outcome
from callbacks.params import FORM_ENCODED, read_params
from callbacks.parsing import InvalidCallback
from campaigns.models import Kind
from tests.helpers import send

pytestmark = pytest.mark.django_db


def event(endpoint, **fields) -> CallbackEvent:
    return CallbackEvent(endpoint=endpoint, kind=Kind.POLL, **{"method": "GET", **fields})


def test_params_come_from_the_query_string_then_a_form_body(endpoint):
    e = event(
        endpoint,
        method="POST",
        query_string="mobile=1&key=FB1",
        content_type=FORM_ENCODED,
        body="reply=A&label=Tampa%20Bay",
    )
    assert read_params(e) == [
        ("mobile", "1"),
        ("key", "FB1"),
        ("reply", "A"),
        ("label", "Tampa Bay"),
    ]


def test_params_read_a_multipart_body(endpoint):
    body = encode_multipart(BOUNDARY, {"reply": "B", "label": "Orlando"}).decode()
    e = event(endpoint, method="POST", content_type=MULTIPART_CONTENT, body=body)
    assert dict(read_params(e)) == {"reply": "B", "label": "Orlando"}


def test_a_get_body_and_other_content_types_are_not_parameters(endpoint):
    assert read_params(event(endpoint, body="reply=A", content_type=FORM_ENCODED)) == []
    e = event(endpoint, method="POST", body='{"reply": "A"}', content_type="application/json")
    assert read_params(e) == []


def test_too_many_parameters_are_a_reason(endpoint, settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 3
    e = event(endpoint, query_string="a=1&b=2&c=3&d=4")
    with pytest.raises(InvalidCallback, match="too many parameters"):
        read_params(e)


def test_record_is_the_row_the_callback_produced(client, endpoint):
    send(client, endpoint, Kind.POLL, "mobile=2125551212&key=FB1&reply=A")
    stored = CallbackEvent.objects.get()
    assert stored.outcome == Outcome.PROCESSED
    assert stored.record.reply == "A"
    assert event(endpoint).record is None
