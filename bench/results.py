"""Poll results at ten million votes: the counters (campaigns/tallies.py) against the recount.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/crm_tally_10m .venv/bin/python bench/results.py
    [--responses 10000000] [--subscribers 1000000] [--runs 3] [--out docs/benchmarks-results.md]

Fills the database once (kept for later runs, and for the admin pages' figure at 10M) with one
poll of `--responses` votes over 14 days from `--subscribers` subscribers, each vote with its
raw callback, in SQL (INSERT … SELECT over generate_series with the triggers and the
secondary indexes off, the indexes rebuilt after), then counts the poll with
`rebuild_poll_tallies`. Then times, in process and with the production settings, the admin
results page, its live mode (`format=json`) and the API's results endpoint for both counting
rules over every kind of range they offer (the page: whole days in the site's time zone, from,
through or both; the API: any instant), next to the floor of the same run: the GROUP BY
recount over the same votes that the pages ran before the counters
(campaigns.results.scan_tally). Then the page's parts, one breakdown, and what the counting
triggers add to one vote's INSERT. Prints Markdown (and writes it to --out) with the run's
duration. `--fill-only` fills the database and stops.
"""

import argparse
import os
import platform
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/crm_tally_10m")
os.environ.update(
    DJANGO_SETTINGS_MODULE="crm.settings",
    DJANGO_LOCAL="1",  # static files as `make run` serves them; DEBUG stays off
    DJANGO_SECRET_KEY="bench-results-" + "x" * 40,
    DJANGO_ALLOWED_HOSTS="127.0.0.1,testserver",
    DJANGO_SECURE_SSL_REDIRECT="0",
    DJANGO_LOG_LEVEL="WARNING",
    API_RATE_LIMIT="100000/min",
)

import django  # noqa: E402

django.setup()

from django.contrib.auth.models import User  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.test import Client  # noqa: E402
from django.utils import timezone  # noqa: E402
from rest_framework.authtoken.models import Token  # noqa: E402

from campaigns import results, tallies  # noqa: E402
from campaigns.breakdowns import breakdown, dimension  # noqa: E402
from campaigns.models import Campaign, PollResponse  # noqa: E402

DAYS = 14
# The poll's first hour: whole hours, so "since" and "until" can fall on and off them.
START = datetime(2026, 3, 1, tzinfo=UTC)
FILL = [
    "INSERT INTO callbacks_endpoint (id, name, token, enabled, created_at, previous_token) "
    "VALUES (1, 'bench', 'bench-results-token', true, now(), '')",
    "INSERT INTO campaigns_campaign (id, shortcode, keyword, keyword_key, kind, name, "
    "reply_text, needs_review, review_reason, created_at, change_seq) VALUES "
    "(1, '84700', 'FB1', 'fb1', 'poll', 'TV vote', '', false, '', now(), 0)",
    'INSERT INTO campaigns_pollchoice (id, campaign_id, reply, label, "order", from_callback, '
    "change_seq) VALUES (1, 1, 'A', 'Tampa', 0, false, 0), (2, 1, 'B', 'Orlando', 1, false, 0),"
    " (3, 1, 'C', 'Miami', 2, false, 0), (4, 1, 'D', 'Jacksonville', 3, false, 0)",
    "INSERT INTO crm_subscriber (id, mobile, country, carrier, fields, first_seen_at, "
    "last_seen_at, updated_at, change_seq) SELECT i, '+1212' || (2000000 + i), 'US', "
    "CASE i % 4 WHEN 0 THEN 'VERIZONUS' WHEN 1 THEN 'AT&T' WHEN 2 THEN '' ELSE 'T-Mobile' END, "
    "'{{}}', {start} - interval '30 days' + i * interval '1 minute' * 60 * 24 * 44 / {s}, "
    "{start}, {start}, 0 FROM generate_series(1, {s}) AS i",
    "INSERT INTO callbacks_callbackevent (id, endpoint_id, kind, method, query_string, body, "
    "content_type, received_at, outcome, reason, change_seq) SELECT i, 1, 'poll', 'GET', "
    "'mobile=212' || (2000000 + {voter}) || '&key=FB1&reply=A', '', '', {at}, 'processed', '', 0 "
    "FROM generate_series(1, {n}) AS i",
    # Skewed choices (40/30/20/10 %), voters who vote a few times each, times through 14 days.
    "INSERT INTO campaigns_pollresponse (id, campaign_id, subscriber_id, callback_id, "
    "received_at, extras, choice_id, reply, label, change_seq) SELECT i, 1, {voter}, i, {at}, "
    "'{{}}', c, chr(64 + c), '', 0 FROM (SELECT i, CASE WHEN (i * 37) % 100 < 40 THEN 1 "
    "WHEN (i * 37) % 100 < 70 THEN 2 WHEN (i * 37) % 100 < 90 THEN 3 ELSE 4 END AS c "
    "FROM generate_series(1, {n}) AS i) AS n",
]


