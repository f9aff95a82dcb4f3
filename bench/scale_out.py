"""Two app nodes, one PostgreSQL, one Redis: nothing lost, nothing doubled, edits seen by both.

    .venv/bin/python bench/scale_out.py [--duration 20] [--rate 40]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/crm_scaleout \\
        CACHE_URL=redis://127.0.0.1:6379/5 .venv/bin/python bench/scale_out.py

Starts two gunicorn instances on different loopback ports against one freshly created
PostgreSQL database and one Redis database (both emptied first), then drives both at once
with `manage.py simulate_campaign`, the same seed for both: both nodes receive the same
callbacks at about the same moments, so the same new subscribers race on both nodes, and the
second of each identical pair is, to the product, the platform's retry (stored as a
duplicate, counted once) whichever node gets it. Half-way it edits a poll label and a Text-4-Info
reply through node 1's API and measures how long node 2 takes to answer with them. At the
end it checks: callbacks sent = stored, each identical pair counted once, one subscriber per
mobile, the results API's tallies
= a recount of the rows, and that the API throttle counts one user's requests across both
nodes. Prints a Markdown report (docs/scaling.md).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import psycopg
import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.server import gunicorn  # noqa: E402

SETUP = """
from django.contrib.auth.models import User
from rest_framework.authtoken.models import Token
from callbacks.models import Endpoint
from campaigns.models import Campaign
poll = Campaign.objects.create(shortcode="84700", keyword="FB1", kind="poll", name="Next store")
for order, (reply, label) in enumerate([("A", "Tampa"), ("B", "Miami"), ("C", "Orlando")]):
    poll.choices.create(reply=reply, label=label, order=order)
