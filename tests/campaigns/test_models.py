import pytest
from django.db import IntegrityError, transaction

from campaigns.models import Campaign, Kind, PollChoice


@pytest.mark.django_db
def test_keywords_are_stored_without_surrounding_spaces():
    campaign = Campaign.objects.create(shortcode=" 84700 ", keyword="  FB1 ", kind=Kind.POLL)
    campaign.refresh_from_db()
    assert (campaign.shortcode, campaign.keyword) == ("84700", "FB1")


@pytest.mark.django_db
def test_a_keyword_is_unique_per_short_code_whatever_its_case():
    Campaign.objects.create(shortcode="84700", keyword="FB1", kind=Kind.POLL)
    Campaign.objects.create(shortcode="84701", keyword="fb1", kind=Kind.POLL)  # other short code
    with pytest.raises(IntegrityError), transaction.atomic():
        Campaign.objects.create(shortcode="84700", keyword="fb1", kind=Kind.POLL)


@pytest.mark.django_db
def test_for_callback_finds_the_campaign_case_insensitively():
    campaign = Campaign.objects.create(shortcode="84700", keyword="FB1", kind=Kind.POLL)
    assert Campaign.objects.for_callback(Kind.POLL, "84700", " fb1 ") == campaign
    assert not Campaign.objects.filter(needs_review=True).exists()


@pytest.mark.django_db
def test_for_callback_creates_an_unknown_keyword_for_review():
    campaign = Campaign.objects.for_callback(Kind.POLL, "84700", "NEW")
    assert (campaign.kind, campaign.keyword, campaign.needs_review) == (Kind.POLL, "NEW", True)
    assert Campaign.objects.for_callback(Kind.POLL, "84700", "new") == campaign


@pytest.mark.django_db
def test_without_short_code_the_keyword_finds_the_campaign_of_that_kind():
    Campaign.objects.create(shortcode="84700", keyword="INFO", kind=Kind.POLL)
    info = Campaign.objects.create(shortcode="84701", keyword="info", kind=Kind.INFO)
    assert Campaign.objects.for_callback(Kind.INFO, "", "Info") == info


@pytest.mark.django_db
def test_a_reply_code_is_unique_per_campaign_whatever_its_case():
    campaign = Campaign.objects.create(shortcode="84700", keyword="FB1", kind=Kind.POLL)
    PollChoice.objects.create(campaign=campaign, reply="A", label="Tampa")
    with pytest.raises(IntegrityError), transaction.atomic():
        PollChoice.objects.create(campaign=campaign, reply="a", label="Orlando")


@pytest.mark.django_db
def test_choice_for_never_overwrites_a_configured_label():
    campaign = Campaign.objects.create(shortcode="84700", keyword="FB1", kind=Kind.POLL)
    configured = PollChoice.objects.create(campaign=campaign, reply="A", label="Tampa Bay")
    assert campaign.choice_for("a", "Tampa") == configured
    configured.refresh_from_db()
    assert configured.label == "Tampa Bay"
    assert not configured.from_callback


@pytest.mark.django_db
def test_choice_for_creates_an_unknown_reply_from_the_label():
    campaign = Campaign.objects.create(shortcode="84700", keyword="FB1", kind=Kind.POLL)
    choice = campaign.choice_for("B", "Orlando")
    assert (choice.reply, choice.label, choice.from_callback) == ("B", "Orlando", True)
    assert campaign.choice_for("C", "").label == "C"
