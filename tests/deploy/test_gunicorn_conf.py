"""gunicorn.conf.py as production runs it: its logs, and the longest SMS a GET carries."""

import json
import os
from urllib.parse import quote, urlencode

import pytest

from callbacks.models import CallbackEvent, Endpoint, Outcome
from campaigns.models import Campaign, InfoRequest, Kind
from tests.callbacks.test_server import request
from tests.conftest import database_url
from tests.server import gunicorn

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def logged_server(tmp_path_factory, django_db_setup, django_db_blocker):
    """gunicorn with an access log and JSON logs in files: (base URL, access log, error log)."""
    logs = tmp_path_factory.mktemp("logs")
    with django_db_blocker.unblock():
        url = database_url()
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "DJANGO_LOCAL": "1",
        "LOG_FORMAT": "json",
        "GUNICORN_ACCESS_LOG": str(logs / "access.log"),
        "GUNICORN_ERROR_LOG": str(logs / "error.log"),
    }
    with gunicorn(env, "--workers", "1") as (proc, base_url):
        yield base_url, logs / "access.log", logs / "error.log", proc


def stop(proc):
    """Stop the server so every log line is flushed to its file."""
    proc.terminate()
    proc.wait(timeout=30)


@pytest.fixture
def server_logs(logged_server, transactional_db):
    return logged_server


def test_no_log_line_holds_a_token_a_number_or_a_message(server_logs):
    base_url, access_log, error_log, proc = server_logs
    endpoint = Endpoint.objects.create(name="Sumotext")
    Campaign.objects.create(keyword="HOURS", kind=Kind.INFO, reply_text="Open 9-5")
    poll = endpoint.url_path(Kind.POLL)
    vote = urlencode({"mobile": "2125551212", "key": "FB1", "reply": "A", "label": "Tampa"})
    info = urlencode({"lead": "HOURS", "mobile": "2125550188", "msg": "when do you open"})
    body = urlencode({"mobile": "2125550177", "key": "FB1", "reply": "B"}).encode()
    form_encoded = {"Content-Type": "application/x-www-form-urlencoded"}

    assert request(base_url, "GET", f"{poll}?{vote}")[0] == 200
    assert request(base_url, "GET", f"{endpoint.url_path(Kind.INFO)}?{info}")[0] == 200
    assert request(base_url, "POST", poll.rstrip("/"), body, form_encoded)[0] == 200
    # Django logs every 4xx with its path: "Bad Request: /callbacks/<token>/poll/".
    assert request(base_url, "GET", f"{poll}?mobile=12")[0] == 400
    stop(proc)

    access, errors = access_log.read_text(), error_log.read_text()
    for secret in (endpoint.token, "2125551212", "5550188", "5550177", "when do you open"):
        assert secret not in access
        assert secret not in errors
    assert access.count("/callbacks/<token>/poll/") == 2
    assert "/callbacks/<token>/info/" in access and "/callbacks/<token>/poll " in access
    assert "Bad Request: /callbacks/<token>/poll/" in errors

    outcomes = [json.loads(line) for line in errors.splitlines() if '"callbacks"' in line]
    info_campaign = Campaign.objects.get(keyword="HOURS").pk
    assert [(o["kind"], o["outcome"], o["endpoint"]) for o in outcomes] == [
        ("poll", "processed", "Sumotext"),
        ("info", "processed", "Sumotext"),
        ("poll", "processed", "Sumotext"),
        ("poll", "rejected", "Sumotext"),
    ]
    assert outcomes[1]["campaign"] == info_campaign and outcomes[3]["campaign"] is None
    assert all(o["duration_ms"] > 0 for o in outcomes)


# The longest SMS gunicorn.conf.py promises to take by GET: 8 concatenated parts, every
# character percent-encoded at its widest.
LONGEST_GSM7 = "é" * (8 * 153)
LONGEST_UCS2 = "中" * (8 * 67)


@pytest.mark.parametrize("message", [LONGEST_GSM7, LONGEST_UCS2], ids=["gsm7", "ucs2"])
def test_the_longest_sms_fits_in_a_get(server, endpoint, message):
    Campaign.objects.create(keyword="HOURS", kind=Kind.INFO, reply_text="Open 9-5")
    query = f"lead=HOURS&mobile=%2B12125551212&msg={quote(message)}"
    path = f"{endpoint.url_path(Kind.INFO)}?{query}"
    assert len(f"GET {path} HTTP/1.1") > 4800

    status, _, body = request(server, "GET", path)

    assert (status, body) == (200, b"Open 9-5")
    assert InfoRequest.objects.get().message == message
    assert CallbackEvent.objects.get().outcome == Outcome.PROCESSED
