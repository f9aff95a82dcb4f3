"""/callbacks/<token>/poll/: poll votes."""

import pytest

from campaigns.models import Campaign, Kind, PollChoice, PollResponse
from subscribers.models import Subscriber
from tests.helpers import seed_urls, send

pytestmark = pytest.mark.django_db


def test_the_seed_poll_records_the_vote_and_makes_the_choice(client, endpoint):
    (query,) = [q for kind, q in seed_urls() if kind == Kind.POLL]
    response = send(client, endpoint, Kind.POLL, query)

    assert response.content == b"OK"
    vote = PollResponse.objects.select_related("choice", "campaign", "subscriber").get()
    assert (vote.reply, vote.label, vote.extras) == ("A", "Tampa", {})
    assert (vote.choice.reply, vote.choice.label, vote.choice.from_callback) == ("A", "Tampa", True)
    assert (vote.campaign.keyword, vote.campaign.kind) == ("FB1", Kind.POLL)
    assert vote.subscriber.carrier == "VERIZONUS"


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


def test_a_known_poll_vote_costs_a_fixed_number_of_queries(
    client, endpoint, django_assert_num_queries
):
    query = "mobile=2125551212&carrier=VERIZONUS&shortcode=84700&key=FB1&reply=A&label=Tampa"
    send(client, endpoint, Kind.POLL, query)  # campaign, choice and subscriber now exist
    send(client, endpoint, Kind.POLL, query + "&n=2")  # the process now knows the campaign
    # The catalog's version (the endpoint, campaign and choice are the process's lookups);
    # then inside the test's transaction a savepoint around the event insert, the subscriber
    # upsert, the vote insert and the duplicate claim. Nothing that grows with the data.
    # (Outside a transaction: test_hot_path.py.)
    with django_assert_num_queries(7):
        # Not identical to the others, which would be a retry (test_duplicates.py).
        assert send(client, endpoint, Kind.POLL, query + "&n=3").status_code == 200
    assert PollResponse.objects.count() == 3


def test_a_vote_without_short_code_never_lands_on_another_kind_of_campaign(client, endpoint):
    form = Campaign.objects.create(shortcode="84700", keyword="FB1", kind=Kind.FORM)
    send(client, endpoint, Kind.POLL, "mobile=2125551212&key=FB1&reply=A&label=Tampa")
    vote = PollResponse.objects.select_related("campaign").get()
    assert vote.campaign != form
    assert (vote.campaign.kind, vote.campaign.needs_review) == (Kind.POLL, True)
    assert not form.choices.exists()


def test_an_unencoded_plus_in_the_number_is_read_as_plus(client, endpoint):
    send(client, endpoint, Kind.POLL, "mobile=+442071838750&key=FB1&reply=A")
    assert Subscriber.objects.get().mobile == "+442071838750"
