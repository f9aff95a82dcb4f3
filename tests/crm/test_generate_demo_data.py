import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.models import Count, Max, Min

from callbacks.models import CallbackEvent, Outcome
from callbacks.params import read_params
from callbacks.parsing import parse
from campaigns.models import Campaign, FormSubmission, InfoRequest, Kind, PollResponse
from subscribers.custom_fields import custom_field_summary, recount
from subscribers.models import Subscriber
from subscribers.phone import normalise_mobile


def generate(**sizes) -> None:
    options = {"responses": 300, "subscribers": 40, "callbacks": 100, **sizes}
    call_command("generate_demo_data", *(f"--{name}={n}" for name, n in options.items()))


def test_it_generates_the_requested_volumes(db):
    generate()

    assert Subscriber.objects.count() == 40
    assert PollResponse.objects.count() == 300
    other = InfoRequest.objects.count() + FormSubmission.objects.count()
    rejected = CallbackEvent.objects.exclude(outcome=Outcome.PROCESSED).count()
    assert other + rejected == 100
    assert InfoRequest.objects.exists() and FormSubmission.objects.exists()
    # Every response row has its own raw callback; the rest were rejected or failed.
    assert CallbackEvent.objects.count() == 300 + 100


def test_its_data_looks_like_real_traffic(db):
    generate()

    kinds = dict(Campaign.objects.values_list("kind").annotate(n=Count("id")))
    assert kinds[Kind.POLL] >= 3 and kinds[Kind.INFO] >= 2 and kinds[Kind.FORM] >= 2
    # Replies that matched no configured choice exist, and land on unmatched choices.
    assert PollResponse.objects.filter(choice__from_callback=True).exists()
    assert PollResponse.objects.filter(choice__from_callback=False).count() > 200
    # Every number is a valid E.164 number, as if it came through subscribers.phone.
    for mobile in Subscriber.objects.values_list("mobile", flat=True)[:20]:
        assert normalise_mobile(mobile, "US") == mobile
    span = PollResponse.objects.aggregate(first=Min("received_at"), last=Max("received_at"))
    assert (span["last"] - span["first"]).days >= 55
    response = PollResponse.objects.select_related("callback", "subscriber").first()
    assert response.callback.received_at == response.received_at
    assert "reply=" + response.reply in response.callback.query_string
    assert parse(Kind.POLL, read_params(response.callback)).mobile == response.subscriber.mobile


def test_it_refuses_a_database_that_has_subscribers(db):
    Subscriber.objects.create(mobile="+12125550001")

    with pytest.raises(CommandError, match="empty"):
        generate()

    assert PollResponse.objects.count() == 0


def test_after_the_bulk_load_the_product_writes_as_before(db):
    generate()

    # Sequences moved past the ids the load chose, change positions set, indexes back.
    subscriber = Subscriber.objects.create(mobile="+19995550001")
    assert subscriber.pk > Subscriber.objects.exclude(pk=subscriber.pk).aggregate(m=Max("id"))["m"]
    subscriber.refresh_from_db()
    assert subscriber.change_seq > 0  # the triggers are back
    assert not PollResponse.objects.filter(change_seq=0).exists()
    assert not CallbackEvent.objects.filter(change_seq=0).exists()
    table = PollResponse._meta.db_table
    with connection.cursor() as cursor:
        indexes = connection.introspection.get_constraints(cursor, table)
        counters = connection.introspection.get_constraints(cursor, "campaigns_pollrangetally")
    assert {"pollresponse_latest_vote", "pollresponse_changes"} <= set(indexes)
    # Unique constraints too, the counters' among them (built after their recount).
    assert any(c["unique"] and c["columns"] == ["callback_id"] for c in indexes.values())
    assert counters["pollrangetally_key"]["unique"]
    assert any(c["columns"] == ["choice_id"] and c["index"] for c in counters.values())


def test_the_custom_field_summary_counts_the_loaded_subscribers(db):
    generate()

    summary = {row["name"]: row["subscribers"] for row in custom_field_summary()}
    assert summary == recount()
    assert summary["first_name"] > 0
    # Those with a name have a date of birth too: the polls' age breakdown has data.
    assert summary["dob"] == summary["first_name"]
