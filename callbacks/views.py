import logging
import time

from django.db import DatabaseError
from django.http import HttpResponse, HttpResponseBadRequest, HttpResponseNotFound
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from callbacks import dedupe, spool
from callbacks.models import CallbackEvent, Endpoint, Outcome
from callbacks.params import read_params
from callbacks.parsing import InvalidCallback, parse
from callbacks.processing import process, reject
from callbacks.raw import raw_event
from campaigns.models import Kind, clean_keyword

TEXT = "text/plain; charset=utf-8"
logger = logging.getLogger("callbacks")
# Seconds a sender should wait before retrying when not even the spool could keep a callback.
RETRY_AFTER = 60

# The last Text-4-Info reply this process answered for each keyword, so a callback spooled
# while the database is away still gets its campaign's text.
last_replies: dict[str, str] = {}


def reply_key(keyword: str) -> str:
    return clean_keyword(keyword).casefold()


def log_outcome(event: CallbackEvent, row, started: float, outcome: str = "") -> None:
    """One line per callback for operators: no token, no number, no message text."""
    facts = {
        "endpoint": event.endpoint.name if event.endpoint_id else None,
        "kind": event.kind,
        "campaign": row.campaign_id if row else None,
        "outcome": outcome or event.outcome,
        "duration_ms": round((time.perf_counter() - started) * 1000, 1),
    }
    logger.info("callback " + " ".join(f"{k}=%({k})s" for k in facts), facts, extra=facts)


@csrf_exempt
@never_cache
@require_http_methods(["GET", "POST"])
def receive(request, token: str, kind: str):
    started = time.perf_counter()
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
        response = spooled(event, token, unreadable)
        log_outcome(event, None, started, outcome="spooled")
        return response
    spool.drain_soon()
    dedupe.forget_expired_soon()
    log_outcome(event, row, started)

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
    except OSError as e:
        logger.error(
            "callback refused with 503: neither the database nor the spool took it (%s)", e
        )
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
