"""TRUSTED_PROXY_COUNT: the client's address and scheme come through configured proxies only."""

import pytest
from django.test import Client, override_settings

from callbacks.models import CallbackEvent
from campaigns.models import Kind

VOTE = "?mobile=2125551212&key=FB1&reply=A"


def stored_address(endpoint, trusted_proxies: int, **headers) -> str:
    with override_settings(TRUSTED_PROXY_COUNT=trusted_proxies):
        client = Client(REMOTE_ADDR="10.0.0.2")  # the last hop: nginx, as gunicorn sees it
        response = client.get(endpoint.url_path(Kind.POLL) + VOTE, **headers)
    assert response.status_code == 200
    return CallbackEvent.objects.latest("id").remote_addr


def test_without_a_trusted_proxy_a_client_sent_address_is_ignored(endpoint):
    assert stored_address(endpoint, 0, HTTP_X_FORWARDED_FOR="203.0.113.9") == "10.0.0.2"


@pytest.mark.parametrize(
    "trusted_proxies,expected", [(1, "198.51.100.7"), (2, "203.0.113.9"), (3, "10.0.0.2")]
)
def test_the_client_is_the_address_the_outermost_trusted_proxy_saw(
    endpoint, trusted_proxies, expected
):
    # The client wrote 203.0.113.9 itself or went through a proxy that did: only as many
    # entries from the right as there are trusted proxies are believed.
    forwarded = "203.0.113.9, 198.51.100.7"
    assert stored_address(endpoint, trusted_proxies, HTTP_X_FORWARDED_FOR=forwarded) == expected


@pytest.mark.parametrize("forwarded", ["", "not-an-address", "198.51.100.7, "])
def test_a_malformed_forwarded_address_leaves_the_connection_address(endpoint, forwarded):
    assert stored_address(endpoint, 1, HTTP_X_FORWARDED_FOR=forwarded) == "10.0.0.2"


@pytest.mark.parametrize("trusted_proxies,status", [(0, 301), (1, 200)])
def test_https_is_believed_from_a_trusted_proxy_only(db, trusted_proxies, status):
    with override_settings(TRUSTED_PROXY_COUNT=trusted_proxies, SECURE_SSL_REDIRECT=True):
        response = Client().get("/admin/login/", HTTP_X_FORWARDED_PROTO="https")
    assert response.status_code == status
