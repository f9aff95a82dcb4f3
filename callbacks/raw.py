"""A callback request as it arrived: its body read whole (or the reason it could not be),
decoded in its declared charset, the bytes kept when the text cannot hold them."""

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.core.handlers.wsgi import get_str_from_wsgi

from callbacks.models import CallbackEvent, Endpoint, charset_of
from lib.client import client_address


def read_body(request) -> tuple[bytes, str]:
    """The body's bytes, whole, and a reason when it cannot be had whole."""
    meta = request.META
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    if "chunked" in meta.get("HTTP_TRANSFER_ENCODING", "").lower():
        # Django reads CONTENT_LENGTH bytes, and a chunked request has none: read the
        # server's de-chunking stream to its end ourselves.
        body = meta["wsgi.input"].read(limit + 1)
        if limit is not None and len(body) > limit:
            return b"", "request body too large"
        return body, ""
    try:
        body = request.body
    except RequestDataTooBig:
        return b"", "request body too large"
    try:
        declared = int(meta.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if len(body) < declared:
        # The sender stopped (or was cut off) early: half a callback must not be recorded.
        return body, f"body ended after {len(body)} of its {declared} bytes"
    return body, ""


def decode_body(event: CallbackEvent, body: bytes) -> None:
    """Text in the declared charset; the bytes too when the text cannot hold them all."""
    charset = charset_of(event.content_type)
    try:
        text = body.decode(charset)
    except UnicodeDecodeError:
        text = None
    if text is None or "\x00" in text:
        # NUL, which the database refuses, and undecodable bytes become U+FFFD in the text.
        event.body = body.decode(charset, errors="replace").replace("\x00", "\ufffd")
        event.body_raw = body
    else:
        event.body = text


def raw_event(request, endpoint: Endpoint | None, kind: str) -> tuple[CallbackEvent, str]:
    """The request as an unsaved event, and a reason if its body could not be read whole."""
    event = CallbackEvent(
        endpoint=endpoint,
        kind=kind,
        method=request.method,
        # As Django reads it for request.GET, so a reprocessed event parses the same way.
        query_string=get_str_from_wsgi(request.META, "QUERY_STRING", "").replace("\x00", "\ufffd"),
        content_type=request.META.get("CONTENT_TYPE", "")[:200],
        remote_addr=client_address(request),
    )
    body, unreadable = read_body(request)
    decode_body(event, body)
    return event, unreadable
