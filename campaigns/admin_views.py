"""The poll results page of the admin: votes per choice, votes over time, and its CSV.

The counting itself lives in campaigns/results.py; this module only reads the query
string, draws the bars and writes the CSV.
"""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.core.validators import MaxValueValidator, MinValueValidator
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import render
from django.utils import timezone

from campaigns.models import Campaign, Kind
from campaigns.results import ChoiceResult, Counting, PollResults, poll_results, votes_over_time
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

    def clean(self):
        data = super().clean()
        if data.get("since") and data.get("until") and data["until"] < data["since"]:
            raise forms.ValidationError("The end date is before the start date.")
        data["counting"] = data.get("counting") or Counting.ALL
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
class Bar:
    period: datetime
    votes: int
    x: int
    y: float
    height: float


CHART_HEIGHT = 100


def time_bars(periods: list[dict]) -> tuple[list[Bar], str]:
    """One SVG bar per hour or day, empty ones included so gaps show as gaps."""
    if not periods:
        return [], "day"
    counts = {row["period"]: row["votes"] for row in periods}
    first, last = periods[0]["period"], periods[-1]["period"]
    hourly = any(p.hour or p.minute for p in counts) or (last - first) < timedelta(days=1)
    step = timedelta(hours=1) if hourly else timedelta(days=1)
    top = max(counts.values())
    bars, moment = [], first
    while moment <= last:
        votes = counts.get(moment, 0)
        height = CHART_HEIGHT * votes / top
        bars.append(Bar(moment, votes, len(bars), CHART_HEIGHT - height, height))
        moment += step
    return bars, "hour" if hourly else "day"


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
        for matched, group in ((True, results.configured), (False, results.unmatched)):
            for r in group:
                yield (
                    r.choice.reply,
                    r.choice.label,
                    "yes" if matched else "no",
                    r.votes,
                    r.voters,
                    f"{100 * r.share:.1f}",
                    results.counting,
                )

    span = "-".join(f"{d:%Y%m%d}" for d in days if d)
    name = f"poll-{results.campaign.pk}-{results.counting}{'-' + span if span else ''}.csv"
    header = ("reply", "label", "configured choice", "votes", "voters", "share %", "counting")
    return csv_response(name, header, rows())


def poll_results_view(request: HttpRequest, object_id: str) -> HttpResponse:
    if not request.user.has_perm("campaigns.view_campaign"):
        raise PermissionDenied
    try:
        campaign = Campaign.objects.get(pk=int(object_id), kind=Kind.POLL)
    except (ValueError, Campaign.DoesNotExist):
        raise Http404("No such poll.") from None

    form = ResultsForm(request.GET)
    if not form.is_valid():
        if request.GET.get("format") == "csv":
            return HttpResponseBadRequest(form.errors.as_text(), content_type="text/plain")
        results = bars = None
        unit = "day"
    else:
        counting = form.cleaned_data["counting"]
        since, until = form.time_range()
        results = poll_results(campaign, counting, since, until)
        if request.GET.get("format") == "csv":
            return results_csv(results, (form.cleaned_data["since"], form.cleaned_data["until"]))
        bars, unit = time_bars(votes_over_time(campaign, counting, since, until))

    context = {
        **admin.site.each_context(request),
        "title": f"Results: {campaign}",
        "subtitle": None,
        "opts": Campaign._meta,
        "campaign": campaign,
        "form": form,
        "since_day": form.cleaned_data.get("since") if results else None,
        "until_day": form.cleaned_data.get("until") if results else None,
        "results": results,
        "counting_label": dict(Counting.choices).get(results.counting) if results else "",
        "configured": choice_rows(results.configured) if results else [],
        "unmatched": choice_rows(results.unmatched) if results else [],
        "bars": bars,
        "peak": max((bar.votes for bar in bars), default=0) if bars else 0,
        "unit": unit,
        "chart_height": CHART_HEIGHT,
        "csv_query": _with_format(request, "csv"),
    }
    return render(request, "admin/campaigns/campaign/results.html", context)


def _with_format(request: HttpRequest, fmt: str) -> str:
    query = request.GET.copy()
    query["format"] = fmt
    return query.urlencode()
