"""What the changes feed's triggers (lib.sync: change_seq set on every INSERT and UPDATE)
cost a poll callback's writes, on both databases.

    .venv/bin/python bench/sync_triggers.py [--seconds 3] [--passes 6] [--databases sqlite,postgres]

A poll callback writes three rows in one transaction: the raw event, the subscriber (the
upsert of Subscriber.objects.upsert_sql, as the pipeline runs it) and the poll response; all
three tables carry the trigger. This times exactly those statements, committed, for a vote
from a returning subscriber (1,000 known numbers) and from a new one, with the triggers in
place and dropped, in alternating passes so load from elsewhere on the machine hits both
alike. The floor is one INSERT committed into a table without trigger, timed in the same
passes; its own with/without ratio shows the noise (it should be 1.00).

PostgreSQL: pgbench, 4 clients (-j 2), the three writes as one statement (data-modifying
CTEs). SQLite: Python's sqlite3 on the database file, one writer, the three statements in
BEGIN IMMEDIATE ... COMMIT, the pragmas the product sets. Each database is migrated fresh
(DJANGO_LOCAL=1): PostgreSQL crm_api (the helper's own), SQLite a temporary file.

Prints Markdown: median transactions a second of the passes, and with / without.
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
POSTGRES_URL = "postgres://postgres@127.0.0.1:5432/crm_api"
RETURNING = 1000
SCENARIOS = ("floor: one INSERT committed", "poll vote, returning subscriber", "poll vote, new")


def django_setup(url: str) -> None:
    os.environ.update(DJANGO_LOCAL="1", DATABASE_URL=url, DJANGO_SETTINGS_MODULE="crm.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("flush", interactive=False, verbosity=0)


def seed() -> dict:
    """A poll with a choice, an endpoint, 1,000 subscribers; the ids the statements need."""
    from callbacks.models import Endpoint
    from campaigns.models import Campaign, Kind
    from subscribers.models import Subscriber

    poll = Campaign.objects.create(shortcode="84700", keyword="FB1", kind=Kind.POLL, name="V")
    choice = poll.choices.create(reply="A", label="A", order=0)
    Subscriber.objects.bulk_create(
        Subscriber(mobile=f"+1212{2000000 + i:07d}", country="US") for i in range(RETURNING)
    )
    endpoint = Endpoint.objects.create(name="bench")
    return {"campaign": poll.id, "choice": choice.id, "endpoint": endpoint.id}


def synced_tables() -> list[str]:
    from django.apps import apps

    return [
        model._meta.db_table
        for model in apps.get_models()
        if any(field.name == "change_seq" for field in model._meta.fields)
    ]


def set_triggers(cursor, vendor: str, on: bool) -> None:
    from lib import sync

    for table in synced_tables():
        if on:
            made = sync.postgresql_triggers if vendor == "postgresql" else sync.sqlite_triggers
            for statement in made(table):
                cursor.execute(statement)
        elif vendor == "postgresql":
            cursor.execute(f"DROP TRIGGER IF EXISTS {table}_change_seq ON {table}")
        else:
            for action in ("insert", "update"):
                cursor.execute(f"DROP TRIGGER IF EXISTS {table}_change_seq_{action}")


EVENT = (
    "INSERT INTO callbacks_callbackevent (endpoint_id, kind, method, query_string, body, "
    "content_type, remote_addr, received_at, outcome, reason, change_seq) VALUES "
    "({endpoint}, 'poll', 'GET', 'shortcode=84700&key=FB1&reply=A', '', '', '127.0.0.1', "
    "{now}, 'processed', '', 0)"
)
RESPONSE = (
    "INSERT INTO campaigns_pollresponse (campaign_id, subscriber_id, callback_id, received_at, "
    "extras, change_seq, choice_id, reply, label) VALUES "
    "({campaign}, {subscriber}, {event}, {now}, '{{}}', 0, {choice}, 'A', '')"
)


def upsert_sql(mobile_sql: str, now_sql: str) -> str:
    """The pipeline's subscriber upsert, its parameters written as SQL expressions."""
    from subscribers.models import Subscriber

    sql, _params = Subscriber.objects.upsert_sql("+1", country="US")
    values = [mobile_sql, "'US'", "''", "'{}'", now_sql, now_sql, now_sql]
    return re.sub(r"%s", lambda _: values.pop(0), sql)


