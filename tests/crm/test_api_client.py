"""The API as an integrator meets it: a Python client generated from /api/v1/schema/ by
openapi-python-client (nobody on this project wrote it), against the real server."""

import csv
import importlib
import importlib.resources
import io
import subprocess
import sys
import time
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from django.contrib.auth.models import User
from rest_framework.authtoken.models import Token

from campaigns.models import Campaign
from subscribers.models import Subscriber
from tests.helpers import receive, vote

pytestmark = pytest.mark.slow

PACKAGE = "sumotext_client"


@pytest.fixture(scope="module")
def package(server_process, django_db_blocker, tmp_path_factory):
    """The client package generated from the running server's schema, once for the module."""
    tmp_path = tmp_path_factory.mktemp("client")
    with django_db_blocker.unblock():
        user = User.objects.create_superuser("schema-reader")
        token = Token.objects.create(user=user).key
    try:
        schema = httpx.get(
            f"{server_process}/api/v1/schema/?format=json",
            headers={"Authorization": f"Token {token}"},
            timeout=60,
        )
    finally:
        with django_db_blocker.unblock():
            user.delete()
    assert schema.status_code == 200
    (tmp_path / "schema.json").write_bytes(schema.content)
    # No formatter hooks: the generator's defaults call ruff, which a client needs not.
    (tmp_path / "config.yaml").write_text("post_hooks: []\n")
    generated = subprocess.run(
        [
            sys.executable,
            "-m",
            "openapi_python_client",
            "generate",
            "--path",
            str(tmp_path / "schema.json"),
            "--config",
            str(tmp_path / "config.yaml"),
            "--meta",
            "none",
            "--output-path",
            str(tmp_path / PACKAGE),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert generated.returncode == 0, generated.stdout + generated.stderr
    # Every warning is a part of the schema the generator could not turn into code.
    assert "Warning" not in generated.stdout + generated.stderr, generated.stdout
    sys.path.insert(0, str(tmp_path))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(tmp_path))
        for name in [name for name in sys.modules if name.split(".")[0] == PACKAGE]:
            del sys.modules[name]


@pytest.fixture
def api(package, server):
    """(the generated package, a client of it with a superuser's token)."""
    token = Token.objects.create(user=User.objects.create_superuser("integrator")).key
    client = package.AuthenticatedClient(
        base_url=server,
        token=token,
        prefix="Token",
        raise_on_unexpected_status=True,
        timeout=httpx.Timeout(60),
    )
    return package, client


def operation(package, path: str):
    return importlib.import_module(f"{package.__name__}.api.{path}")


def model(package, name: str):
    return getattr(importlib.import_module(f"{package.__name__}.models"), name)


def test_every_operation_module_imports(api):
    package, _ = api
    api_dir = importlib.resources.files(f"{PACKAGE}.api")
    modules = [
        f"{tag.name}.{module.name.removesuffix('.py')}"
        for tag in api_dir.iterdir()
        if tag.is_dir() and not tag.name.startswith("__")
        for module in tag.iterdir()
        if module.name.endswith(".py") and module.name != "__init__.py"
    ]
    assert len(modules) > 30
    for name in modules:
        operation(package, name)


def test_it_lists_with_filters_and_pages_through_everything(api):
    package, client = api
    for n in range(7):
        vote(f"21255501{n:02d}", "A", carrier="Verizon")
    vote("3055550123", "B", key="TACOS")
    poll_responses_list = operation(package, "poll_responses.poll_responses_list")
    seen, cursor = [], None
    while True:
        page = poll_responses_list.sync(
            client=client, keyword="pizza", carrier="verizon", page_size=3, cursor=cursor
        )
        seen += [(row.mobile, row.keyword, row.choice_label) for row in page.results]
        if not page.next_:
            break
        cursor = parse_qs(urlparse(page.next_).query)["cursor"][0]
    assert sorted(seen) == [(f"+121255501{n:02d}", "PIZZA", "A") for n in range(7)]


def test_it_downloads_csv(api):
    package, client = api
    vote("2125551212", "A", label="Tampa")
    csv_retrieve = operation(package, "poll_responses.poll_responses_csv_retrieve")
    text = csv_retrieve.sync(client=client, keyword="PIZZA")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [(row["mobile"], row["choice_label"]) for row in rows] == [("+12125551212", "Tampa")]


def test_it_reads_results(api):
    package, client = api
    campaign = Campaign.objects.create(shortcode="12345", keyword="PIZZA", kind="poll")
    campaign.choices.create(reply="A", label="Tampa", order=1)
    campaign.choices.create(reply="B", label="Miami", order=2)
    vote("2125551212", "A")
    vote("3055550123", "B")
    results = operation(package, "campaigns.campaigns_results_retrieve").sync(
        client=client, id=campaign.id
    )
    assert (results.votes, results.voters) == (2, 2)
    assert [(c.reply, c.label, c.votes) for c in results.choices] == [
        ("A", "Tampa", 1),
        ("B", "Miami", 1),
    ]


def test_it_creates_a_campaign_with_choices(api):
    package, client = api
    request = model(package, "CampaignCreateRequest")(
        shortcode="12345",
        keyword="PIZZA",
        kind=model(package, "KindEnum").POLL,
        choices=[
            model(package, "ChoiceInCampaignRequest")(reply="A", label="Tampa"),
            model(package, "ChoiceInCampaignRequest")(reply="B", label="Miami"),
        ],
    )
    created = operation(package, "campaigns.campaigns_create").sync(client=client, body=request)
    assert [(c.reply, c.label) for c in created.choices] == [("A", "Tampa"), ("B", "Miami")]
    campaign = Campaign.objects.get()
    assert [(c.reply, c.label) for c in campaign.choices.all()] == [("A", "Tampa"), ("B", "Miami")]

    # A bad request comes back as the declared error, not an exception.
    refused = operation(package, "campaigns.campaigns_create").sync(client=client, body=request)
    assert isinstance(refused, model(package, "Error"))
    assert "already has a campaign" in refused.detail


def test_it_patches_a_subscribers_fields(api):
    package, client = api
    subscriber = receive("form", key="JOIN", mobile="2125551212", Name="Ann", City="Tampa")
    fields = model(package, "PatchedSubscriberRequestFields").from_dict(
        {"Name": "Bob", "City": None}
    )
    patched = operation(package, "subscribers.subscribers_partial_update").sync(
        client=client,
        id=subscriber.subscriber_id,
        body=model(package, "PatchedSubscriberRequest")(fields=fields),
    )
    assert patched.fields.to_dict() == {"Name": "Bob"}
    assert Subscriber.objects.get().fields == {"Name": "Bob"}


def test_it_syncs_incrementally(api):
    package, client = api
    changes = operation(package, "subscribers.subscribers_changes_retrieve")

    def next_changes(after=None, page_size=50):
        # On PostgreSQL a change is published once every older write transaction on the
        # server has ended (lib.sync): an integration polls; so does this test, 5 minutes at
        # most.
        deadline = time.monotonic() + 300
        while True:
            answer = changes.sync(client=client, after=after or UNSET, page_size=page_size)
            if answer.results or time.monotonic() > deadline:
                return answer
            time.sleep(0.2)

    UNSET = importlib.import_module(f"{PACKAGE}.types").UNSET
    receive("form", key="JOIN", mobile="2125551212", Name="Ann")
    receive("form", key="JOIN", mobile="3055550123", Name="Bob")
    first = next_changes(page_size=1)
    second = next_changes(first.after, page_size=1)
    assert [row.mobile for row in first.results + second.results] == [
        "+12125551212",
        "+13055550123",
    ]
    receive("form", key="JOIN", mobile="2125551212", Name="Ann B.")
    third = next_changes(second.after)
    assert [(row.mobile, row.fields.to_dict()) for row in third.results] == [
        ("+12125551212", {"Name": "Ann B."})
    ]
    assert changes.sync(client=client, after=third.after).results == []


def test_it_registers_a_webhook_and_lists_custom_fields(api):
    package, client = api
    kinds = model(package, "KindsEnum")
    request = model(package, "SubscriptionRequest")(
        target_url="https://warehouse.example.com/hooks",
        kinds=[kinds.SUBSCRIBER_CREATED, kinds.SUBSCRIBER_CHANGED],
    )
    created = operation(package, "webhooks.webhooks_create").sync(client=client, body=request)
    assert created.secret.startswith("whsec_")
    assert sorted(created.kinds) == ["subscriber.changed", "subscriber.created"]

    # Read once first: on SQLite the previous test's flush DELETEd subscribers, and the
    # triggers counted them out after the summary itself was emptied.
    operation(package, "custom_fields.custom_fields_list").sync(client=client)
    receive("form", key="JOIN", mobile="2125551212", Name="Ann", City="Tampa")
    receive("form", key="JOIN", mobile="3055550123", Name="Bob")
    fields = operation(package, "custom_fields.custom_fields_list").sync(client=client)
    assert [(row.name, row.subscribers) for row in fields] == [("City", 1), ("Name", 2)]


def test_a_country_filter_is_an_enum_and_a_missing_row_a_declared_404(api):
    package, client = api
    vote("2125551212", "A", country="US")
    listed = operation(package, "subscribers.subscribers_list").sync(
        client=client, country=model(package, "SubscribersListCountry").US
    )
    assert [row.mobile for row in listed.results] == ["+12125551212"]
    missing = operation(package, "subscribers.subscribers_retrieve").sync(client=client, id=999999)
    assert isinstance(missing, model(package, "Error"))
