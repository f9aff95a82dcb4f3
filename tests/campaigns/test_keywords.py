"""Keywords are compared in one canonical form, the same on SQLite and PostgreSQL: what a
phone sends in another width, case, Unicode encoding or with invisible characters is the
same keyword. The keyword as first sent stays for display."""

from urllib.parse import urlencode

import pytest
from django.db import IntegrityError, transaction

from campaigns.models import Campaign, Kind, PollResponse, clean_keyword, keyword_key
from tests.helpers import client_for, integration_user, receive, send

pytestmark = pytest.mark.django_db

COMPOSED, DECOMPOSED = "caf\u00e9", "cafe\u0301"
SAME = [
    ("KEY", "ＫＥＹ"),  # fullwidth
    ("KEY", "KEY\u200b"),  # zero-width space
    ("KEY", "K\u200dE\ufeffY"),  # zero-width joiner, byte-order mark
    (COMPOSED, DECOMPOSED),
    ("PİZZA", "PIZZA"),  # Turkish dotted capital I
    ("CAFÉ", "café"),
    ("Best  Pizza", " best\u00a0pizza "),  # inner spaces, no-break space
    ("STRASSE", "straße"),
]


@pytest.mark.parametrize("first,second", SAME)
def test_callbacks_with_the_same_keyword_in_another_form_share_one_campaign(first, second):
    one = receive("poll", shortcode="12345", key=first, mobile="2125551212", reply="A")
    two = receive("poll", shortcode="12345", key=second, mobile="2125551213", reply="A")
    assert two.campaign == one.campaign
    campaign = Campaign.objects.get()
    assert campaign.keyword == clean_keyword(first)  # as first sent
    assert PollResponse.objects.filter(campaign=campaign).count() == 2


@pytest.mark.parametrize("first,second", SAME)
def test_the_database_refuses_a_second_campaign_with_the_same_keyword(first, second):
    Campaign.objects.create(shortcode="12345", keyword=first, kind=Kind.POLL)
    with pytest.raises(IntegrityError), transaction.atomic():
        Campaign.objects.create(shortcode="12345", keyword=second, kind=Kind.POLL)


def test_different_keywords_stay_different():
    keys = {keyword_key(k) for k in ("KEY", "KEY2", "KE Y", "PIZZA", "PIZZA!", "cafe", "café")}
    assert len(keys) == 7


def test_escape_sequences_and_control_characters_are_stripped_from_a_keyword(client, endpoint):
    query = urlencode(
        {"shortcode": "12345", "key": "\x1b[31mPIZ\x07ZA\x1b[0m", "mobile": "2125551212"}
    )
    assert send(client, endpoint, "form", query).status_code == 200
    assert Campaign.objects.get().keyword == "PIZZA"


def test_a_keyword_of_only_escape_sequences_is_a_clear_400(client, endpoint):
    query = urlencode(
        {"shortcode": "12345", "key": "\x1b[31m\u200b\x1b[0m", "mobile": "2125551212"}
    )
    response = send(client, endpoint, "form", query)
    assert response.status_code == 400
    assert response.content.decode() == "keyword: only control or invisible characters"
    assert not Campaign.objects.exists()


MARKETER = ("campaigns.view_campaign", "campaigns.add_campaign")


def test_the_api_refuses_a_keyword_that_exists_in_another_form():
    api = client_for(integration_user(*MARKETER))
    created = api.post(
        "/api/v1/campaigns/", {"shortcode": "1", "keyword": "ＫＥＹ", "kind": "poll"}
    )
    assert created.status_code == 201, created.content
    again = api.post(
        "/api/v1/campaigns/", {"shortcode": "1", "keyword": "key\u200b", "kind": "poll"}
    )
    assert again.status_code == 409
    assert "already has a campaign of this kind" in str(again.json())