def fill(responses: int, subscribers: int) -> None:
    call_command("migrate", verbosity=0)
    if PollResponse.objects.count() == responses:
        return
    if PollResponse.objects.exists():
        sys.exit("the database holds another data set: drop it first")
    words = {
        "start": f"'{START.isoformat()}'::timestamptz",
        "s": subscribers,
        "n": responses,
        "voter": f"1 + (i::bigint * 7919) % {subscribers}",
        "at": f"'{START.isoformat()}'::timestamptz + (i - 1) * interval '{DAYS} days' "
        f"/ {responses}",
    }
    started = time.perf_counter()
    tables = ("callbacks_callbackevent", "campaigns_pollresponse", "crm_subscriber")
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = ANY(%s) "
            "AND indexname NOT LIKE '%%_pkey'",
            [list(tables)],
        )
        indexes = cursor.fetchall()
        cursor.execute(
            "SELECT conname, conrelid::regclass::text, pg_get_constraintdef(oid) FROM "
            "pg_constraint WHERE conrelid::regclass::text = ANY(%s) AND contype = 'u'",
            [list(tables)],
        )
        uniques = cursor.fetchall()
        for name, table, _ in uniques:
            cursor.execute(f"ALTER TABLE {table} DROP CONSTRAINT {name}")
        for name, _ in indexes:
            if not any(name == u[0] for u in uniques):
                cursor.execute(f"DROP INDEX IF EXISTS {name}")
        # No triggers (the counters are rebuilt below, the changes feed is not measured here)
        # and no foreign-key checks while filling.
        cursor.execute("SET session_replication_role = replica")
        for statement in FILL:
            cursor.execute(statement.format(**words))
        cursor.execute("SET session_replication_role = DEFAULT")
        filled = time.perf_counter()
        for name, table, definition in uniques:
            cursor.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} {definition}")
        for name, definition in indexes:
            if not any(name == u[0] for u in uniques):
                cursor.execute(definition)
        for table in tables:
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT max(id) FROM {table}))"
            )
        indexed = time.perf_counter()
    call_command("rebuild_poll_tallies")
    counted = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    print(
        f"<!-- filled in {filled - started:.0f} s, indexed in {indexed - filled:.0f} s, "
        f"counted in {counted - indexed:.0f} s, vacuumed in {time.perf_counter() - counted:.0f} s"
        " -->",
        flush=True,
    )


