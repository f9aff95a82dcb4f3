"""Time the admin pages and the streamed CSV export on a large data set.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/crm_bench DJANGO_LOCAL=1 \\
        .venv/bin/python bench/admin_pages.py [--runs 5] [--export-url /admin/...]

Fill the database first with `manage.py generate_demo_data`. Each page is requested once to
warm up, then --runs times; the table shows the median server time (the whole request, in
process, through the Django test client), the SQL time in it, and the query count. Pages that
do not exist yet (404, or a URL name nobody registered) are skipped with a note.

The export runs the product under gunicorn (one worker) and downloads the CSV with urllib
while sampling the worker's resident memory from /proc.
"""

import argparse
import os
import statistics
import sys
import threading
import time
import urllib.request
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings")
os.environ.setdefault("DJANGO_LOCAL", "1")

import django  # noqa: E402

django.setup()

from django.contrib.auth.models import User  # noqa: E402
from django.db import connection  # noqa: E402
from django.db.models import Count  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.urls import NoReverseMatch, reverse  # noqa: E402

from campaigns.models import Campaign, Kind, PollResponse, Segment  # noqa: E402
from subscribers.models import Subscriber  # noqa: E402
from tests.server import gunicorn  # noqa: E402

RESULTS = "admin:campaigns_campaign_results"


