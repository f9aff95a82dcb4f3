from django.contrib.admin.views.decorators import staff_member_required
from django.urls import path

from campaigns.models import PollResponse
from crm.exports import csv_response
from crm.urls import urlpatterns as product_urls

COLUMNS = ("received_at", "subscriber__mobile", "campaign__keyword", "reply", "label")


@staff_member_required
def poll_responses_csv(request):
    rows = (
        PollResponse.objects.order_by("received_at", "id")
        .values_list(*COLUMNS, "choice__label")
        .iterator(chunk_size=2000)
    )
    return csv_response("poll-responses.csv", (*COLUMNS, "choice"), rows)


urlpatterns = [path("bench/poll-responses.csv", poll_responses_csv), *product_urls]
