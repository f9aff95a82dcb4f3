"""The poll results page of the admin.

Placeholder: the full page (counting choice, date range, chart, CSV) is built on another
branch and replaces this module and its template on merge.
"""

from django.contrib import admin
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse

from campaigns.models import Campaign
from campaigns.results import poll_results


def poll_results_view(request, object_id):
    campaign = get_object_or_404(Campaign, pk=object_id)
    context = {
        **admin.site.each_context(request),
        "title": f"Results: {campaign}",
        "opts": Campaign._meta,
        "original": campaign,
        "results": poll_results(campaign),
    }
    return TemplateResponse(request, "admin/campaigns/campaign/results.html", context)