# (label, admin query, API query); the poll runs Mar 1 00:00 to Mar 14 24:00 UTC. The page
# offers whole days (since, until, both); the API any instant.
RANGES = [
    ("whole poll", {}, {}),
    ("since Mar 8 (to the end)", {"since": "2026-03-08"}, {"since": "2026-03-08T00:00:00Z"}),
    ("one day, the last (Mar 14)", {"since": "2026-03-14", "until": "2026-03-14"}, None),
    (
        "Mar 8 through Mar 31 (past the last vote)",
        {"since": "2026-03-08", "until": "2026-03-31"},
        {"since": "2026-03-08T00:00:00Z", "until": "2026-04-01T00:00:00Z"},
    ),
    (
        "since Mar 4 10:17 (API, mid-hour)",
        None,
        {"since": "2026-03-04T10:17:00Z"},
    ),
    ("one day, Mar 5", {"since": "2026-03-05", "until": "2026-03-05"}, None),
    ("Mar 3 through Mar 9", {"since": "2026-03-03", "until": "2026-03-09"}, None),
    ("through Mar 13", {"until": "2026-03-13"}, None),
    (
        "Mar 4 10:15 to Mar 7 (API: a quarter hour to a midnight)",
        None,
        {"since": "2026-03-04T10:15:00Z", "until": "2026-03-07T00:00:00Z"},
    ),
    (
        "Mar 4 10:17 to Mar 6 18:45 (API)",
        None,
        {"since": "2026-03-04T10:17:00Z", "until": "2026-03-06T18:45:00Z"},
    ),
]


def timed(fn, runs: int) -> float:
    """The median of `runs` calls, in milliseconds (after one warm-up call; with `runs` 0,
    one call and no warm-up)."""
    if runs == 0:
        started = time.perf_counter()
        fn()
        return (time.perf_counter() - started) * 1000
    fn()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def get(client: Client, url: str, query: dict, **headers) -> None:
    response = client.get(url, query, **headers)
    assert response.status_code == 200, (url, query, response.status_code)
    if hasattr(response, "streaming_content"):
        b"".join(response.streaming_content)