def pages() -> list[tuple[str, str, tuple, dict]]:
    """(label, URL name, args, query) of every page measured."""
    polls = list(
        Campaign.objects.filter(kind=Kind.POLL).annotate(n=Count("pollresponses")).order_by("-n")
    )
    poll, small = (polls[0], polls[-1]) if polls else (None, None)
    # The subscriber with the most votes: the heaviest subscriber page and mobile search.
    busiest = (
        PollResponse.objects.values("subscriber").annotate(n=Count("id")).order_by("-n").first()
    )
    subscriber = Subscriber.objects.get(pk=busiest["subscriber"]) if busiest else None
    last = PollResponse.objects.order_by("-received_at").values_list("received_at", flat=True)
    last_day = last.first().date() if last.exists() else date.today()
    month = {"since": f"{last_day - timedelta(days=29)}", "until": f"{last_day}"}
    two_days = {"since": f"{last_day - timedelta(days=1)}", "until": f"{last_day}"}
    mobile = subscriber.mobile if subscriber else "+12122000001"
    national = f"({mobile[2:5]}) {mobile[5:8]}-{mobile[8:]}"
    poll_id = (poll.pk,) if poll else (0,)
    # date_hierarchy drill-down: the last month, then the last day, of the data.
    drill_month = {"received_at__year": last_day.year, "received_at__month": last_day.month}
    drill_day = {**drill_month, "received_at__day": last_day.day}
    choice = poll.choices.order_by("order").first() if poll else None
    responses = "admin:campaigns_pollresponse_changelist"
    callbacks = "admin:callbacks_callbackevent_changelist"
    subscribers = "admin:crm_subscriber_changelist"
    zip_100 = {"field": "Zip", "field_starts": "100"}
    voted = {"took_part_in": poll_id[0], "voted": choice.pk if choice else 0}
    segment = segment_for(voted | zip_100)
    return [
        ("Subscribers, custom field Zip starts with 100", subscribers, (), zip_100),
        ("Subscribers, voted a choice", subscribers, (), voted),
        ("Subscribers, one segment (voted, zip 100xx)", subscribers, (), {"segment": segment}),
        ("Segments (20: the list's page)", "admin:campaigns_segment_changelist", (), {}),
        ("Poll responses, one segment", responses, (), {"segment": segment}),
        ("Results, every vote, one segment", RESULTS, poll_id, {"segment": segment}),
        (
            "Results, latest vote, one segment",
            RESULTS,
            poll_id,
            {"segment": segment, "counting": "latest"},
        ),
        ("Admin home (dashboard)", "admin:index", (), {}),
        ("Subscribers", "admin:crm_subscriber_changelist", (), {}),
        ("Subscribers, search by mobile", "admin:crm_subscriber_changelist", (), {"q": national}),
        (
            "Subscribers, search by digits",
            "admin:crm_subscriber_changelist",
            (),
            {"q": mobile[-7:]},
        ),
        (
            "Subscribers, one carrier",
            "admin:crm_subscriber_changelist",
            (),
            {"carrier": subscriber.carrier},
        ),
        (
            "Subscribers, drill-down to a month",
            "admin:crm_subscriber_changelist",
            (),
            {"last_seen_at__year": last_day.year, "last_seen_at__month": last_day.month},
        ),
        (
            "Subscribers, never seen (imported only)",
            "admin:crm_subscriber_changelist",
            (),
            {"last_seen_at__isnull": "True"},
        ),
        ("Subscriber page (busiest voter)", "admin:crm_subscriber_change", (subscriber.pk,), {}),
        ("Subscribers, import form", "admin:crm_subscriber_import", (), {}),
        ("Poll responses", responses, (), {}),
        ("Poll responses, one campaign", responses, (), {"campaign__id__exact": poll_id[0]}),
        (
            "Poll responses, one campaign and choice",
            responses,
            (),
            {"campaign__id__exact": poll_id[0], "choice": choice.pk if choice else 0},
        ),
        ("Poll responses, unmatched replies", responses, (), {"matched": "no"}),
        ("Poll responses, search by mobile", responses, (), {"q": national}),
        ("Poll responses, drill-down to a month", responses, (), drill_month),
        ("Poll responses, drill-down to a day", responses, (), drill_day),
        ("Info requests", "admin:campaigns_inforequest_changelist", (), {}),
        (
            "Info requests, search by mobile",
            "admin:campaigns_inforequest_changelist",
            (),
            {"q": national},
        ),
        (
            "Info requests, drill-down to a day",
            "admin:campaigns_inforequest_changelist",
            (),
            drill_day,
        ),
        ("Form submissions", "admin:campaigns_formsubmission_changelist", (), {}),
        (
            "Form submissions, drill-down to a day",
            "admin:campaigns_formsubmission_changelist",
            (),
            drill_day,
        ),
        ("Callback events", callbacks, (), {}),
        ("Callback events, failed", callbacks, (), {"outcome__exact": "failed"}),
        ("Callback events, search by mobile", callbacks, (), {"q": national}),
        ("Callback events, drill-down to a day", callbacks, (), drill_day),
        ("Campaigns", "admin:campaigns_campaign_changelist", (), {}),
        ("Campaigns, search", "admin:campaigns_campaign_changelist", (), {"q": poll.keyword}),
        ("Users (stock admin)", "admin:auth_user_changelist", (), {}),
        (f"Results, every vote ({poll.n} votes)", RESULTS, poll_id, {}),
        (f"Results, latest vote ({poll.n} votes)", RESULTS, poll_id, {"counting": "latest"}),
        (f"Results, every vote ({small.n} votes)", RESULTS, (small.pk,), {}),
        (f"Results, latest vote ({small.n} votes)", RESULTS, (small.pk,), {"counting": "latest"}),
        ("Results, every vote, 30 days", RESULTS, poll_id, month),
        (
            "Results, latest vote, 30 days",
            RESULTS,
            poll_id,
            {**month, "counting": "latest"},
        ),
        ("Results, every vote, 2 days", RESULTS, poll_id, two_days),
        (
            "Results CSV, latest vote",
            RESULTS,
            poll_id,
            {"format": "csv", "counting": "latest"},
        ),
    ]


def segment_for(query: dict) -> int:
    """A segment of that filter, among 20 (a page of the segments list), made once."""
    names = [f"bench {n}" for n in range(20)]
    for name in names[Segment.objects.filter(name__in=names).count() :]:
        Segment.objects.create(name=name, query=urlencode(query))
    return Segment.objects.get(name="bench 0").pk


