from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.core.handlers.wsgi import get_str_from_wsgi
from django.db import DatabaseError
from django.http import HttpResponse, HttpResponseBadRequest, HttpResponseNotFound
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from callbacks import dedupe, spool
from callbacks.models import CallbackEvent, Endpoint, Outcome, charset_of
from callbacks.params import read_params
from callbacks.parsing import InvalidCallback, parse
from callbacks.processing import process, reject
from campaigns.models import Kind, clean_keyword
from lib.client import client_address

TEXT = "text/plain; charset=utf-8"
# Seconds a sender should wait before retrying when not even the spool could keep a callback.
RETRY_AFTER = 60

# The last Text-4-Info reply this process answered for each keyword, so a callback spooled
# while the database is away still gets its campaign's text.
last_replies: dict[str, str] = {}


def reply_key(keyword: str) -> str:
    return clean_keyword(keyword).casefold()


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


@csrf_exempt
@never_cache
@require_http_methods(["GET", "POST"])
def receive(request, token: str, kind: str):
    try:
        endpoint = Endpoint.objects.for_token(token)
    except DatabaseError:
        # The token is checked when the spool is drained.
        endpoint = None
    else:
        if endpoint is None:
            return HttpResponseNotFound("Not found", content_type=TEXT)

    event, unreadable = raw_event(request, endpoint, kind)
    try:
        if endpoint is None:
            raise DatabaseError("the database did not answer")
        row = reject(event, unreadable) if unreadable else process(event)
    except DatabaseError:
        return spooled(event, token, unreadable)
    spool.drain_soon()
    dedupe.forget_expired_soon()

    if event.outcome == Outcome.REJECTED:
        return HttpResponseBadRequest(event.reason, content_type=TEXT)
    if kind == Kind.INFO:
        if event.outcome == Outcome.DUPLICATE:
            row = event.duplicate_of.record  # a retry gets the answer the first one got
        if row is None:
            return HttpResponse("", content_type=TEXT)
        last_replies[reply_key(row.campaign.keyword)] = row.campaign.reply_text
        return HttpResponse(row.campaign.reply_text, content_type=TEXT)
    return HttpResponse("OK", content_type=TEXT)


def spooled(event: CallbackEvent, token: str, unreadable: str) -> HttpResponse:
    """The database cannot take the callback: keep it on local disk, answer as we would."""
    try:
        spool.write(event, token, unreadable)
    except OSError:
        response = HttpResponse(
            "Service unavailable, try again later", status=503, content_type=TEXT
        )
        response["Retry-After"] = str(RETRY_AFTER)
        return response
    # Stored as rejected when the spool is drained; the sender learns why now.
    if unreadable:
        return HttpResponseBadRequest(unreadable, content_type=TEXT)
    try:
        callback = parse(event.kind, read_params(event))
    except InvalidCallback as e:
        return HttpResponseBadRequest(str(e), content_type=TEXT)
    except Exception:
        # Our own error: the drain stores it as failed, as process() would have; it is kept.
        return HttpResponse("" if event.kind == Kind.INFO else "OK", content_type=TEXT)
    if event.kind == Kind.INFO:
        return HttpResponse(last_replies.get(reply_key(callback.keyword), ""), content_type=TEXT)
    return HttpResponse("OK", content_type=TEXT)
