"""A database made by the release before the layers (when the Subscriber app lived in crm/)
upgrades in place: same tables, migration history, permissions and content types, no row lost.

The old release's code runs from git in its own process, on a database of its own.
"""

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.db import connection

from tests.conftest import database_url

ROOT = Path(__file__).resolve().parent.parent.parent
# The last commit with Subscriber in crm/ (crm/models.py, crm/migrations/).
BEFORE_LAYERS = "f8b97d0"

pytestmark = pytest.mark.slow

# Run by the old release: real callbacks through its view, and an integration user.
MAKE_DATA = """
import json
from django.contrib.auth.models import Permission, User
from django.contrib.contenttypes.models import ContentType
from django.test import Client
from callbacks.models import Endpoint
from rest_framework.authtoken.models import Token

endpoint = Endpoint.objects.create(name="Sumotext")
client = Client(HTTP_HOST="localhost")
for path in (
    "poll/?mobile=2125551212&carrier=VERIZONUS&shortcode=84700&key=FB1&reply=A&label=Tampa",
    "form/?country=USA&shortcode=84700&key=JOIN&mobile=2125551212&carrierId=VERIZONUS&Name=Bill",
    "info/?lead=HOURS&&mobile=3055550000&msg=When",
):
    assert client.get(f"/callbacks/{endpoint.token}/{path}").status_code == 200
user = User.objects.create_user("warehouse")
user.user_permissions.add(Permission.objects.get(codename="view_subscriber"))
Token.objects.create(user=user)
"""

# Run by both releases: what a user of the data would check.
DESCRIBE = """
import json
from django.apps import apps
from django.contrib.auth.models import User
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.migrations.recorder import MigrationRecorder

Subscriber = apps.get_model("crm", "Subscriber")
user = User.objects.get(username="warehouse")
print(json.dumps({
    "subscribers": list(Subscriber.objects.order_by("mobile").values_list(
        "id", "mobile", "carrier", "country", "fields")),
    "rows": {m._meta.label: m.objects.count() for m in apps.get_models()
             if m._meta.app_label in ("crm", "campaigns", "callbacks")},
    "table": Subscriber._meta.db_table,
    "content_type": ContentType.objects.get(app_label="crm", model="subscriber").id,
    "can_view": user.has_perm("crm.view_subscriber"),
    "token": user.auth_token.key,
    "crm_migrations": sorted(MigrationRecorder.Migration.objects.filter(app="crm")
                             .values_list("name", flat=True)),
}))
"""


def manage(cwd: Path, url: str, *args: str) -> str:
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_LOCAL": "1"}
    done = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=cwd, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture
def old_release(tmp_path) -> Path:
    found = subprocess.run(["git", "cat-file", "-e", f"{BEFORE_LAYERS}^{{commit}}"], cwd=ROOT)
    if found.returncode != 0:
        pytest.skip(f"this clone has no commit {BEFORE_LAYERS}")
    folder = tmp_path / "old"
    folder.mkdir()
    archive = subprocess.run(
        ["git", "archive", BEFORE_LAYERS], cwd=ROOT, capture_output=True, check=True
    )
    subprocess.run(["tar", "-x", "-C", folder], input=archive.stdout, check=True)
    return folder


@pytest.fixture
def empty_database(tmp_path):
    """A database of the test run's kind, of its own, empty."""
    if connection.vendor == "sqlite":
        yield f"sqlite:///{tmp_path / 'upgrade.sqlite3'}"
        return
    name = f"upgrade_{uuid.uuid4().hex[:8]}"
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE {name}")
    try:
        yield database_url().rsplit("/", 1)[0] + f"/{name}"
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP DATABASE {name} WITH (FORCE)")


@pytest.mark.django_db(transaction=True)
def test_a_database_from_before_the_layers_upgrades_without_loss(old_release, empty_database):
    manage(old_release, empty_database, "migrate", "--noinput")
    manage(old_release, empty_database, "shell", "-v", "0", "-c", MAKE_DATA)
    before = json.loads(manage(old_release, empty_database, "shell", "-v", "0", "-c", DESCRIBE))

    manage(ROOT, empty_database, "migrate", "--noinput")
    after = json.loads(manage(ROOT, empty_database, "shell", "-v", "0", "-c", DESCRIBE))

    assert before["rows"]["crm.Subscriber"] == 2
    assert before["rows"]["campaigns.PollResponse"] == 1
    # The release's migration history is kept; migrations made since are applied after it.
    later = after.pop("crm_migrations")
    assert later[: len(before["crm_migrations"])] == before.pop("crm_migrations")
    # Tables added since that release (e.g. callbacks.CallbackFingerprint) start empty, but
    # for the one row that stamps the version of the campaigns callbacks look up, and the
    # poll counters, which count the vote already there (one choice, one quarter hour) and its
    # voter (one new-voter row), and the custom field summary, counted from the subscribers
    # there are (one field name: Name). On PostgreSQL the range counters count the voter's
    # first vote too (one new-voter row keyed by "no previous vote").
    added = {label: n for label, n in after["rows"].items() if label not in before["rows"]}
    counted = {
        "campaigns.CatalogVersion": 1,
        "campaigns.PollTally": 1,
        "campaigns.PollNewVoters": 1,
        "crm.CustomField": 1,
    }
    if connection.vendor == "postgresql":
        counted["campaigns.PollRangeNewVoters"] = 1
    assert added == {**dict.fromkeys(added, 0), **counted}
    after["rows"] = {label: n for label, n in after["rows"].items() if label not in added}
    assert after == before
    plan = manage(ROOT, empty_database, "migrate", "--plan")
    assert "No planned migration operations." in plan