info = Campaign.objects.create(keyword="HOURS", kind="info", reply_text="Open 9-5")
editor = User.objects.create_superuser("editor", password="x-unused-x-unused")
reader = User.objects.create_superuser("reader", password="x-unused-x-unused")
print(json.dumps({
    "token": Endpoint.objects.create(name="bench").token,
    "poll": poll.pk, "info": info.pk, "choice_a": poll.choices.get(reply="A").pk,
    "editor": Token.objects.create(user=editor).key,
    "reader": Token.objects.create(user=reader).key,
}))
"""

COUNTS = """
from django.db.models import Count
from callbacks.models import CallbackEvent
from campaigns.models import PollResponse
from subscribers.models import Subscriber
print(json.dumps({
    "events": CallbackEvent.objects.count(),
    "outcomes": dict(CallbackEvent.objects.values_list("outcome").annotate(n=Count("id"))),
    "subscribers": Subscriber.objects.count(),
    "mobiles": sorted(Subscriber.objects.values_list("mobile", flat=True)),
    "votes": dict(PollResponse.objects.values_list("choice__reply").annotate(n=Count("id"))),
}))
"""


def fresh_database(url: str) -> None:
    name = urlsplit(url).path.lstrip("/")
    admin = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def manage(env: dict, *args: str, code: str | None = None) -> str:
    command = [sys.executable, "manage.py", *args]
    if code is not None:
        command += ["shell", "-v0", "-c", "import json\n" + code]
    return subprocess.run(
        command, cwd=ROOT, env=env, check=True, capture_output=True, text=True
    ).stdout


def api(base: str, token: str, method: str, path: str, data: dict | None = None):
    body = json.dumps(data).encode() if data is not None else None
    request = urllib.request.Request(base + path, data=body, method=method)
    request.add_header("Authorization", f"Token {token}")
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, None


def info_reply(base: str, token: str, n: int) -> str:
    # A different message each time: an identical one would be taken for a retry.
    query = urlencode({"lead": "HOURS", "mobile": "2125550100", "msg": f"hours {n}"})
    with urllib.request.urlopen(f"{base}/callbacks/{token}/info/?{query}", timeout=30) as r:
        return r.read().decode()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=float, default=20, help="seconds of traffic")
    parser.add_argument("--rate", type=float, default=40, help="callbacks a second, per node")
    args = parser.parse_args()

    database_url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/crm_scaleout")
    cache_url = os.environ.get("CACHE_URL", "redis://127.0.0.1:6379/5")
    fresh_database(database_url)
    if cache_url.startswith("redis"):
        redis.Redis.from_url(cache_url).flushdb()
    env = {
        **os.environ,
        "DJANGO_LOCAL": "1",
        "DJANGO_ENV_FILE": os.devnull,
        "DATABASE_URL": database_url,
        "CACHE_URL": cache_url,
        "API_RATE_LIMIT": "30/min",
    }
    manage(env, "migrate", "-v0")
    ids = json.loads(manage(env, code=SETUP))
    tmp = Path(tempfile.mkdtemp())

    with (
        gunicorn(env, "--workers", "2") as (_p1, node1),
        gunicorn(env, "--workers", "2") as (_p2, node2),
    ):
        urls = {
            node: [f"{node}/callbacks/{ids['token']}/{kind}/" for kind in ("poll", "info", "form")]
            for node in (node1, node2)
        }
        simulators = [
            subprocess.Popen(
                [sys.executable, "manage.py", "simulate_campaign", *urls[node]]
                + ["--duration", str(args.duration), "--rate", str(args.rate), "--seed", "1"]
                + ["--report", str(tmp / f"node{i}.json")],
                cwd=ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
            )
            for i, node in enumerate((node1, node2), start=1)
        ]

        time.sleep(args.duration / 2)
        label = {"label": "Tampa Bay"}
        reply = {"reply_text": "Open 8-8"}
        choice_url, info_url = (
            f"/api/poll-choices/{ids['choice_a']}/",
            f"/api/campaigns/{ids['info']}/",
        )
        assert api(node1, ids["editor"], "PATCH", choice_url, label)[0] == 200
        assert api(node1, ids["editor"], "PATCH", info_url, reply)[0] == 200
        edited = time.monotonic()  # node 1 has answered: the edits are committed
        probes = 1
        while info_reply(node2, ids["token"], probes) != "Open 8-8":
            assert time.monotonic() - edited < 60, "node 2 never saw the new reply"
            probes += 1
            time.sleep(0.05)
        reply_seen = time.monotonic() - edited
        status, results = api(node2, ids["editor"], "GET", f"/api/campaigns/{ids['poll']}/results/")
        label_seen = {c["reply"]: c["label"] for c in results["choices"]}["A"] == "Tampa Bay"

        for simulator in simulators:
            assert simulator.wait() == 0

        # One user's requests, node 1 and node 2 in turn, against one limit of 30 a minute.
        statuses = [api(n, ids["reader"], "GET", "/api/campaigns/")[0] for n in [node1, node2] * 20]
        _status, results = api(
            node1, ids["editor"], "GET", f"/api/campaigns/{ids['poll']}/results/"
        )

    reports = [json.loads((tmp / f"node{i}.json").read_text()) for i in (1, 2)]
    counts = json.loads(manage(env, code=COUNTS))
    sent = sum(r["sent"] for r in reports)
    mobiles = set(reports[0]["mobiles"]) | set(reports[1]["mobiles"]) | {"+12125550100"}
    tallies = {c["reply"]: c["votes"] for c in results["choices"]}
    checks = {
        # The probes for the edited reply are callbacks too.
        "callbacks sent = stored": counts["events"] == sent + probes,
        "every callback answered 200": all(set(r["statuses"]) == {"200"} for r in reports),
        "each identical pair counted once": counts["outcomes"]
        == {"processed": sent // 2 + probes, "duplicate": sent // 2},
        "one subscriber per mobile": counts["mobiles"] == sorted(mobiles),
        "tallies = recount": tallies == counts["votes"],
        "new label seen on node 2": label_seen,
        "throttle counted across nodes": sorted(statuses) == [200] * 30 + [429] * 10,
    }

    print(
        f"{os.cpu_count()} cores, PostgreSQL + Redis, 2 nodes x 2 gunicorn workers "
        f"(gthread, 4 threads), {args.duration:.0f} s at {args.rate:.0f} callbacks/s per node\n"
    )
    print("| node | sent | answered | p50 ms | p95 ms | p99 ms |")
    print("|---|---:|---|---:|---:|---:|")
    for i, r in enumerate(reports, start=1):
        lat = r["latency_ms"]
        print(
            f"| {i} | {r['sent']} | {r['statuses']} | {lat['p50']} | {lat['p95']} | {lat['p99']} |"
        )
    print(
        f"\nStored callbacks: {counts['events']} ({sent} simulated + {probes} probes); "
        f"subscribers: {counts['subscribers']} (distinct mobiles sent: {len(mobiles)})."
    )
    print(f"Outcomes: {counts['outcomes']}.")
    print(f"Poll tallies (API): {tallies}; recount of rows: {counts['votes']}.")
    print(
        f"Info reply edited through node 1's API: node 2 answered with the new text on probe "
        f"{probes}, {reply_seen * 1000:.0f} ms after node 1 confirmed the edit "
        f"(the probe's own latency included)."
    )
    print(
        f"Throttle, 40 requests of one user split over both nodes at 30/min: "
        f"{statuses.count(200)} x 200, {statuses.count(429)} x 429.\n"
    )
    for name, ok in checks.items():
        print(f"- {'PASS' if ok else 'FAIL'}: {name}")
    sys.exit(0 if all(checks.values()) else 1)


if __name__ == "__main__":
    main()
