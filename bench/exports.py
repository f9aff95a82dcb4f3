"""How fast a million poll responses leave as CSV, next to the database's own COPY.

    export DATABASE_URL=postgres://postgres@127.0.0.1:5432/crm_bench_exports
    .venv/bin/python bench/exports.py
    DATABASE_URL=sqlite:////tmp/crm_bench_exports.sqlite3 .venv/bin/python bench/exports.py

Fills the database once (kept for later runs) with `--responses` poll votes from 200,000
subscribers (four in five with custom fields), each vote with its raw callback, in SQL
(INSERT … SELECT over a series: the data is not the point here, the export is). Then, in
one run, with the admin's times in America/New_York:
- the floor: on PostgreSQL, `COPY` of the export's own join, ordered, with no formatting,
  read through psycopg and thrown away; on SQLite, the same SELECT read by sqlite3; read
  before the downloads and again after, the mean taken (the load drifts on a shared machine);
  the API's CSV against a floor of its own columns and order;
- the admin's CSV export of every poll response (plain and "for Excel") and the API's
  (`?format=csv`), downloaded from gunicorn (one worker, threads as configured, production
  settings) while its memory is sampled;
- the Python writer alone (lib.exports.csv_lines over table()), in process;
- the same for the subscribers, whose custom fields become columns, against their floor.
Prints Markdown.
"""

import argparse
import os
import secrets
import sys
import threading
import time
import urllib.error
import urllib.request
from itertools import islice
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SECRET = secrets.token_urlsafe(50)
os.environ.update(
    DJANGO_SETTINGS_MODULE="crm.settings",
    DJANGO_LOCAL="0",
    DJANGO_SECRET_KEY=SECRET,
    DJANGO_ALLOWED_HOSTS="127.0.0.1,testserver",
    DJANGO_SECURE_SSL_REDIRECT="0",
    DJANGO_LOG_LEVEL="WARNING",
    API_RATE_LIMIT="100000/min",
    # Admin exports write times in the configured zone: one with daylight saving time.
    DJANGO_TIME_ZONE="America/New_York",
)

import django  # noqa: E402

django.setup()

from django.contrib.auth.models import User  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.test import Client  # noqa: E402
from rest_framework.authtoken.models import Token  # noqa: E402

from callbacks.models import CallbackEvent, Endpoint  # noqa: E402
from campaigns.admin import PollResponseAdmin  # noqa: E402
from campaigns.api import PollResponseViewSet  # noqa: E402
from campaigns.models import Campaign, Kind, PollChoice, PollResponse  # noqa: E402
from crm.management.commands.generate_demo_data import (  # noqa: E402
    BulkLoader,
    refresh_derived_data,
)
from lib.exports import csv_lines, table  # noqa: E402
from subscribers.models import SUBSCRIBER_COLUMNS, Subscriber  # noqa: E402
from tests.server import gunicorn  # noqa: E402

SUBSCRIBERS = 200_000

# Portable SQL over a numbers table n(i): PostgreSQL's generate_series, SQLite's recursive WITH.
NUMBERS = {
    "postgresql": "SELECT generate_series(1, {n}) AS i",
    "sqlite": "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {n}) "
    "SELECT i FROM s",
}
FILL = [
    "INSERT INTO crm_subscriber (id, mobile, country, carrier, fields, first_seen_at, "
    "last_seen_at, updated_at, change_seq) SELECT i, '+1212' || (2000000 + i), 'US', "
    "CASE i % 4 WHEN 0 THEN 'VERIZONUS' WHEN 1 THEN 'AT&T' WHEN 2 THEN '' ELSE 'T-Mobile' END, "
    # Four in five have custom fields, as the subscribers' export shows them as columns.
    'CAST(CASE WHEN i % 5 = 0 THEN \'{{}}\' ELSE \'{{"first_name": "Ana", "zip": "0\' || '
    "(1000 + i % 9000) || '\"}}' END AS {json}), {now}, {now}, {now}, 0 FROM ({subscribers}) AS n",
    "INSERT INTO callbacks_callbackevent (id, endpoint_id, kind, method, query_string, body, "
    "content_type, received_at, outcome, reason, change_seq) SELECT i, 1, 'poll', 'GET', "
    "'mobile=212' || (2000000 + i % {s}) || '&key=FB1&reply=A', '', '', {at}, 'processed', '', 0 "
    "FROM ({responses}) AS n",
    "INSERT INTO campaigns_pollresponse (id, campaign_id, subscriber_id, callback_id, "
    "received_at, extras, choice_id, reply, label, change_seq) "
    "SELECT i, 1, 1 + i % {s}, i, {at}, '{{}}', 1 + i % 4, "
    "CASE i % 4 WHEN 0 THEN 'A' WHEN 1 THEN 'b' WHEN 2 THEN 'C' ELSE 'D' END, "
    "'Tampa', 0 FROM ({responses}) AS n",
]
# A time per row, spread over 60 days, with and without fractions of a second.
AT = {
    "postgresql": "now() - (i * 5.1 || ' seconds')::interval",
    "sqlite": "strftime('%Y-%m-%d %H:%M:%f', 'now', '-' || (i * 5.1) || ' seconds')",
}


