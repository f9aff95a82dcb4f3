"""Time the admin pages and the streamed CSV export on a large data set.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/crm_bench DJANGO_LOCAL=1 \\
        .venv/bin/python bench/admin_pages.py [--runs 5] [--export-url /admin/...]

Fill the database first with `manage.py generate_demo_data`. The admin pages, then the API's
list pages (rows "API: …": the first page as JSON, with the filters integrations use). Each
page is requested once to warm up, then --runs times; the table shows the median server time
(the whole request, in process, through the Django test client), the floor's (the stock Users
list, requested in turn with each run of the page, so a page is read against the load of its
own minute), their ratio, the SQL time, and the query count. Pages that do not exist yet
(404, or a URL name nobody registered) are skipped with a note. The table, with the load
average before and after, replaces the previous run's in docs/benchmarks-admin.md
(--no-write: print only).

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

DOC = ROOT / "docs" / "benchmarks-admin.md"
BEGIN, END = "<!-- bench/admin_pages.py: begin -->", "<!-- bench/admin_pages.py: end -->"
RESULTS = "admin:campaigns_campaign_results"
BREAKDOWN = "admin:campaigns_campaign_breakdown"
SEGMENT_COUNT = "admin:campaigns_segment_count"
BREAKDOWNS = (("carrier", "carrier"), ("state", "US state"), ("field:zip", "zip"), ("age", "age"))
# The yardstick, measured in turn with every page: the stock Users list, the cost every admin
# page pays (the theme, the middleware, the session, a template) with no code or data of ours.
FLOOR = "Floor: Users (stock admin)"
# A segment that rolls with time ("Past 7 days" on the subscriber list).
ROLLING = {"last_seen_at__within": "past_7_days"}


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
    # generate_demo_data gives 40% of the subscribers the fields first_name, zip 33602 and dob.
    zip_336 = {"field": "zip", "field_starts": "336"}
    voted = {"took_part_in": poll_id[0], "voted": choice.pk if choice else 0}
    segment, rolling = segment_for(voted | zip_336), segment_for(ROLLING, "rolling")
    by_segment = {"segment": segment}
    return [
        (FLOOR, "admin:auth_user_changelist", (), {}),
        ("Admin home (dashboard)", "admin:index", (), {}),
        ("Subscribers, custom field zip starts with 336", subscribers, (), zip_336),
        ("Subscribers, took part in a poll", subscribers, (), {"took_part_in": poll_id[0]}),
        ("Subscribers, voted a choice", subscribers, (), voted),
        ("Subscribers, one segment (voted, zip 336xx)", subscribers, (), by_segment),
        ("Subscribers, one segment (last seen past 7 days)", subscribers, (), {"segment": rolling}),
        ("Segments (20: the list's page)", "admin:campaigns_segment_changelist", (), {}),
        ("Segments list, one row's count (fetched by the page)", SEGMENT_COUNT, (segment,), {}),
        ("Segments list, one row's count (rolling)", SEGMENT_COUNT, (rolling,), {}),
        ("Segment page", "admin:campaigns_segment_change", (segment,), {}),
        (
            "Save as segment (the add form)",
            "admin:campaigns_segment_add",
            (),
            {"query": urlencode(voted | zip_336)},
        ),
        ("Poll responses, one segment", responses, (), by_segment),
        ("Info requests, one segment", "admin:campaigns_inforequest_changelist", (), by_segment),
        (
            "Form submissions, one segment",
            "admin:campaigns_formsubmission_changelist",
            (),
            by_segment,
        ),
        ("Results, every vote, one segment", RESULTS, poll_id, by_segment),
        (
            "Results, latest vote, one segment",
            RESULTS,
            poll_id,
            {**by_segment, "counting": "latest"},
        ),
        ("Results, live counts (JSON)", RESULTS, poll_id, {"format": "json"}),
        *(
            (f"Breakdown by {label} ({poll.n} votes)", BREAKDOWN, (*poll_id, key), {})
            for key, label in BREAKDOWNS
        ),
        ("Breakdown by carrier, CSV", BREAKDOWN, (*poll_id, "carrier"), {"format": "csv"}),
        ("Breakdown by carrier, one segment", BREAKDOWN, (*poll_id, "carrier"), by_segment),
        ("Callback events, one campaign", callbacks, (), {"campaign": poll_id[0]}),
        ("Callback events, one carrier", callbacks, (), {"carrier": subscriber.carrier}),
        ("Callback events, one country", callbacks, (), {"country": subscriber.country}),
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
        *api_pages(poll, subscriber, last_day),
    ]


def api_pages(poll, subscriber, last_day: date) -> list[tuple[str, str, tuple, dict]]:
    """The API's list pages (its first page, JSON, as an integration reads it), with the
    filters integrations use; the session's login is accepted as a token is."""
    carrier = {"carrier": subscriber.carrier if subscriber else ""}
    mobile = {"mobile": subscriber.mobile if subscriber else "+12122000001"}
    campaign = {"campaign": poll.pk if poll else 0}
    last = {"received_after": f"{last_day}T00:00:00Z"}
    keyword = {"keyword": poll.keyword if poll else ""}
    lists = [
        ("subscribers", "subscriber", [("one carrier", carrier), ("by mobile", mobile)]),
        ("campaigns", "campaign", [("polls", {"kind": "poll"})]),
        ("poll choices", "pollchoice", [("one campaign", campaign)]),
        (
            "poll responses",
            "pollresponse",
            [
                ("one campaign", campaign),
                ("keyword, since the last day", keyword | last),
                ("one carrier", carrier),
                ("by mobile", mobile),
            ],
        ),
        ("info requests", "inforequest", [("since the last day", last)]),
        ("form submissions", "formsubmission", [("since the last day", last)]),
        (
            "callbacks",
            "callbackevent",
            [("failed", {"outcome": "failed"}), ("polls", {"kind": "poll"})],
        ),
    ]
    found = []
    for label, name, filtered in lists:
        found.append((f"API: {label}", f"api:{name}-list", (), {}))
        found += [(f"API: {label}, {what}", f"api:{name}-list", (), q) for what, q in filtered]
        found.append((f"API: {label}, changes feed", f"api:{name}-changes", (), {}))
    return [
        *found,
        ("API: custom fields", "api:custom-field-list", (), {}),
        ("API: deletions", "api:deletion-list", (), {}),
        ("API: webhooks", "api:subscription-list", (), {}),
        (
            f"API: results, latest vote ({poll.n if poll else 0} votes)",
            "api:campaign-results",
            (poll.pk if poll else 0,),
            {"counting": "latest"},
        ),
    ]


