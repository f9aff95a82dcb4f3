"""Each process keeps the campaigns and choices it looked up; a change made anywhere shows in
the next callback."""

import pytest
from django.utils import timezone

from callbacks.models import Endpoint
from campaigns import catalog
from campaigns.models import Campaign, CatalogVersion, Kind, PollChoice, PollResponse
from tests.helpers import receive, send, vote

pytestmark = pytest.mark.django_db


def test_every_change_to_campaigns_or_choices_gives_a_new_version():
    versions = [catalog.current_version()]
    campaign = Campaign.objects.create(shortcode="12345", keyword="PIZZA", kind=Kind.POLL)
    versions.append(catalog.current_version())
    choice = PollChoice.objects.create(campaign=campaign, reply="A", label="Pepperoni")
    versions.append(catalog.current_version())
    PollChoice.objects.filter(pk=choice.pk).update(label="Margherita")  # no signals, no save()
    versions.append(catalog.current_version())
    choice.delete()
    versions.append(catalog.current_version())
    Campaign.objects.filter(pk=campaign.pk).update(reply_text="Thanks")
    versions.append(catalog.current_version())

    assert len(set(versions)) == len(versions)


def test_every_change_to_an_endpoint_gives_a_new_version():
    versions = [catalog.current_version()]
    endpoint = Endpoint.objects.create(name="Sumotext")
    versions.append(catalog.current_version())
    Endpoint.objects.filter(pk=endpoint.pk).update(enabled=False)  # no signals, no save()
    versions.append(catalog.current_version())
    endpoint.rotate_token(old_works_until=timezone.now())
    versions.append(catalog.current_version())
    endpoint.delete()
    versions.append(catalog.current_version())

    assert len(set(versions)) == len(versions)


def test_a_reply_text_changed_behind_the_orms_back_is_answered_at_once(client, endpoint):
    campaign = Campaign.objects.create(keyword="HOURS", kind=Kind.INFO, reply_text="Open 9-5")
    query = "lead=HOURS&mobile=2125551212&msg=hours"
    assert send(client, endpoint, Kind.INFO, query).content == b"Open 9-5"

    Campaign.objects.filter(pk=campaign.pk).update(reply_text="Closed today")

    assert send(client, endpoint, Kind.INFO, query).content == b"Closed today"


def test_a_choice_removed_and_made_again_gets_the_next_votes():
    vote("+12125551212", "A")
    old = PollChoice.objects.get()
    PollResponse.objects.all().delete()
    old.delete()
    new = PollChoice.objects.create(campaign=old.campaign, reply="A", label="Anchovies")

    row = vote("+12125551213", "A")  # another voter: the same callback again is a retry

    assert row.choice == new


def test_a_campaign_made_by_a_callback_in_a_rolled_back_transaction_is_not_remembered(db):
    # Lookups are kept only when nothing changed while looking: here the campaign the first
    # callback made was rolled back, and the next callback must not reuse its id.
    from django.db import transaction

    with pytest.raises(RuntimeError), transaction.atomic():
        receive("info", lead="GONE", mobile="2125551212")
        raise RuntimeError("roll back")
    assert not Campaign.objects.filter(keyword="GONE").exists()

    row = receive("info", lead="GONE", mobile="2125551212")

    assert Campaign.objects.get(keyword="GONE") == row.campaign


def test_without_a_version_row_nothing_is_kept(db):
    CatalogVersion.objects.all().delete()
    receive("info", lead="HOURS", mobile="2125551212")

    assert catalog.lookups().found == {}
