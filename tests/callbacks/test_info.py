"""/callbacks/<token>/info/: Text-4-Info requests."""

import pytest

from campaigns.models import Campaign, InfoRequest, Kind
from tests.helpers import seed_urls, send

pytestmark = pytest.mark.django_db


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


def test_a_multipart_post_is_read_too(client, endpoint):
    data = {"mobile": "2125551212", "lead": "HOURS", "msg": "when are you open?"}
    assert send(client, endpoint, Kind.INFO, method="multipart", data=data).status_code == 200
    assert InfoRequest.objects.get().message == "when are you open?"