def measure(client: Client, url: str, query: dict, runs: int) -> dict | None:
    response = client.get(url, query)
    if response.status_code == 404:
        return None
    assert response.status_code == 200, (url, response.status_code)
    timings, sql = [], []
    for _ in range(runs):
        with CaptureQueriesContext(connection) as ctx:
            started = time.perf_counter()
            response = client.get(url, query)
            if response.streaming:
                b"".join(response.streaming_content)
            timings.append(time.perf_counter() - started)
        sql.append(sum(float(q["time"]) for q in ctx.captured_queries))
    return {
        "ms": 1000 * statistics.median(timings),
        "sql_ms": 1000 * statistics.median(sql),
        "queries": len(ctx.captured_queries),
    }


def bench_pages(client: Client, runs: int, only: list[str] | None = None) -> list[str]:
    lines = ["| Page | Median ms | SQL ms | Queries |", "|---|---:|---:|---:|"]
    for label, name, args, query in pages():
        if only and not any(text.lower() in label.lower() for text in only):
            continue
        try:
            url = reverse(name, args=args)
        except NoReverseMatch:
            lines.append(f"| {label} | skipped: no URL `{name}` yet | | |")
            continue
        result = measure(client, url, query, runs)
        if result is None:
            lines.append(f"| {label} | skipped: 404 | | |")
            continue
        lines.append(
            f"| {label} | {result['ms']:.0f} | {result['sql_ms']:.0f} | {result['queries']} |"
        )
        print(lines[-1], flush=True)
    return lines


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def bench_export(client: Client, export_url: str) -> str:
    """Download the CSV from a one-worker gunicorn, sampling the worker's memory."""
    env = {**os.environ, "DJANGO_ALLOWED_HOSTS": "127.0.0.1"}
    with gunicorn(env, "--workers", "1", "--timeout", "600") as (server, base_url):
        url = f"{base_url}{export_url}"
        urllib.request.urlopen(f"{base_url}/admin/login/", timeout=30)  # the worker is up
        children = Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split()
        worker = int(children[0])
        idle, peak, done = rss_mb(worker), [0.0], threading.Event()

        def sample():
            while not done.is_set():
                peak[0] = max(peak[0], rss_mb(worker))
                time.sleep(0.05)

        threading.Thread(target=sample, daemon=True).start()
        request = urllib.request.Request(
            url, headers={"Cookie": f"sessionid={client.cookies['sessionid'].value}"}
        )
        started, size, lines = time.perf_counter(), 0, 0
        with urllib.request.urlopen(request, timeout=600) as response:
            while chunk := response.read(1 << 16):
                size += len(chunk)
                lines += chunk.count(b"\n")
        elapsed = time.perf_counter() - started
        done.set()
        return (
            f"CSV export `{export_url}`: {lines - 1} rows, {size / 1e6:.0f} MB "
            f"in {elapsed:.1f} s; gunicorn worker RSS {idle:.0f} MB idle, "
            f"{peak[0]:.0f} MB peak"
        )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--export-url",
        default="/admin/campaigns/pollresponse/export.csv",
        help="the CSV download to measure: by default every poll response, from the admin",
    )
    parser.add_argument("--no-export", action="store_true")
    parser.add_argument(
        "--only", action="append", help="only the pages whose label contains this (repeatable)"
    )
    options = parser.parse_args()

    user, _ = User.objects.get_or_create(
        username="bench", defaults={"is_staff": True, "is_superuser": True}
    )
    client = Client(SERVER_NAME="localhost")
    client.force_login(user)
    print(
        f"{connection.vendor}: {Subscriber.objects.count()} subscribers, "
        f"{PollResponse.objects.count()} poll responses.",
        flush=True,
    )
    lines = bench_pages(client, options.runs, options.only)
    print("\n".join(lines))
    if not options.no_export:
        print(bench_export(client, options.export_url))


if __name__ == "__main__":
    main()
