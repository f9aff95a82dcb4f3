"""What one callback costs the database, once its campaign and choice are known.

Real transactions (not the test's own): BEGIN and COMMIT are not counted, savepoints would be.
"""

from unittest.mock import patch

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from callbacks import processing
from callbacks.models import CallbackEvent, Outcome
from callbacks.params import read_params
from callbacks.parsing import parse
from campaigns import services
from campaigns.models import Campaign, Kind, PollChoice, PollResponse
from subscribers.models import Subscriber
from tests.helpers import request_callback, request_vote

pytestmark = pytest.mark.django_db(transaction=True)


def warm(send) -> None:
    """The first callback makes the campaign and choice, the second looks them up once.
    Each differs (`n`): the same callback again would be a retry, counted nowhere."""
    send(n="1")
    send(n="2")


def statements(send) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        send()
    # SQLite's backend logs the BEGIN IMMEDIATE and COMMIT it sends; PostgreSQL's does not.
    return [q["sql"] for q in captured if q["sql"].split()[0] not in ("BEGIN", "COMMIT")]


def expected() -> int:
    """The endpoint, campaign and choice come from the process's lookups. PostgreSQL: one
    statement, which checks the catalog's version, claims the callback's fingerprint and
    writes the raw event, the subscriber's upsert and the response row. SQLite: the catalog's
    version, then in one transaction the event, the upsert, the response and the claim."""
    return 1 if connection.vendor == "postgresql" else 5


def test_a_vote_from_a_returning_subscriber_takes_a_fixed_few_statements(client, endpoint):
    warm(lambda **n: request_vote(client, endpoint, "2125551212", **n))

    sql = statements(lambda: request_vote(client, endpoint, "2125551212", n="3"))

    assert len(sql) == expected(), sql
    assert not [s for s in sql if "SAVEPOINT" in s]
    assert PollResponse.objects.filter(subscriber__mobile="+12125551212").count() == 3


def test_a_vote_from_a_new_subscriber_takes_a_fixed_few_statements(client, endpoint):
    warm(lambda **n: request_vote(client, endpoint, "2125551212", **n))

    sql = statements(lambda: request_vote(client, endpoint, "2125550000"))

    assert len(sql) == expected(), sql
    assert not [s for s in sql if "SAVEPOINT" in s]
    assert Subscriber.objects.count() == 2


@pytest.mark.parametrize(
    "kind, params",
    [
        (Kind.FORM, {"shortcode": "84700", "key": "JOIN", "Name": "Bill", "DOB": "1/1/2000"}),
        (Kind.INFO, {"lead": "HOURS", "msg": "hours"}),
    ],
)
def test_forms_and_info_requests_take_a_fixed_few_statements(client, endpoint, kind, params):
    def send(mobile):
        return lambda **n: request_callback(client, endpoint, kind, mobile=mobile, **params, **n)

    warm(send("2125551212"))

    sql = statements(send("2125550000"))

    assert len(sql) == expected(), sql
    assert not [s for s in sql if "SAVEPOINT" in s]


def test_an_error_in_the_write_keeps_the_event_as_failed_and_writes_nothing_else(
    client, endpoint, monkeypatch
):
    warm(lambda **n: request_vote(client, endpoint, "2125551212", **n))
    real = services.target

    def choice_deleted_meanwhile(callback, found=None):
        return services.Target(real(callback, found).campaign, PollChoice(pk=999_999))

    monkeypatch.setattr("callbacks.processing.target", choice_deleted_meanwhile)
    response = client.get(endpoint.url_path(Kind.POLL) + "?mobile=2125550000&key=FB1&reply=A")

    assert (response.status_code, response.content) == (200, b"OK")
    event = CallbackEvent.objects.get(outcome=Outcome.FAILED)
    assert "IntegrityError" in event.reason
    assert not Subscriber.objects.filter(mobile="+12125550000").exists()
    assert PollResponse.objects.count() == 2


def test_the_first_vote_for_an_unknown_keyword_makes_the_campaign_and_choice(client, endpoint):
    request_vote(client, endpoint, "2125551212", reply="C", label="Miami")

    vote = PollResponse.objects.select_related("campaign", "choice").get()
    assert (vote.campaign.keyword, vote.campaign.needs_review) == ("FB1", True)
    assert (vote.choice.reply, vote.choice.label, vote.choice.from_callback) == ("C", "Miami", True)
    assert Campaign.objects.count() == 1


@pytest.mark.parametrize("window", [0, 600])
@pytest.mark.parametrize(
    "kind, query",
    [
        (Kind.POLL, "mobile=2125551212&shortcode=84700&key=FB1&reply=A&label=Tampa&x=1"),
        (Kind.FORM, "mobile=2125551212&shortcode=84700&key=JOIN&Name=Bill&DOB=1%2F1%2F2000"),
        (Kind.INFO, "mobile=2125551212&lead=HOURS&msg=hours&x=1"),
    ],
)
def test_the_statement_composed_once_per_shape_gets_the_parameters_it_was_composed_with(
    endpoint, kind, query, window
):
    # Its text is kept per shape: each callback builds only the parameters, which must be
    # the ones composing it gives, in its order.
    event = CallbackEvent(endpoint=endpoint, kind=kind, method="GET", query_string=query)
    params = read_params(event)
    callback = parse(kind, params)
    campaign = Campaign.objects.create(
        shortcode=callback.shortcode, keyword=callback.keyword, kind=kind, duplicate_window=window
    )
    choice = campaign.choices.create(reply="A", label="Tampa") if kind == Kind.POLL else None
    where = services.Target(campaign, choice)
    row = services.response_row(event, callback, where)
    with patch("django.utils.timezone.now", return_value=event.received_at):
        _sql, composed = processing.at_once_sql(event, params, callback, row, window, 7)
        built = processing.at_once_params(event, params, callback, row, window, 7)

    assert [repr(value) for value in built] == [repr(value) for value in composed]