def segment_for(query: dict, prefix: str = "bench") -> int:
    """A segment of that filter, among 20 (a page of the segments list), made once."""
    names = [f"{prefix} {n}" for n in range(20 if prefix == "bench" else 1)]
    Segment.objects.filter(name__in=names).exclude(query=urlencode(query)).delete()
    for name in names[Segment.objects.filter(name__in=names).count() :]:
        Segment.objects.create(name=name, query=urlencode(query))
    return Segment.objects.get(name=f"{prefix} 0").pk


def timed(client: Client, url: str, query: dict) -> tuple[float, float, int]:
    """(seconds, SQL seconds, queries) of one request, its streamed body read."""
    with CaptureQueriesContext(connection) as ctx:
        started = time.perf_counter()
        response = client.get(url, query)
        if response.streaming:
            b"".join(response.streaming_content)
        seconds = time.perf_counter() - started
    return seconds, sum(float(q["time"]) for q in ctx.captured_queries), len(ctx.captured_queries)


def measure(client: Client, url: str, query: dict, runs: int, floor: str) -> dict | None:
    """The page's medians, and the floor's measured in turn with it: on a shared machine the
    load moves within a run, so each page is read against the floor of its own minute."""
    response = client.get(url, query)
    if response.status_code == 404:
        return None
    assert response.status_code == 200, (url, response.status_code)
    page, floors = [], []
    for _ in range(runs):
        page.append(timed(client, url, query))
        floors.append(timed(client, floor, {})[0])
    return {
        "ms": 1000 * statistics.median(t for t, _, _ in page),
        "sql_ms": 1000 * statistics.median(sql for _, sql, _ in page),
        "queries": page[-1][2],
        "floor_ms": 1000 * statistics.median(floors),
    }


def bench_pages(client: Client, runs: int, only: list[str] | None = None) -> list[str]:
    """The table: each page's median, over the floor's beside it, its SQL and its queries."""
    lines = [
        "| Page | Median ms | Floor ms | × floor | SQL ms | Queries |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    floor = reverse("admin:auth_user_changelist")
    for label, name, args, query in pages():
        if only and label != FLOOR and not any(t.lower() in label.lower() for t in only):
            continue
        try:
            url = reverse(name, args=args)
        except NoReverseMatch:
            lines.append(f"| {label} | skipped: no URL `{name}` yet | | | | |")
            continue
        result = measure(client, url, query, runs, floor)
        if result is None:
            lines.append(f"| {label} | skipped: 404 | | | | |")
            continue
        lines.append(
            f"| {label} | {result['ms']:.0f} | {result['floor_ms']:.0f} "
            f"| {result['ms'] / result['floor_ms']:.1f} "
            f"| {result['sql_ms']:.0f} | {result['queries']} |"
        )
        print(lines[-1], flush=True)
    return lines


def write_section(doc: Path, text: str) -> None:
    """Put the run's table in the document between its markers (at the top the first time)."""
    current = doc.read_text() if doc.exists() else "# Benchmarks\n"
    section = f"{BEGIN}\n{text}\n{END}"
    if BEGIN in current and END in current:
        head, rest = current.split(BEGIN, 1)
        current = head + section + rest.split(END, 1)[1]
    else:
        title, _, rest = current.partition("\n")
        current = f"{title}\n\n## Latest run of bench/admin_pages.py\n\n{section}\n{rest}"
    doc.write_text(current)


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
        "--no-write", action="store_true", help=f"print only; do not update {DOC.name}"
    )
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
    before = os.getloadavg()
    lines = bench_pages(client, options.runs, options.only)
    after = os.getloadavg()
    report = [
        f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: "
        f"`bench/admin_pages.py {' '.join(sys.argv[1:])}` on {connection.vendor}, "
        f"{Subscriber.objects.count():,} subscribers, {PollResponse.objects.count():,} poll "
        f"responses; load average {' / '.join(f'{x:.1f}' for x in before)} before and "
        f"{' / '.join(f'{x:.1f}' for x in after)} after (1, 5, 15 min). Median of "
        f"{options.runs} runs after one to warm up; × floor is the page's median over the "
        "floor's, the stock Users list requested in turn with the page's runs.",
        "",
        *lines,
    ]
    print("\n".join(report))
    if not options.no_write:
        write_section(DOC, "\n".join(report))
        print(f"Written to {DOC.relative_to(ROOT)}.")
    if not options.no_export:
        print(bench_export(client, options.export_url))


if __name__ == "__main__":
    main()