def measure(runs: int) -> list[str]:
    campaign = Campaign.objects.get(pk=1)
    user = User.objects.filter(username="bench").first() or User.objects.create_superuser(
        "bench", password=None
    )
    token = Token.objects.get_or_create(user=user)[0].key
    admin, api = Client(), Client()
    admin.force_login(user)
    page = f"/admin/campaigns/campaign/{campaign.pk}/results/"
    endpoint = f"/api/v1/campaigns/{campaign.pk}/results/"
    auth = {"HTTP_AUTHORIZATION": f"Token {token}"}
    lines = [
        "| Range | Counting | Figures from | Admin page | Live (JSON) | API | Recount (floor) "
        "| Floor / API (or live) |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for label, admin_query, api_query in RANGES:
        since, until = range_of(admin_query, api_query)
        source = "counters" if results.runs_to_the_end(campaign, until) else "scan"
        if source == "scan" and results._range_zone(since, until):
            source = "range counters"
        # A scan takes seconds: timed once, so the run stays within minutes.
        n = runs if source != "scan" else 0
        for counting in ("all", "latest"):
            cells = []
            for client, url, query, headers in (
                (admin, page, admin_query, {}),
                (
                    admin,
                    page,
                    None if admin_query is None else {**admin_query, "format": "json"},
                    {},
                ),
                (api, endpoint, api_query, auth),
            ):
                if query is None:
                    cells.append(None)
                    continue
                query = {**query, "counting": counting}
                cells.append(
                    timed(lambda c=client, u=url, q=query, h=headers: get(c, u, q, **h), n)
                )
            floor = timed(
                lambda s=since, u=until, c=counting: results.scan_tally(campaign, c, s, u), n
            )
            api_ms = cells[2] if cells[2] is not None else cells[1]
            shown = ["–" if ms is None else f"{ms:,.0f} ms" for ms in cells]
            lines.append(
                f"| {label} | {counting} | {source} | {' | '.join(shown)} | {floor:,.0f} ms | "
                f"{floor / api_ms:,.1f}x |"
            )
            print(lines[-1], file=sys.stderr, flush=True)
    return lines


def range_of(admin_query: dict | None, api_query: dict | None) -> tuple:
    """The [since, until) the page or the API counts over, as datetimes."""
    if api_query is not None:
        parse = lambda v: datetime.fromisoformat(v.replace("Z", "+00:00"))  # noqa: E731
        return (
            parse(api_query["since"]) if "since" in api_query else None,
            parse(api_query["until"]) if "until" in api_query else None,
        )
    since = admin_query.get("since")
    until = admin_query.get("until")
    day = lambda v: datetime.fromisoformat(v).replace(tzinfo=UTC)  # noqa: E731
    return (
        day(since) if since else None,
        day(until) + timedelta(days=1) if until else None,
    )


def parts(runs: int) -> list[str]:
    """Where the admin page's time goes, whole poll, in process."""
    campaign = Campaign.objects.get(pk=1)
    lines = ["| Part of the page (whole poll) | all | latest |", "|---|---:|---:|"]
    for name, fn in (
        ("figures per choice (counters)", results.poll_results),
        ("chart, per day (counters)", results.timeline_by_choice),
    ):
        ms = [timed(lambda c=c, fn=fn: fn(campaign, c), runs) for c in ("all", "latest")]
        lines.append(f"| {name} | {ms[0]:,.0f} ms | {ms[1]:,.0f} ms |")
    voters = results.poll_results(campaign).voters
    ms = timed(lambda: results.new_and_returning(campaign, voters=voters), runs)
    lines.append(f"| new and returning voters (counters) | {ms:,.0f} ms | |")
    since = datetime(2026, 3, 8, tzinfo=UTC)
    voters = results.poll_results(campaign, since=since).voters
    ms = timed(lambda: results.new_and_returning(campaign, since, voters=voters), runs)
    lines.append(f"| new and returning voters since Mar 8 (counters) | {ms:,.0f} ms | |")
    with timezone.override("Asia/Kolkata"):
        ms = [
            timed(lambda c=c: results.timeline_by_choice(campaign, c), runs)
            for c in ("all", "latest")
        ]
    lines.append(
        f"| chart per day in Asia/Kolkata (days start at :30 UTC) | {ms[0]:,.0f} ms "
        f"| {ms[1]:,.0f} ms |"
    )
    return lines


def breakdown_cost() -> list[str]:
    """One breakdown of the page (by carrier, whole poll), timed once: it groups the votes
    by what is known of their voters, from the votes, not the counters."""
    campaign = Campaign.objects.get(pk=1)
    lines = ["| Breakdown by carrier (whole poll, one request) | all | latest |", "|---|---:|---:|"]
    dim = dimension(campaign, "carrier")
    ms = []
    for counting in ("all", "latest"):
        started = time.perf_counter()
        breakdown(campaign, dim, counting, None, None)
        ms.append((time.perf_counter() - started) * 1000)
    lines.append(f"| breakdown (a scan of the votes) | {ms[0]:,.0f} ms | {ms[1]:,.0f} ms |")
    return lines


LOOP = """
CREATE FUNCTION pg_temp.insert_votes(voters bigint[], callbacks bigint[]) RETURNS float
LANGUAGE plpgsql AS $$
DECLARE started timestamptz := clock_timestamp();
BEGIN
    FOR n IN 1 .. array_length(callbacks, 1) LOOP
        INSERT INTO campaigns_pollresponse (campaign_id, subscriber_id, callback_id,
            received_at, extras, choice_id, reply, label)
        VALUES (1, voters[n], callbacks[n], now(), '{}', 1 + n % 4, 'A', '');
    END LOOP;
    RETURN extract(epoch FROM clock_timestamp() - started);
END $$
"""


def _insert_pass(inserts: int, triggers: bool | str, new_voters: bool) -> float:
    """µs per single-row INSERT of a vote, timed inside the database (a loop of INSERT
    statements, so no round trip), in a transaction rolled back."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO callbacks_callbackevent (endpoint_id, kind, method, query_string, "
            "body, content_type, received_at, outcome, reason, change_seq) SELECT 1, 'poll',"
            " 'GET', '', '', '', now(), 'processed', '', 0 FROM generate_series(1, %s) "
            "RETURNING id",
            [inserts],
        )
        callbacks = [row[0] for row in cursor.fetchall()]
        if new_voters:
            cursor.execute(
                "INSERT INTO crm_subscriber (mobile, country, carrier, fields, first_seen_at, "
                "last_seen_at, updated_at, change_seq) SELECT '+1646' || (2000000 + i), 'US', "
                "'', '{}', now(), now(), now(), 0 FROM generate_series(1, %s) AS i RETURNING id",
                [inserts],
            )
            voters = [row[0] for row in cursor.fetchall()]
        else:
            voters = [1 + n * 7919 % 1000 for n in range(inserts)]  # about 10 votes each
        if triggers == "quarters":
            # The counters by quarter hour alone, as before the range counters.
            cursor.execute(tallies.pg_insert_function(ranges=False))
        if not triggers:
            for op in ("insert", "update", "delete"):
                cursor.execute(
                    f"ALTER TABLE campaigns_pollresponse DISABLE TRIGGER "
                    f"campaigns_pollresponse_tally_{op}"
                )
        cursor.execute(LOOP)
        cursor.execute("SELECT pg_temp.insert_votes(%s, %s)", [voters, callbacks])
        seconds = cursor.fetchone()[0]
        transaction.set_rollback(True)
    return seconds * 1e6 / inserts


def counter_sizes() -> list[str]:
    """The poll's counter rows, table by table, and their size on disk (indexes included)."""
    lines = ["| Counters of the poll | rows | on disk |", "|---|---:|---:|"]
    with connection.cursor() as cursor:
        for table in (
            tallies.TALLY,
            tallies.NEW_VOTERS,
            tallies.RANGE_TALLY,
            tallies.RANGE_NEW_VOTERS,
        ):
            cursor.execute(
                f"SELECT count(*), pg_size_pretty(pg_total_relation_size(%s)) FROM {table} "  # noqa: S608
                "WHERE campaign_id = 1",
                [table],
            )
            rows, size = cursor.fetchone()
            lines.append(f"| `{table}` | {rows:,} | {size} |")
    return lines


def insert_cost(inserts: int = 1000, passes: int = 7) -> list[str]:
    """What the counting triggers add to one vote's INSERT, for a returning voter and a new
    one: the same INSERTs with the triggers on, with the quarter-hour counters only (the range
    counters' part of the trigger left out) and with the triggers off, in alternating passes
    (load from elsewhere hits all alike), medians."""
    lines = [
        "| One vote's INSERT, in the database | with the triggers | quarter-hour counters only "
        "(no range counters) | without triggers | ratio to without | range counters' share |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for label, new_voters in (("returning voter (about 10 votes)", False), ("new voter", True)):
        on, quarters, off = [], [], []
        for _ in range(passes):
            on.append(_insert_pass(inserts, True, new_voters))
            quarters.append(_insert_pass(inserts, "quarters", new_voters))
            off.append(_insert_pass(inserts, False, new_voters))
        on_us, q_us, off_us = (statistics.median(x) for x in (on, quarters, off))
        lines.append(
            f"| {label} | {on_us:,.0f} µs | {q_us:,.0f} µs | {off_us:,.0f} µs | "
            f"{on_us / off_us:.2f}x | +{on_us - q_us:,.0f} µs |"
        )
    return lines


SQLITE_FILL = [
    "INSERT INTO callbacks_endpoint (id, name, token, enabled, created_at, previous_token) "
    "VALUES (1, 'bench', 'bench-results-token', 1, '2026-03-01 00:00:00', '')",
    "INSERT INTO campaigns_campaign (id, shortcode, keyword, keyword_key, kind, name, reply_text,"
    " needs_review, review_reason, created_at, change_seq) VALUES (1, '84700', 'FB1', 'fb1', "
    "'poll', 'TV vote', '', 0, '', '2026-03-01 00:00:00', 0)",
    'INSERT INTO campaigns_pollchoice (id, campaign_id, reply, label, "order", from_callback, '
    "change_seq) VALUES (1, 1, 'A', 'A', 0, 0, 0), (2, 1, 'B', 'B', 1, 0, 0), "
    "(3, 1, 'C', 'C', 2, 0, 0), (4, 1, 'D', 'D', 3, 0, 0)",
    "WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < 20000) "
    "INSERT INTO crm_subscriber (id, mobile, country, carrier, fields, first_seen_at, "
    "last_seen_at, updated_at, change_seq) SELECT i, '+1212' || (2000000 + i), 'US', '', '{}', "
    "'2026-02-01 00:00:00', '2026-03-01 00:00:00', '2026-03-01 00:00:00', 0 FROM g",
    "WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < 200000) "
    "INSERT INTO callbacks_callbackevent (id, endpoint_id, kind, method, query_string, body, "
    "content_type, received_at, outcome, reason, change_seq) SELECT i, 1, 'poll', 'GET', '', "
    "'', '', '2026-03-01 00:00:00', 'processed', '', 0 FROM g",
    "WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < 200000) "
    "INSERT INTO campaigns_pollresponse (id, campaign_id, subscriber_id, callback_id, "
    "received_at, extras, choice_id, reply, label, change_seq) SELECT i, 1, 1 + (i * 7919) % "
    "20000, i, datetime('2026-03-01', '+' || (i * 6) || ' seconds'), '{}', 1 + i % 4, 'A', '', "
    "0 FROM g",
]


def sqlite_insert_cost(inserts: int = 2000, passes: int = 7) -> list[str]:
    """The same on SQLite (row triggers): a database migrated in a temporary file, 200,000
    votes from 20,000 voters written with the triggers off, then single-row INSERTs through
    Python's sqlite3 in a transaction rolled back, triggers on and off in alternating passes."""
    from campaigns import tallies

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "results.sqlite3"
        env = {**os.environ, "DATABASE_URL": f"sqlite:///{path}", "DJANGO_LOCAL": "1"}
        manage = [sys.executable, str(ROOT / "manage.py"), "migrate", "-v", "0"]
        subprocess.run(manage, env=env, check=True)
        db = sqlite3.connect(path, isolation_level=None)
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("BEGIN")
        for statement in tallies.drop_statements("sqlite"):
            db.execute(statement)
        for statement in SQLITE_FILL:
            db.execute(statement)
        db.execute("COMMIT")
        db.execute("BEGIN")
        votes = f"(SELECT {tallies.COLUMNS}, 1 AS sign FROM campaigns_pollresponse)"
        for statement in tallies.count_sql(votes, "sqlite"):
            db.execute(statement)
        db.execute("COMMIT")

        def one_pass(triggers: bool, new_voters: bool, n: int) -> float:
            db.execute("BEGIN")
            for statement in tallies.drop_statements("sqlite"):
                db.execute(statement)
            if triggers:
                for statement in tallies.trigger_statements("sqlite"):
                    db.execute(statement)
            first = 1_000_000 + n * inserts
            db.execute(
                f"WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < "
                f"{inserts}) INSERT INTO callbacks_callbackevent (id, endpoint_id, kind, method, "
                "query_string, body, content_type, received_at, outcome, reason, change_seq) "
                f"SELECT {first} + i, 1, 'poll', 'GET', '', '', '', '2026-03-20 00:00:00', "
                "'processed', '', 0 FROM g"
            )
            if new_voters:
                db.execute(
                    f"WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < "
                    f"{inserts}) INSERT INTO crm_subscriber (id, mobile, country, carrier, fields,"
                    " first_seen_at, last_seen_at, updated_at, change_seq) SELECT "
                    f"{first} + i, '+1646' || ({first} + i), 'US', '', '{{}}', "
                    "'2026-03-20 00:00:00', '2026-03-20 00:00:00', '2026-03-20 00:00:00', 0 FROM g"
                )
            started = time.perf_counter()
            for i in range(1, inserts + 1):
                voter = first + i if new_voters else 1 + i * 7919 % 1000
                db.execute(
                    "INSERT INTO campaigns_pollresponse (campaign_id, subscriber_id, callback_id,"
                    " received_at, extras, choice_id, reply, label, change_seq) VALUES (1, ?, ?, "
                    "'2026-03-20 00:00:00', '{}', ?, 'A', '', 0)",
                    (voter, first + i, 1 + i % 4),
                )
            took = time.perf_counter() - started
            db.execute("ROLLBACK")
            return took * 1e6 / inserts

        lines = [
            "| One vote's INSERT, SQLite | with the triggers | without | ratio |",
            "|---|---:|---:|---:|",
        ]
        for label, new_voters in (("returning voter (about 10 votes)", False), ("new voter", True)):
            on, off = [], []
            for n in range(passes):
                on.append(one_pass(True, new_voters, 2 * n))
                off.append(one_pass(False, new_voters, 2 * n + 1))
            on_us, off_us = statistics.median(on), statistics.median(off)
            lines.append(
                f"| {label} | {on_us:,.0f} µs | {off_us:,.0f} µs | {on_us / off_us:.2f}x |"
            )
        db.close()
    return lines


PREAMBLE = """# Poll results at ten million votes

`bench/results.py` (PostgreSQL; `DATABASE_URL` defaults to `crm_tally_10m`, kept between runs;
`--fill-only` fills it and stops). The results page, its live mode and the API's results
endpoint read the counters the database keeps as votes arrive (`campaigns/tallies.py`, triggers
from migrations `campaigns.0010` and `0011`):
- per (poll, choice, quarter hour UTC, slot) the votes, the subscribers whose latest vote it
  is, and those whose latest vote for the choice it is; per (poll, quarter hour, slot) the
  voters counted at the earlier of their `first_seen_at` and their latest vote, for "new
  voters": every range that runs to the poll's last vote;
- the range counters (`0011`): per (poll, choice, quarter hour of the vote, day of the voter's
  next vote, slot) the votes whose next vote in the poll, or for the same choice, is on a later day
  (those with none are the quarter-hour counters' `latest` and `voters`), and per (poll, day
  of the vote, day of the voter's previous vote, day first seen, slot) the votes whose
  previous vote is on an earlier day, for new voters; days in the site's time zone: every
  range that ends on a midnight before the poll's last vote (rows marked "range counters").

The floor of the same run is the recount the pages ran before (`campaigns.results.scan_tally`:
GROUP BY over every vote in the range, index-only scans on PostgreSQL); the last column is how
many times faster the API (or live mode) answers than it.

What the page and the API offer: the page, whole days in the site's time zone (from a day,
through a day, or both; none is the whole poll), either counting rule, an optional segment,
and live mode (the same figures as JSON every 5 s); the API, `since` and `until` at any instant.
Every range the page offers now comes from counters. What still scans: an API range that ends
inside a day before the poll's last vote (rows marked "scan"), and a segment's figures (its
voters' votes; not measured here).
"""


NOTES = """## What is not under 1 s at 10M, and why

- **API ranges that end inside a day before the poll's last vote** (rows marked "scan"): the
  range counters know the day of each voter's next vote, not its time, so whether a vote is
  its voter's latest before 18:45 is only known from the votes. Such a range is counted from
  its votes, in time proportional to them. Whole days plus the edge day's votes would close
  it (the votes of the whole days whose next vote is on the edge day, checked against the edge
  day's votes); not built. Every range the admin page offers ends on a midnight.
- **Breakdowns** (by carrier, state, a custom field, age; one request each when opened on the
  page) group the votes by what is known of their voters, from the votes, in time
  proportional to them (table above); no counter covers a subscriber's attributes.
- **Load**: this machine was shared with other jobs (load average above); every figure here,
  floor included, is several times what a quiet machine gives. The ratios are the point.

## What the counters cost

Triggers on `campaigns_pollresponse` (PostgreSQL: per statement, with transition tables;
SQLite: per row) and one on `crm_subscriber` (a row whose `first_seen_at` changes, which the
callbacks never do; it fires on nothing else). One inserted vote, the callback's case, is
counted from index probes (the voter's latest other vote, their latest for the same choice,
skipped on PostgreSQL when that is the same vote, and their `first_seen_at`) and an upsert of up
to three counter rows in key order; the new-voter counter is written only by a voter's first
vote in the poll (or one after a latest vote from before they were first seen). The range
counters reuse those probes (a vote older than the voter's latest also probes its neighbours):
in order, up to two more rows (the voter's previous vote, and previous vote for the choice,
now have a next vote on the vote's day; none when they are of the same day, since such a next
vote never reaches a later midnight) and one row for new voters (none after a vote of the same
day), in the same statement as the quarter-hour counters. Statements of many
rows recount the changed voters' votes. The INSERT figures above are timed inside the
database (a loop of single-row INSERTs), so the round trip, the callback's other statements
and its commit, all unchanged by the triggers, are not in them; the middle column replaces the
insert trigger's function, inside the rolled-back transaction, with one that leaves out the
range counters. `manage.py rebuild_poll_tallies` recounts every counter from the responses the
same way, and the tests compare the counters with a recount after concurrent callbacks,
retries, spool drains, reprocessing, bulk edits and deletions and moved `first_seen_at`, on
SQLite and PostgreSQL (the range counters: PostgreSQL), and every range the page offers in
three time zones with the scan.

The range counters count days in the zone the database holds (`campaigns_tally_zone()`, set
from `DJANGO_TIME_ZONE` by the migration and by `rebuild_poll_tallies`). Readers check a
range's ends in that zone, so after a change of `DJANGO_TIME_ZONE` the page's days no longer
fall on its midnights: bounded ranges are scanned (exact, slower) and each one logs a warning
naming the command, until `manage.py rebuild_poll_tallies` recounts the range counters of
every poll in the new zone. SQLite (the local database) keeps scanning bounded ranges.
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--responses", type=int, default=10_000_000)
    parser.add_argument("--subscribers", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", default=str(ROOT / "docs/benchmarks-results.md"))
    parser.add_argument("--fill-only", action="store_true", help="Fill the database and stop.")
    args = parser.parse_args()
    fill(args.responses, args.subscribers)
    if args.fill_only:
        return
    started = time.perf_counter()
    load = os.getloadavg()
    table = measure(args.runs)
    split = parts(args.runs)
    broken_down = breakdown_cost()
    cost = insert_cost() + [""] + sqlite_insert_cost()
    sizes = counter_sizes()
    load_after = os.getloadavg()
    took = time.perf_counter() - started
    cpu = next(
        line.split(":", 1)[1].strip()
        for line in Path("/proc/cpuinfo").read_text().splitlines()
        if line.startswith("model name")
    )
    postgres = subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-Atc", "SHOW server_version"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    text = "\n".join(
        [
            PREAMBLE,
            f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {os.cpu_count()} cores ({cpu}),"
            f" Python {platform.python_version()}, PostgreSQL {postgres} (default settings);"
            f" load average {load[0]:.1f} before, {load_after[0]:.1f} after. One poll of "
            f"{args.responses:,} votes from {args.subscribers:,} subscribers over {DAYS} days; "
            f"server time in process (Django's test client, DEBUG off), median of "
            f"{args.runs} after a warm-up (rows marked scan: one call, cold). The measuring "
            f"took {took / 60:.0f} minutes.",
            "",
            *table,
            "",
            *split,
            "",
            *broken_down,
            "",
            *cost,
            "",
            *sizes,
            "",
            NOTES,
        ]
    )
    print(text)
    Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