def fill(responses: int) -> None:
    if PollResponse.objects.count() == responses:
        return
    if PollResponse.objects.exists():
        sys.exit("the database holds another data set: drop it first")
    vendor = connection.vendor
    words = {
        "true": "true" if vendor == "postgresql" else "1",
        "false": "false" if vendor == "postgresql" else "0",
        "now": "now()" if vendor == "postgresql" else "strftime('%Y-%m-%d %H:%M:%f', 'now')",
        "at": AT[vendor],
        "json": "jsonb" if vendor == "postgresql" else "text",
        "s": SUBSCRIBERS,
        "subscribers": NUMBERS[vendor].format(n=SUBSCRIBERS),
        "responses": NUMBERS[vendor].format(n=responses),
    }
    started = time.perf_counter()
    # The few rows the product's own code makes (derived columns, triggers), then the many.
    endpoint = Endpoint.objects.create(id=1, name="bench", token="bench-export-token")
    campaign = Campaign.objects.create(
        id=1, shortcode="84700", keyword="FB1", kind=Kind.POLL, name='Best, "city"'
    )
    for n, label in enumerate(["Tampa", "Orlando", "=Miami", "Jacksonville"]):
        PollChoice.objects.create(
            id=n + 1, campaign=campaign, reply=chr(65 + n), label=label, order=n
        )
    assert endpoint.pk == 1
    # Triggers and indexes off for the load, as generate_demo_data loads (the poll counters'
    # triggers would count a million votes one statement at a time), counters recounted after.
    with transaction.atomic():
        load = BulkLoader((Subscriber, CallbackEvent, PollResponse))
        with connection.cursor() as cursor:
            for statement in FILL:
                cursor.execute(statement.format(**words))
        load.done()
        refresh_derived_data()
    with connection.cursor() as cursor:
        if vendor == "postgresql":
            for table_name in (
                "callbacks_endpoint",
                "campaigns_campaign",
                "campaigns_pollchoice",
                "callbacks_callbackevent",
                "campaigns_pollresponse",
                "crm_subscriber",
            ):
                cursor.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table_name}', 'id'), "
                    f"(SELECT max(id) FROM {table_name}))"
                )
            cursor.execute("VACUUM ANALYZE")
    print(f"<!-- filled in {time.perf_counter() - started:.0f} s -->", flush=True)


def export_queryset():
    # As the admin's changelist orders it.
    return PollResponse.objects.order_by("-received_at", "-id")


def api_queryset():
    # As the API orders its CSV (its cursor's order).
    return PollResponse.objects.order_by(*PollResponseViewSet.cursor_ordering)


def floor(queryset, columns, json_field=None) -> tuple[str, float, int]:
    """The database alone: the export's own query, ordered, read and thrown away."""
    header, rows = table(queryset, columns, json_field)
    sql, params = rows.queryset.values_list(*rows.paths).query.sql_with_params()
    started = time.perf_counter()
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY ({sql}) TO STDOUT WITH (FORMAT csv)", params) as copy:
                count = sum(1 for _ in copy)
            what = "PostgreSQL `COPY (SELECT …) TO STDOUT`, no formatting"
        else:
            cursor.execute(sql, params)
            count = 0
            while batch := cursor.fetchmany(10_000):
                count += len(batch)
            what = "SQLite: the same SELECT, rows fetched raw"
    return what, time.perf_counter() - started, count