def test_the_api_refuses_a_keyword_that_is_only_invisible_characters():
    api = client_for(integration_user(*MARKETER))
    response = api.post("/api/v1/campaigns/", {"shortcode": "1", "keyword": "\u200b\x1b[0m"})
    assert response.status_code == 400
    assert "at least one visible character" in str(response.json()["errors"]["keyword"])


def test_the_api_keyword_filter_compares_canonical_forms():
    receive("poll", shortcode="12345", key="CAFÉ", mobile="2125551212", reply="A")
    receive("poll", shortcode="12345", key="OTHER", mobile="2125551212", reply="A")
    api = client_for(integration_user("campaigns.view_campaign", "campaigns.view_pollresponse"))
    found = api.get("/api/v1/campaigns/", {"keyword": DECOMPOSED}).json()["results"]
    assert [c["keyword"] for c in found] == ["CAFÉ"]
    votes = api.get("/api/v1/poll-responses/", {"keyword": "ｃａｆé"}).json()["results"]
    assert [v["keyword"] for v in votes] == ["CAFÉ"]


def test_the_admin_search_finds_a_keyword_typed_in_another_form(admin_client):
    Campaign.objects.create(shortcode="12345", keyword="PİZZA", kind=Kind.POLL, name="Turkish")
    Campaign.objects.create(shortcode="12345", keyword="OTHER", kind=Kind.POLL, name="Other")
    page = admin_client.get("/admin/campaigns/campaign/", {"q": "pizza"}).content.decode()
    assert "Turkish" in page
    assert "Other" not in page


def test_the_admin_form_refuses_a_keyword_that_exists_in_another_form(admin_client):
    Campaign.objects.create(shortcode="12345", keyword="KEY", kind=Kind.POLL)
    response = admin_client.post(
        "/admin/campaigns/campaign/add/",
        {
            "shortcode": "12345",
            "keyword": "ＫＥＹ",
            "kind": "poll",
            "choices-TOTAL_FORMS": "0",
            "choices-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 200
    assert "already has a campaign of this kind" in response.content.decode()
    assert Campaign.objects.count() == 1


# A callback's kind is respected


def test_a_vote_for_a_form_keyword_gets_a_poll_campaign_of_its_own_flagged_for_review():
    form = Campaign.objects.create(shortcode="84700", keyword="FB1", kind=Kind.FORM)
    first = receive("poll", shortcode="84700", key="fb1", mobile="2125551212", reply="A")
    second = receive("poll", shortcode="84700", key="FB1", mobile="2125551213", reply="B")

    poll = first.campaign
    assert second.campaign == poll
    assert (poll.kind, poll.keyword, poll.shortcode, poll.needs_review) == (
        Kind.POLL,
        "fb1",
        "84700",
        True,
    )
    assert poll.review_reason == (
        f"Made from a Poll callback for a keyword set up as Web form / sticky session "
        f"(campaign #{form.pk}); kept apart from it."
    )
    form.refresh_from_db()
    assert not form.choices.exists()
    assert not form.needs_review
    assert [c.reply for c in poll.choices.all()] == ["A", "B"]


def test_a_callback_of_the_configured_kind_still_lands_on_its_campaign():
    form = Campaign.objects.create(shortcode="84700", keyword="FB1", kind=Kind.FORM)
    row = receive("form", shortcode="84700", key="fb1", mobile="2125551212", Name="Ann")
    assert row.campaign == form
    assert Campaign.objects.count() == 1


def test_an_unknown_keyword_says_why_it_needs_review():
    row = receive("info", lead="HOURS", mobile="2125551212")
    assert row.campaign.needs_review
    assert row.campaign.review_reason == "Made from a callback: nobody had set up this keyword."


def test_the_admin_lists_the_review_reason(admin_client):
    Campaign.objects.create(shortcode="84700", keyword="FB1", kind=Kind.FORM)
    receive("poll", shortcode="84700", key="FB1", mobile="2125551212", reply="A")
    page = admin_client.get("/admin/campaigns/campaign/").content.decode()
    assert "kept apart from it" in page
