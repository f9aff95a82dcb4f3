"""The poll results page of the admin: votes per choice, votes over time, and its CSV.

The counting itself lives in campaigns/results.py; this module only reads the query
string, draws the bars and writes the CSV.
"""

import json
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.core.validators import MaxValueValidator, MinValueValidator
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.shortcuts import render
from django.utils import timezone

from campaigns.breakdowns import Breakdown, breakdown, dimension, dimensions
from campaigns.models import Campaign, Kind, Segment
from campaigns.results import (
    ChoiceResult,
    Counting,
    PollResults,
    Timeline,
    poll_results,
    results_page,
)
from campaigns.segments import read_once, segment_subscribers
from lib.exports import csv_response

DATE_BOUNDS = [MinValueValidator(date(1900, 1, 1)), MaxValueValidator(date(9999, 12, 30))]


class ResultsForm(forms.Form):
    counting = forms.ChoiceField(choices=Counting.choices, required=False)
    # Bounded so the day after `until` (the exclusive end) is still a date.
    since = forms.DateField(
        required=False, help_text="From the start of this day.", validators=DATE_BOUNDS
    )
    until = forms.DateField(
        required=False, help_text="To the end of this day.", validators=DATE_BOUNDS
    )
    segment = forms.ModelChoiceField(
        Segment.objects.order_by("name", "id"),
        required=False,
        empty_label="Every voter",
        help_text="Only the votes of the segment's subscribers.",
    )

    def __init__(self, data, request: HttpRequest):
        super().__init__(data)
        self.request = request
        # Segments are for staff who may see them; for others the field is not there.
        if not request.user.has_perm("campaigns.view_segment"):
            del self.fields["segment"]

    def clean(self):
        data = super().clean()
        if data.get("since") and data.get("until") and data["until"] < data["since"]:
            raise forms.ValidationError("The end date is before the start date.")
        data["counting"] = data.get("counting") or Counting.ALL
        segment = data.get("segment")
        data["subscribers"] = None
        if segment is not None:
            selection = segment_subscribers(self.request, segment)
            if selection.problem:
                self.add_error("segment", f"“{segment}” selects nobody. {selection.problem}")
            data["subscribers"] = read_once(selection.subscribers)
        return data

    def time_range(self) -> tuple[datetime | None, datetime | None]:
        """Whole days in the site's time zone: `until` includes its own day."""
        since, until = self.cleaned_data["since"], self.cleaned_data["until"]
        tz = timezone.get_current_timezone()
        return (
            datetime.combine(since, time.min, tz) if since else None,
            datetime.combine(until + timedelta(days=1), time.min, tz) if until else None,
        )


@dataclass(frozen=True)
class ChoiceRow:
    result: ChoiceResult
    share_text: str
    width: str  # of the bar, in percent of the track


def choice_rows(results: list[ChoiceResult]) -> list[ChoiceRow]:
    return [ChoiceRow(r, f"{100 * r.share:.1f}%", f"{100 * r.share:.2f}") for r in results]


def results_csv(results: PollResults, days: tuple) -> HttpResponse:
    """The table of the page as CSV; `days` are the chosen dates, for the file name."""

    def rows():
        for r in results.choices:
            yield (
                r.choice.reply,
                r.choice.label,
                "from a callback" if r.choice.from_callback else "configured",
                r.votes,
                r.voters,
                f"{100 * r.share:.1f}",
                results.counting,
            )

    span = "-".join(f"{d:%Y%m%d}" for d in days if d)
    name = f"poll-{results.campaign.pk}-{results.counting}{'-' + span if span else ''}.csv"
    header = ("Reply", "Choice", "Set up", "Votes", "Voters", "Share %", "Counting")
    return csv_response(name, header, rows())


COLORS = ("#9333ea", "#0ea5e9", "#f59e0b", "#10b981", "#ef4444", "#6366f1", "#ec4899", "#84cc16")


def choice_name(choice) -> str:
    """ "A: Tampa"; a reply made from a callback shows upper-case, however it was typed."""
    reply = choice.reply.upper() if choice.from_callback else choice.reply
    return f"{reply}: {choice.label}"


def choice_color(n: int) -> str:
    return COLORS[n % len(COLORS)]


def period_label(moment: datetime, unit: str) -> str:
    local = timezone.localtime(moment)
    return f"{local:%b %-d %H:%M}" if unit == "hour" else f"{local:%b %-d}"


def timeline_chart(timeline: Timeline, choices: list) -> str:
    """Chart.js data for Unfold's chart: one line per choice, labels in the site's zone."""
    return json.dumps(
        {
            "labels": [period_label(p, timeline.unit) for p in timeline.periods],
            "datasets": [
                {
                    "label": choice_name(choice),
                    "data": timeline.votes.get(choice.pk, [0] * len(timeline.periods)),
                    "borderColor": choice_color(n),
                    "backgroundColor": choice_color(n),
                }
                for n, choice in enumerate(choices)
            ],
        }
    )


LINE_OPTIONS = json.dumps(
    {
        "animation": False,
        "responsive": True,
        "maintainAspectRatio": False,
        "elements": {"point": {"radius": 2}, "line": {"borderWidth": 2, "tension": 0.2}},
        "interaction": {"mode": "index", "intersect": False},
        "plugins": {"legend": {"display": True, "position": "bottom"}},
        "scales": {
            "x": {"ticks": {"autoSkip": True, "maxRotation": 0}},
            "y": {
                "beginAtZero": True,
                "ticks": {"precision": 0},
                "title": {"display": True, "text": "votes"},
            },
        },
    }
)
STACKED_OPTIONS = json.dumps(
    {
        "animation": False,
        "responsive": True,
        "maintainAspectRatio": False,
        "indexAxis": "y",
        "plugins": {"legend": {"display": False}},
        "scales": {
            "x": {"stacked": True, "beginAtZero": True, "ticks": {"precision": 0}},
            "y": {"stacked": True},
        },
    }
)


