"""Bodies read whole or refused, in the charset they declare: raw HTTP against gunicorn."""

import socket
from urllib.parse import urlsplit

import pytest

from callbacks.models import CallbackEvent, Outcome
from campaigns.models import InfoRequest, Kind, PollResponse

pytestmark = pytest.mark.slow

FORM = "application/x-www-form-urlencoded"


def raw_post(base_url: str, path: str, head: dict, body: bytes, close_early=False):
    """Send exactly these bytes; with close_early, stop sending after them (half-close).

    Returns (status, answer body).
    """
    url = urlsplit(base_url)
    lines = [f"POST {path} HTTP/1.1", f"Host: {url.hostname}", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in head.items()]
    with socket.create_connection((url.hostname, url.port), timeout=30) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        if close_early:
            sock.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head_bytes, _, content = answer.partition(b"\r\n\r\n")
    return int(head_bytes.split(b" ", 2)[1]), content


def chunked(*parts: bytes) -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\n\r\n"


def test_a_body_shorter_than_its_content_length_is_refused_and_kept(server, endpoint):
    body = b"mobile=2125551212&key"  # 21 bytes of a declared 60
    head = {"Content-Type": FORM, "Content-Length": "60"}
    status, answer = raw_post(server, endpoint.url_path(Kind.POLL), head, body, close_early=True)

    assert (status, answer) == (400, b"body ended after 21 of its 60 bytes")
    event = CallbackEvent.objects.get()
    assert (event.outcome, event.reason) == (Outcome.REJECTED, answer.decode())
    assert event.body == body.decode()
    assert not PollResponse.objects.exists()


def test_a_chunked_body_is_read_and_stored_whole(server, endpoint):
    parts = (b"mobile=2125551212&shortcode=84700", b"&key=FB1&reply=A", b"&label=Tampa+Bay")
    head = {"Content-Type": FORM, "Transfer-Encoding": "chunked"}
    status, answer = raw_post(server, endpoint.url_path(Kind.POLL), head, chunked(*parts))

    assert (status, answer) == (200, b"OK")
    event = CallbackEvent.objects.get()
    assert (event.outcome, event.body) == (Outcome.PROCESSED, b"".join(parts).decode())
    assert PollResponse.objects.get().label == "Tampa Bay"


@pytest.mark.parametrize(
    "body",
    [b"mobile=2125551212&lead=HOURS&msg=caf\xe9", b"mobile=2125551212&lead=HOURS&msg=caf%E9"],
    ids=["raw byte", "percent-encoded"],
)
def test_a_declared_charset_is_honoured(server, endpoint, body):
    head = {"Content-Type": f"{FORM}; charset=ISO-8859-1", "Content-Length": str(len(body))}
    status, _ = raw_post(server, endpoint.url_path(Kind.INFO), head, body)

    assert status == 200
    event = CallbackEvent.objects.get()
    assert event.body == body.decode("latin-1")
    assert event.body_raw is None  # nothing was lost in decoding
    assert InfoRequest.objects.get().message == "café"


@pytest.mark.parametrize(
    "body",
    [
        b"mobile=2125551212&lead=HOURS&msg=caf\xe9",
        # A raw NUL, which the database refuses in text, reads as U+FFFD; the byte is kept.
        b"mobile=2125551212&lead=HOURS&msg=a\x00b",
    ],
    ids=["not UTF-8", "NUL"],
)
def test_bytes_the_text_cannot_hold_are_kept_as_received(server, endpoint, body):
    head = {"Content-Type": FORM, "Content-Length": str(len(body))}
    status, _ = raw_post(server, endpoint.url_path(Kind.INFO), head, body)

    assert status == 200
    event = CallbackEvent.objects.get()
    assert bytes(event.body_raw) == body
    assert event.body == body.decode("utf-8", errors="replace").replace("\x00", "\ufffd")
