"""The client's address: REMOTE_ADDR, or what the outermost trusted proxy saw."""

import pytest
from django.test import RequestFactory, override_settings

from callbacks.models import CallbackEvent
from lib.client import client_address


def request(remote="192.0.2.1", forwarded=None):
    headers = {} if forwarded is None else {"HTTP_X_FORWARDED_FOR": forwarded}
    return RequestFactory().get("/", REMOTE_ADDR=remote, **headers)


def test_without_a_trusted_proxy_forwarded_for_is_ignored():
    assert client_address(request(forwarded="198.51.100.7")) == "192.0.2.1"


@override_settings(TRUSTED_PROXY_COUNT=1)
@pytest.mark.parametrize(
    "forwarded,expected",
    [
        ("198.51.100.7", "198.51.100.7"),
        # Anything left of what our proxy appended was written by the client.
        ("203.0.113.66, 198.51.100.7", "198.51.100.7"),
        (" 2001:db8::1 ", "2001:db8::1"),
        # No header, or no address in it: the proxy's own address is all we know.
        (None, "192.0.2.1"),
        ("", "192.0.2.1"),
        ("not-an-address", "192.0.2.1"),
    ],
)
def test_one_trusted_proxy_gives_the_address_it_appended(forwarded, expected):
    assert client_address(request(forwarded=forwarded)) == expected


@override_settings(TRUSTED_PROXY_COUNT=2)
def test_two_trusted_proxies_give_the_second_entry_from_the_right():
    assert client_address(request(forwarded="1.1.1.1, 198.51.100.7, 10.0.0.2")) == "198.51.100.7"
    # Fewer entries than proxies: the request did not come through them all.
    assert client_address(request(forwarded="198.51.100.7")) == "192.0.2.1"


@pytest.mark.django_db
def test_the_callback_log_keeps_the_client_address(client, endpoint):
    client.defaults["REMOTE_ADDR"] = "192.0.2.1"
    headers = {"HTTP_X_FORWARDED_FOR": "198.51.100.7"}
    client.get(endpoint.url_path("info") + "?lead=HOURS&mobile=2125551212", **headers)
    with override_settings(TRUSTED_PROXY_COUNT=1):
        client.get(endpoint.url_path("info") + "?lead=HOURS&mobile=2125551212", **headers)
    addresses = list(CallbackEvent.objects.order_by("id").values_list("remote_addr", flat=True))
    assert addresses == ["192.0.2.1", "198.51.100.7"]