def campaign_or_404(request: HttpRequest, object_id: str) -> Campaign:
    if not request.user.has_perm("campaigns.view_campaign"):
        raise PermissionDenied
    try:
        return Campaign.objects.get(pk=int(object_id), kind=Kind.POLL)
    except (ValueError, Campaign.DoesNotExist):
        raise Http404("No such poll.") from None


def poll_results_view(request: HttpRequest, object_id: str) -> HttpResponse:
    campaign = campaign_or_404(request, object_id)
    form = ResultsForm(request.GET, request)
    wants = request.GET.get("format")
    context = {
        **admin.site.each_context(request),
        "title": f"Results: {campaign}",
        "subtitle": None,
        "opts": Campaign._meta,
        "campaign": campaign,
        "object": campaign,  # Unfold's header links back to it
        "form": form,
        "results": None,
        "time_zone": timezone.get_current_timezone_name(),
    }
    if not form.is_valid():
        if wants in ("csv", "json"):
            return HttpResponseBadRequest(form.errors.as_text(), content_type="text/plain")
        return render(request, "admin/campaigns/campaign/results.html", context)
    counting, subscribers = form.cleaned_data["counting"], form.cleaned_data["subscribers"]
    since, until = form.time_range()
    if wants in ("csv", "json"):
        results = poll_results(campaign, counting, since, until, subscribers=subscribers)
        if wants == "csv":
            return results_csv(results, (form.cleaned_data["since"], form.cleaned_data["until"]))
        return live_counts(results)
    page = results_page(campaign, counting, since, until, subscribers=subscribers)
    choices = [r.choice for r in page.results.choices]
    context |= {
        "results": page.results,
        "since_day": form.cleaned_data.get("since"),
        "until_day": form.cleaned_data.get("until"),
        "counting_label": dict(Counting.choices).get(page.results.counting),
        "segment": form.cleaned_data.get("segment"),
        "rows": choice_rows(page.results.choices),
        "timeline": page.timeline,
        "timeline_chart": timeline_chart(page.timeline, choices),
        "line_options": LINE_OPTIONS,
        "new_voters": page.new,
        "returning_voters": page.returning,
        "dimensions": dimensions(campaign),
        "csv_query": _with_format(request, "csv"),
        "json_query": _with_format(request, "json"),
        "query": request.GET.urlencode(),
    }
    return render(request, "admin/campaigns/campaign/results.html", context)


def live_counts(results: PollResults) -> JsonResponse:
    """The figures the live mode refreshes, without the page around them."""
    return JsonResponse(
        {
            "votes": results.votes,
            "voters": results.voters,
            "choices": {
                str(r.choice.pk): {
                    "votes": r.votes,
                    "voters": r.voters,
                    "share": f"{100 * r.share:.1f}%",
                }
                for r in results.choices
            },
        }
    )


def breakdown_view(request: HttpRequest, object_id: str, key: str) -> HttpResponse:
    """One breakdown of the poll: a table and a small chart (an HTML fragment), or its CSV."""
    campaign = campaign_or_404(request, object_id)
    form = ResultsForm(request.GET, request)
    dim = dimension(campaign, key)
    if dim is None:
        raise Http404("No such breakdown for this poll.")
    if not form.is_valid():
        return HttpResponseBadRequest(form.errors.as_text(), content_type="text/plain")
    since, until = form.time_range()
    found = breakdown(
        campaign,
        dim,
        form.cleaned_data["counting"],
        since,
        until,
        subscribers=form.cleaned_data["subscribers"],
    )
    if request.GET.get("format") == "csv":
        return breakdown_csv(campaign, found)
    chart = {
        "labels": [row.value for row in found.rows],
        "datasets": [
            {
                "label": choice_name(choice),
                "data": [row.votes.get(choice.pk, 0) for row in found.rows],
                "backgroundColor": choice_color(n),
            }
            for n, choice in enumerate(found.choices)
        ],
    }
    table = [(row, [row.votes.get(c.pk, 0) for c in found.choices]) for row in found.rows]
    context = {
        "breakdown": found,
        "table": table,
        "chart": json.dumps(chart),
        "chart_options": STACKED_OPTIONS,
        "chart_height": 60 + 22 * len(found.rows),
        "csv_query": _with_format(request, "csv"),
        "campaign": campaign,
        "key": key,
    }
    return render(request, "admin/campaigns/campaign/breakdown.html", context)


def breakdown_csv(campaign: Campaign, found: Breakdown) -> HttpResponse:
    header = (found.dimension.label, *(choice_name(c) for c in found.choices), "votes")
    rows = (
        (row.value, *(row.votes.get(c.pk, 0) for c in found.choices), row.total)
        for row in found.rows
    )
    slug = found.dimension.key.replace(":", "-").lower()
    return csv_response(f"poll-{campaign.pk}-by-{slug}.csv", header, rows)


def _with_format(request: HttpRequest, fmt: str) -> str:
    query = request.GET.copy()
    query["format"] = fmt
    return query.urlencode()
