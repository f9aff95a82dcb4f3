"""Where the time of one poll callback goes: its SQL statements and a profile of the Python.

    createdb -h 127.0.0.1 -U postgres crm_bench_profile
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/crm_bench_profile \\
        .venv/bin/python bench/profile_callback.py

Migrates the database it is given, makes returning subscribers (bench/population.py), sends
warm-up votes through Django's test client (no network), then `--votes` more timed plainly
and `--votes` more under cProfile, every vote from another returning subscriber (the same
number and parameters again would be a retry: counted nowhere, a cheaper path), and prints
Markdown: the statements of one vote with their time, and the functions that take the most
time per vote.
"""

import argparse
import cProfile
import io
import os
import pstats
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings")
os.environ.setdefault("DJANGO_LOCAL", "1")
os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "testserver")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402

from bench.population import make_returning, returning_mobile  # noqa: E402
from callbacks.models import CallbackEvent, Endpoint, Outcome  # noqa: E402
from subscribers.models import Subscriber  # noqa: E402

POLL = "shortcode=84700&key=FB1&reply=A&label=Tampa&carrier=VERIZONUS&mobile="
WARM_UP = 1000


def vote_url(endpoint: Endpoint, n: int) -> str:
    """A vote from the n-th returning subscriber."""
    return endpoint.url_path("poll") + "?" + POLL + returning_mobile(n)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--votes", type=int, default=500)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()

    call_command("migrate", verbosity=0)
    endpoint = Endpoint.objects.create(name="profile")
    # Numbers not used by an earlier run on this database.
    start = Subscriber.objects.filter(mobile__startswith="+1212").count()
    make_returning(connection, WARM_UP + 2 * args.votes + 1)
    numbers = iter(range(start, start + WARM_UP + 2 * args.votes + 1))
    client = Client()
    for _ in range(WARM_UP):  # campaign, choice, warm caches
        assert client.get(vote_url(endpoint, next(numbers))).status_code == 200

    statements = []

    def log(execute, sql, params, many, context):
        # A wrapper, not connection.queries: Django clears that at each request's start.
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            statements.append((sql, time.perf_counter() - started))

    with connection.execute_wrapper(log):
        started = time.perf_counter()
        client.get(vote_url(endpoint, next(numbers)))
        one = time.perf_counter() - started

    started = time.perf_counter()
    for _ in range(args.votes):
        client.get(vote_url(endpoint, next(numbers)))
    plain = (time.perf_counter() - started) / args.votes

    profile = cProfile.Profile()
    started = time.perf_counter()
    profile.enable()
    for _ in range(args.votes):
        client.get(vote_url(endpoint, next(numbers)))
    profile.disable()
    per_vote = (time.perf_counter() - started) / args.votes
    events = CallbackEvent.objects.filter(endpoint=endpoint)
    outcomes = set(events.values_list("outcome", flat=True))
    assert outcomes == {Outcome.PROCESSED}, f"not every vote was recorded: {outcomes}"

    print(f"### One poll vote, returning subscriber ({connection.vendor})\n")
    print(
        f"{one * 1000:.1f} ms for the vote below (Django test client, no network); "
        f"{plain * 1000:.2f} ms a vote over {args.votes} more, "
        f"{per_vote * 1000:.2f} ms under cProfile.\n"
    )
    print("| # | ms | statement |\n|---:|---:|---|")
    for i, (sql, seconds) in enumerate(statements, 1):
        sql = " ".join(sql.split())
        sql = sql if len(sql) < 140 else sql[:137] + "..."
        print(f"| {i} | {seconds * 1000:.2f} | `{sql.replace('|', '/')}` |")

    out = io.StringIO()
    stats = pstats.Stats(profile, stream=out).sort_stats("cumulative")
    # The product's own functions (not Django's or a library's), by time including callees.
    stats.print_stats(rf"{ROOT}/(?!\.venv)", args.top)
    print(f"\nThe product's functions by cumulative time over {args.votes} votes:\n")
    print("```")
    lines = out.getvalue().replace(f"{ROOT}/", "").splitlines()
    print("\n".join(line for line in lines[6:] if line.strip()))
    print("```")
    Endpoint.objects.filter(pk=endpoint.pk).update(enabled=False)


if __name__ == "__main__":
    main()
