"""Data for the admin tests, made the way production makes it: by real callback requests."""

from urllib.parse import urlencode

from django.db import connection
from django.test.utils import CaptureQueriesContext


def send(client, endpoint, kind: str, **params) -> None:
    response = client.get(endpoint.url_path(kind) + "?" + urlencode(params))
    assert response.status_code == 200, response.content


def vote(client, endpoint, mobile: str, reply: str = "A", **params) -> None:
    params = {"shortcode": "84700", "key": "FB1", "label": "Tampa", **params}
    send(client, endpoint, "poll", mobile=mobile, reply=reply, **params)


def queries(client, url: str) -> tuple[int, object]:
    """How many queries a page takes, and the page."""
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return len(captured), response


def numbers(start: int, count: int) -> list[str]:
    return [f"+1212555{n:04d}" for n in range(start, start + count)]
