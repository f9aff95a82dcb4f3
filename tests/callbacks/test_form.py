"""/callbacks/<token>/form/: web forms and sticky sessions."""

import pytest

from callbacks.models import CallbackEvent
from campaigns.models import FormSubmission, Kind
from subscribers.models import Subscriber
from tests.helpers import seed_urls, send

pytestmark = pytest.mark.django_db


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


def test_the_country_parameter_decides_how_a_number_is_read(client, endpoint):
    send(client, endpoint, Kind.FORM, "country=GBR&shortcode=60300&key=JOIN&mobile=02071838750")
    subscriber = Subscriber.objects.get()
    assert (subscriber.mobile, subscriber.country) == ("+442071838750", "GB")