def postgres(seconds: float, passes: int) -> dict:
    django_setup(POSTGRES_URL)
    from django.db import connection

    ids = seed()
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_floor")
        cursor.execute("CREATE TABLE bench_floor (id bigserial, t text)")
    now = "now()"

    def vote(mobile_sql: str) -> str:
        upsert = upsert_sql(mobile_sql, now).replace("RETURNING *", "RETURNING s.id")
        event = EVENT.format(now=now, **ids)
        response = RESPONSE.format(now=now, subscriber="s.id", event="e.id", **ids)
        response = response.replace(" VALUES (", " SELECT ").rstrip(")") + " FROM e, s"
        return f"WITH e AS ({event} RETURNING id), s AS ({upsert}) {response};\n"

    scripts = {
        SCENARIOS[0]: "INSERT INTO bench_floor (t) VALUES ('x');\n",
        SCENARIOS[1]: "\\set n random(0, 999)\n"
        + vote("'+1212' || lpad((2000000 + :n)::text, 7, '0')"),
        SCENARIOS[2]: vote("'+1305' || lpad((nextval('bench_new'))::text, 7, '0')"),
    }
    with connection.cursor() as cursor:
        cursor.execute("CREATE SEQUENCE IF NOT EXISTS bench_new")
    rates: dict = {}
    with tempfile.TemporaryDirectory() as scratch:
        for _ in range(passes):
            for on in (True, False):
                with connection.cursor() as cursor:
                    set_triggers(cursor, "postgresql", on)
                for name, script in scripts.items():
                    path = Path(scratch) / "script.sql"
                    path.write_text(script)
                    done = subprocess.run(
                        [
                            "pgbench",
                            "-n",
                            "-h",
                            "127.0.0.1",
                            "-U",
                            "postgres",
                            "-c",
                            "4",
                            "-j",
                            "2",
                            "-T",
                            str(max(1, round(seconds))),
                            "-f",
                            str(path),
                            "crm_api",
                        ],
                        capture_output=True,
                        text=True,
                    )
                    if done.returncode != 0:
                        sys.exit(f"pgbench failed on {script!r}:\n{done.stderr[-2000:]}")
                    out = done.stdout
                    tps = float(re.search(r"tps = ([0-9.]+)", out).group(1))
                    rates.setdefault((name, on), []).append(tps)
    with connection.cursor() as cursor:
        set_triggers(cursor, "postgresql", True)
        shares = trigger_shares(cursor, scripts[SCENARIOS[2]])
        cursor.execute("DROP TABLE bench_floor")
        cursor.execute("DROP SEQUENCE bench_new")
    print(
        "Inside PostgreSQL (EXPLAIN ANALYZE of the new-subscriber vote, 200 times, rolled "
        f"back): the change_seq triggers take a median {statistics.median(shares):.1%} of "
        "the statement's execution time.\n"
    )
    return rates


def trigger_shares(cursor, script: str) -> list[float]:
    """The change_seq triggers' share of the statement's execution time, per run: what the
    server itself measures, whatever the load on the machine."""
    shares = []
    for _ in range(200):
        cursor.execute("BEGIN")
        cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + script.rstrip(";\n"))
        plan = cursor.fetchone()[0]
        cursor.execute("ROLLBACK")
        plan = plan[0] if isinstance(plan, list) else json.loads(plan)[0]
        spent = sum(
            t["Time"] for t in plan.get("Triggers", []) if "change_seq" in t["Trigger Name"]
        )
        shares.append(spent / plan["Execution Time"])
    return shares


def sqlite(seconds: float, passes: int) -> dict:
    scratch = tempfile.mkdtemp()
    django_setup(f"sqlite:///{scratch}/bench.sqlite3")
    from django.db import connection

    ids = seed()
    connection.ensure_connection()
    raw = connection.connection  # the product's pragmas, no ORM in the loop
    raw.isolation_level = None
    raw.execute("CREATE TABLE bench_floor (id integer PRIMARY KEY, t text)")
    now = "strftime('%Y-%m-%d %H:%M:%f', 'now')"
    counter = [0]

    def vote(mobile: str) -> None:
        raw.execute("BEGIN IMMEDIATE")
        event = raw.execute(EVENT.format(now=now, **ids)).lastrowid
        subscriber = raw.execute(
            upsert_sql("?", now).replace("RETURNING *", "RETURNING id"), [mobile]
        ).fetchone()[0]
        raw.execute(RESPONSE.format(now=now, subscriber=subscriber, event=event, **ids))
        raw.execute("COMMIT")

    def floor() -> None:
        raw.execute("BEGIN IMMEDIATE")
        raw.execute("INSERT INTO bench_floor (t) VALUES ('x')")
        raw.execute("COMMIT")

    def returning() -> None:
        counter[0] += 1
        vote(f"+1212{2000000 + counter[0] % RETURNING:07d}")

    def new() -> None:
        counter[0] += 1
        vote(f"+1305{counter[0]:07d}")

    rates: dict = {}
    for _ in range(passes):
        for on in (True, False):
            set_triggers(raw, "sqlite", on)
            for name, step in zip(SCENARIOS, (floor, returning, new), strict=True):
                done, start = 0, time.perf_counter()
                while time.perf_counter() - start < seconds:
                    step()
                    done += 1
                rates.setdefault((name, on), []).append(done / (time.perf_counter() - start))
    set_triggers(raw, "sqlite", True)
    return rates


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=3)
    parser.add_argument("--passes", type=int, default=6)
    parser.add_argument("--databases", default="sqlite,postgres")
    args = parser.parse_args()
    if args.databases not in ("sqlite", "postgres"):
        # One database per process: Django is set up once.
        for database in args.databases.split(","):
            subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--seconds",
                    str(args.seconds),
                    "--passes",
                    str(args.passes),
                    "--databases",
                    database,
                ],
                check=True,
            )
        return
    load = os.getloadavg()
    rates = (postgres if args.databases == "postgres" else sqlite)(args.seconds, args.passes)
    after = os.getloadavg()
    print(f"### {args.databases}\n")
    print(
        f"Load average {load[0]:.2f} before, {after[0]:.2f} after; {args.passes} passes "
        f"of {args.seconds:g} s per scenario and mode.\n"
    )
    print("| scenario | with triggers /s | without /s | with / without |")
    print("|---|---:|---:|---:|")
    for name in SCENARIOS:
        on, off = statistics.median(rates[(name, True)]), statistics.median(rates[(name, False)])
        print(f"| {name} | {on:.0f} | {off:.0f} | {on / off:.2f} |")
    print(flush=True)


if __name__ == "__main__":
    main()
