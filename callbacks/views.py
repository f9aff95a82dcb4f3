import logging
import time

from django.db import DatabaseError
from django.http import HttpResponse, HttpResponseBadRequest, HttpResponseNotFound
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from callbacks import dedupe, spool
from callbacks.models import CallbackEvent, Endpoint, Outcome, endpoint_for
from callbacks.params import read_params
from callbacks.parsing import InvalidCallback, parse
from callbacks.processing import StaleCatalog, process, reject
from callbacks.raw import raw_event
from campaigns import catalog
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


def find_endpoint(token: str) -> tuple[catalog.Lookups, Endpoint | None]:
    """The endpoint a token opens, and the lookups it was found in: the process's own, or
    those of the catalog's version now when an edit since made them stale."""
    found = catalog.latest()
    try:
        return found, endpoint_for(token, found)
    except StaleCatalog:
        found = catalog.lookups()
        try:
            return found, endpoint_for(token, found)
        except StaleCatalog:  # another edit a moment later: asked without the lookups
            return found, Endpoint.objects.for_token(token)


@csrf_exempt
@never_cache
@require_http_methods(["GET", "POST"])
def receive(request, token: str, kind: str):
    started = time.perf_counter()
    try:
        # The endpoint, campaign and choice as this process last knew them: the write checks
        # that the catalog has not changed since (process() raises StaleCatalog if it has).
        found, endpoint = find_endpoint(token)
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
        try:
            row = reject(event, unreadable, found) if unreadable else process(event, found)
        except StaleCatalog:
            # An edit since this process last looked: the endpoint as it is now.
            _found, endpoint = find_endpoint(token)
            if endpoint is None:
                return HttpResponseNotFound("Not found", content_type=TEXT)
            event.endpoint = endpoint
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
