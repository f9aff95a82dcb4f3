"""What tests share besides fixtures: callbacks sent as production receives them, API users
and clients, and query counts. Fixtures live in conftest.py.

Two ways to make rows, both the production path:
- send() / request_callback() / request_vote(): a real HTTP request to the callback URL,
  through Django's test client (the admin tests, the callback view's tests);
- receive() / vote(): what the callback view does, in process (the API tests, faster).
"""

from datetime import datetime
from pathlib import Path
from urllib.parse import urlencode

from django.contrib.auth.models import Permission, User
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from callbacks.models import CallbackEvent, Endpoint
from callbacks.params import FORM_ENCODED
from callbacks.processing import process

ROOT = Path(__file__).resolve().parent.parent


def seed_urls() -> list[tuple[str, str]]:
    """(kind, query string) of every example URL in the platform's document."""
    lines = (ROOT / "tests/callbacks/fixtures/seed_urls.txt").read_text().splitlines()
    pairs = [line.split(" ", 1) for line in lines if line and not line.startswith("#")]
    return [(kind, url.split("?", 1)[1]) for kind, url in pairs]


# Callbacks through the real URL


def send(client, endpoint, kind, query="", method="get", data=None):
    """Call an endpoint's callback URL through Django's test client."""
    url = endpoint.url_path(kind) + (f"?{query}" if query else "")
    if method == "post":
        return client.post(url, urlencode(data or {}), FORM_ENCODED)
    if method == "multipart":
        return client.post(url, data or {})
    return client.get(url)


def request_callback(client, endpoint, kind: str, **params) -> None:
    """A GET callback with these parameters, which must be accepted."""
    response = send(client, endpoint, kind, urlencode(params))
    assert response.status_code == 200, response.content


def request_vote(client, endpoint, mobile: str, reply: str = "A", **params) -> None:
    params = {"shortcode": "84700", "key": "FB1", "label": "Tampa", **params}
    request_callback(client, endpoint, "poll", mobile=mobile, reply=reply, **params)


# Callbacks in process


def receive(kind: str, at: datetime | None = None, **params: str):
    """Record a callback through the pipeline the callback view calls; return the row made."""
    endpoint = Endpoint.objects.first() or Endpoint.objects.create(name="Sumotext")
    event = CallbackEvent(
        endpoint=endpoint,
        kind=kind,
        method="GET",
        query_string=urlencode(params),
        received_at=at or timezone.now(),
    )
    return process(event)


def vote(mobile: str, reply: str, *, key: str = "PIZZA", at=None, **params):
    params = {"shortcode": "12345", "key": key, "label": reply, **params}
    return receive("poll", at=at, mobile=mobile, reply=reply, **params)


# The API's users


def integration_user(*perms: str, staff: bool = False, name: str = "warehouse") -> User:
    """A user with the given "app.codename" permissions, as an admin would set one up."""
    user = User.objects.create_user(name, is_staff=staff)
    for perm in perms:
        app_label, codename = perm.split(".")
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )
    return user


def client_for(user: User | None) -> APIClient:
    """A client that sends the user's token, as an integration does; anonymous for None."""
    client = APIClient()
    if user is not None:
        token, _ = Token.objects.get_or_create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


# Pages


def queries(client, url: str) -> tuple[int, object]:
    """How many queries a page takes once the process's caches (content types, the user's
    permissions) are warm, and the page."""
    client.get(url)
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return len(captured), response


# An unfiltered big admin list asks PostgreSQL for its estimate of the table's rows
# (lib.admin_lists.BigTablePaginator): one more query there than on SQLite.
ESTIMATE_QUERY = 1 if connection.vendor == "postgresql" else 0


def numbers(start: int, count: int) -> list[str]:
    return [f"+1212555{n:04d}" for n in range(start, start + count)]
