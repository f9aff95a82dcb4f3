"""Yardsticks for bench/ingest.py, served only when settings.BENCH_VIEWS is on.

A callback's cost is read as a ratio of these, measured in the same run on the same machine:
`bare` is Django with no database, `floor` is the least a callback must do, one INSERT of
its raw event in its own transaction, and the answer.
"""

from django.http import HttpResponse
from django.urls import path
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt

from callbacks.models import CallbackEvent, Outcome

TEXT = "text/plain; charset=utf-8"


@csrf_exempt
@never_cache
def bare(request):
    return HttpResponse("OK", content_type=TEXT)


@csrf_exempt
@never_cache
def floor(request, endpoint_id: int):
    CallbackEvent.objects.create(
        endpoint_id=endpoint_id,
        kind="poll",
        method=request.method,
        query_string=request.META.get("QUERY_STRING", ""),
        outcome=Outcome.PROCESSED,
    )
    return HttpResponse("OK", content_type=TEXT)


urlpatterns = [
    path("bare/", bare),
    path("floor/<int:endpoint_id>/", floor),
]
