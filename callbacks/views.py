from django.core.exceptions import RequestDataTooBig
from django.core.handlers.wsgi import get_str_from_wsgi
from django.http import HttpResponse, HttpResponseBadRequest, HttpResponseNotFound
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from callbacks.models import CallbackEvent, Endpoint, Outcome
from callbacks.processing import process, reject
from campaigns.models import Kind

TEXT = "text/plain; charset=utf-8"


def raw_event(request, endpoint: Endpoint, kind: str) -> tuple[CallbackEvent, str]:
    """The request as an unsaved event, and a reason if its body could not even be read."""
    event = CallbackEvent(
        endpoint=endpoint,
        kind=kind,
        method=request.method,
        # As Django reads it for request.GET, so a reprocessed event parses the same way.
        query_string=get_str_from_wsgi(request.META, "QUERY_STRING", "").replace("\x00", "\ufffd"),
        content_type=request.META.get("CONTENT_TYPE", "")[:200],
        remote_addr=request.META.get("REMOTE_ADDR") or None,
    )
    try:
        event.body = request.body.decode("utf-8", errors="replace").replace("\x00", "\ufffd")
    except RequestDataTooBig:
        return event, "request body too large"
    return event, ""


@csrf_exempt
@never_cache
@require_http_methods(["GET", "POST"])
def receive(request, token: str, kind: str):
    try:
        endpoint = Endpoint.objects.get(token=token, enabled=True)
    except Endpoint.DoesNotExist:
        return HttpResponseNotFound("Not found", content_type=TEXT)

    event, unreadable = raw_event(request, endpoint, kind)
    row = reject(event, unreadable) if unreadable else process(event)

    if event.outcome == Outcome.REJECTED:
        return HttpResponseBadRequest(event.reason, content_type=TEXT)
    if kind == Kind.INFO:
        return HttpResponse(row.campaign.reply_text if row else "", content_type=TEXT)
    return HttpResponse("OK", content_type=TEXT)