def python_writer(responses: int, sample: int = 20_000) -> float:
    """The previous path, Python writing every cell: the first row (the query's own start,
    its sort, counted once), then `sample` rows timed and scaled to all of them (at ~10 µs a
    row it would otherwise dominate the run)."""
    header, rows = table(export_queryset(), PollResponseAdmin.export_columns)
    sample = min(sample, responses)
    lines = csv_lines(header, islice(rows, sample))
    started = time.perf_counter()
    next(lines), next(lines)  # the header, the first row
    first = time.perf_counter() - started
    started = time.perf_counter()
    count = 1 + sum(1 for _ in lines)
    assert count == sample, count
    return first + (time.perf_counter() - started) * (responses - 1) / (sample - 1)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def download(base_url: str, path: str, headers: dict, worker: int) -> tuple[int, float, float]:
    """Rows, seconds, peak RSS (MB) of the worker while it sends the download."""
    peak, done = [rss_mb(worker)], threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], rss_mb(worker))
            time.sleep(0.05)

    threading.Thread(target=sample, daemon=True).start()
    request = urllib.request.Request(base_url + path, headers=headers)
    started, lines = time.perf_counter(), 0
    with urllib.request.urlopen(request, timeout=900) as response:
        assert response.status == 200
        while chunk := response.read(1 << 16):
            lines += chunk.count(b"\n")  # no cell holds a newline here
    elapsed = time.perf_counter() - started
    done.set()
    return lines - 1, elapsed, peak[0]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--responses", type=int, default=1_000_000)
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    fill(args.responses)
    n = args.responses

    user, _ = User.objects.get_or_create(
        username="bench-export", defaults={"is_staff": True, "is_superuser": True}
    )
    token, _ = Token.objects.get_or_create(user=user)
    client = Client()
    client.force_login(user)
    session = client.cookies["sessionid"].value
    connection.close()

    subscribers = Subscriber.objects.count()

    def floors():
        subscriber_floor = floor(
            Subscriber.objects.order_by("-last_seen_at", "-pk"), SUBSCRIBER_COLUMNS, "fields"
        )
        return [
            floor(export_queryset(), PollResponseAdmin.export_columns),
            # The API's CSV has columns of its own (ids, the choice and its label).
            floor(api_queryset(), PollResponseViewSet.csv_columns),
            subscriber_floor,
        ]

    def mean(before, after):
        """A floor read before the downloads and again after (the load drifts meanwhile)."""
        assert before[2] == after[2]
        return before[0], (before[1] + after[1]) / 2, before[2]

    floors_before = floors()
    admin = {"Cookie": f"sessionid={session}"}
    api = {"Authorization": f"Token {token.key}"}
    downloads = {}
    env = {**os.environ, "DJANGO_ALLOWED_HOSTS": "127.0.0.1"}
    with gunicorn(env, "--workers", "1", "--timeout", "900") as (server, base_url):
        try:  # wait for the worker: any answer will do
            urllib.request.urlopen(f"{base_url}/api/", timeout=60)
        except urllib.error.HTTPError:
            pass
        children = Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split()
        worker = int(children[0])
        idle = rss_mb(worker)
        load_before = os.getloadavg()
        for path, headers, count in [
            ("/admin/campaigns/pollresponse/export.csv", admin, n),
            ("/admin/campaigns/pollresponse/export-excel.csv", admin, n),
            ("/api/v1/poll-responses/?format=csv", api, n),
            ("/admin/crm/subscriber/export.csv", admin, subscribers),
            ("/api/v1/subscribers/?format=csv", api, subscribers),
        ]:
            rows, seconds, peak = download(base_url, path, headers, worker)
            assert rows == count, (path, rows)
            downloads[path] = (seconds, peak)
    response_floor, api_floor, subscriber_floor = map(mean, floors_before, floors())
    assert response_floor[2] == api_floor[2] == n and subscriber_floor[2] == subscribers

    def line(label, seconds, rows, base, peak=None):
        memory = f"{peak:.0f} MB" if peak else ""
        ratio = seconds / base
        return f"| {label} | {seconds:.1f} | {rows / seconds:,.0f} | {ratio:.2f}x | {memory} |"

    vendor = "PostgreSQL" if connection.vendor == "postgresql" else "SQLite"
    print(
        f"### {vendor}: CSV of {n:,} poll responses with their subscriber columns\n\n"
        f"Times in {os.environ['DJANGO_TIME_ZONE']} (the admin's), in UTC ISO 8601 (the API's).\n"
    )
    print(
        f"Load average {' '.join(f'{x:.2f}' for x in load_before)} before the downloads, "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())} after; the worker held {idle:.0f} MB "
        "before its first download.\n"
    )
    print("| Path | seconds | rows/s | vs floor (time) | worker peak RSS |")
    print("|---|---:|---:|---:|---:|")
    what, base, _ = response_floor
    print(line(f"Floor: {what}", base, n, base))
    for label, path in [
        ("Admin export", "/admin/campaigns/pollresponse/export.csv"),
        ("Admin export, CSV for Excel", "/admin/campaigns/pollresponse/export-excel.csv"),
    ]:
        print(line(f"{label}, `{path}`", *downloads[path][:1], n, base, downloads[path][1]))
    label = "Python's csv writer over table(), in process (first 20,000 rows)"
    print(line(label, python_writer(n), n, base))
    what, api_base, _ = api_floor
    print(line(f"Floor of the API's columns and order: {what}", api_base, n, api_base))
    path = "/api/v1/poll-responses/?format=csv"
    print(line(f"API export, `{path}`", *downloads[path][:1], n, api_base, downloads[path][1]))
    print(
        f"\n{subscribers:,} subscribers with their custom fields as columns "
        "(the keys listed by the database first):\n"
    )
    print("| Path | seconds | rows/s | vs floor (time) | worker peak RSS |")
    print("|---|---:|---:|---:|---:|")
    what, base, _ = subscriber_floor
    print(line(f"Floor: {what}, fields as stored", base, subscribers, base))
    for label, path in [
        ("Admin export", "/admin/crm/subscriber/export.csv"),
        ("API export", "/api/v1/subscribers/?format=csv"),
    ]:
        seconds, peak = downloads[path]
        print(line(f"{label}, `{path}`", seconds, subscribers, base, peak))
    print()


if __name__ == "__main__":
    main()
