"""Where the time of one poll callback goes: its SQL statements and a profile of the Python.

    createdb -h 127.0.0.1 -U postgres crm_bench_profile
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/crm_bench_profile \\
        .venv/bin/python bench/profile_callback.py

Migrates the database it is given, sends warm-up votes through Django's test client (no
network), then `--votes` more from returning subscribers under cProfile, and prints
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

from callbacks.models import Endpoint  # noqa: E402

POLL = "shortcode=84700&key=FB1&reply=A&label=Tampa&carrier=VERIZONUS&mobile=212300{:04d}"


def vote_url(endpoint: Endpoint, n: int) -> str:
    return endpoint.url_path("poll") + "?" + POLL.format(n % 1000)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--votes", type=int, default=500)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()

    call_command("migrate", verbosity=0)
    endpoint = Endpoint.objects.create(name="profile")
    client = Client()
    for n in range(1000):  # campaign, choice, 1,000 subscribers, warm caches
        assert client.get(vote_url(endpoint, n)).status_code == 200

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
        client.get(vote_url(endpoint, 1))
        one = time.perf_counter() - started

    profile = cProfile.Profile()
    started = time.perf_counter()
    profile.enable()
    for n in range(args.votes):
        client.get(vote_url(endpoint, n))
    profile.disable()
    per_vote = (time.perf_counter() - started) / args.votes

    print(f"### One poll vote, returning subscriber ({connection.vendor})\n")
    print(
        f"{one * 1000:.1f} ms for the vote below (Django test client, no network); "
        f"{per_vote * 1000:.2f} ms a vote over {args.votes} under cProfile.\n"
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
