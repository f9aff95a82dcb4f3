"""How fast the callback endpoints answer, under gunicorn, against a real database.

    .venv/bin/python bench/callbacks.py [--requests 2000] [--concurrency 8]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/crm_bench .venv/bin/python bench/callbacks.py

Each scenario sends the same number of requests from `concurrency` threads; the first row,
a request for an unknown token (routing, one indexed query, a 404), is the yardstick the
others are compared with, as ratios measured in the same run on the same machine.
Writes a Markdown table to stdout.
"""

import argparse
import http.client
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.server import gunicorn  # noqa: E402


def setup_database(env: dict) -> str:
    """Migrate the benchmark database and return an endpoint token."""
    code = (
        "from callbacks.models import Endpoint; from campaigns.models import *;"
        "c=Campaign.objects.get_or_create(shortcode='84700', keyword='FB1', kind='poll')[0];"
        "c.choices.get_or_create(reply='A', defaults={'label': 'Tampa'});"
        "Campaign.objects.get_or_create(shortcode='', keyword='HOURS', kind='info',"
        " defaults={'reply_text': 'Open 9-5'});"
        "print(Endpoint.objects.get_or_create(name='bench')[0].token)"
    )
    python = sys.executable
    subprocess.run([python, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    out = subprocess.run(
        [python, "manage.py", "shell", "-v0", "-c", code],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    return out.stdout.decode().split()[-1]


def get(port: int, path: str) -> tuple[int, float]:
    started = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", path)
    status = conn.getresponse().status
    conn.close()
    return status, time.perf_counter() - started


def run(port: int, paths, concurrency: int) -> dict:
    """Send every path once from `concurrency` threads; latency per request, total time."""
    paths = list(paths)
    latencies, statuses, lock = [], {}, threading.Lock()
    chunks = [paths[i::concurrency] for i in range(concurrency)]

    def worker(chunk):
        for path in chunk:
            status, seconds = get(port, path)
            with lock:
                latencies.append(seconds)
                statuses[status] = statuses.get(status, 0) + 1

    started = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(c,)) for c in chunks]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "rps": len(paths) / elapsed,
        "p50": statistics.median(latencies) * 1000,
        "p95": latencies[int(len(latencies) * 0.95) - 1] * 1000,
        "statuses": statuses,
    }


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--workers", type=int, default=3)
    args = parser.parse_args()

    tmp = tempfile.mkdtemp()
    env = {
        **os.environ,
        "DJANGO_LOCAL": "1",
        "DATABASE_URL": os.environ.get("DATABASE_URL") or f"sqlite:///{tmp}/bench.sqlite3",
    }
    token = setup_database(env)
    n = args.requests
    base = f"/callbacks/{token}"

    def numbers(start):
        return (f"212{start + i:07d}" for i in range(n))

    scenarios = [
        (
            "unknown token: 404 (yardstick)",
            ("/callbacks/nope/poll/?mobile=2125551212" for _ in range(n)),
        ),
        (
            "poll vote, known subscriber",
            (
                f"{base}/poll/?"
                + urlencode(
                    {
                        "mobile": "2125551212",
                        "carrier": "VERIZONUS",
                        "shortcode": "84700",
                        "key": "FB1",
                        "reply": "A",
                        "label": "Tampa",
                    }
                )
                for _ in range(n)
            ),
        ),
        (
            "poll vote, new subscriber each",
            (
                f"{base}/poll/?"
                + urlencode(
                    {
                        "mobile": m,
                        "carrier": "VERIZONUS",
                        "shortcode": "84700",
                        "key": "FB1",
                        "reply": "A",
                        "label": "Tampa",
                    }
                )
                for m in numbers(5550000)
            ),
        ),
        (
            "form with 3 custom fields",
            (
                f"{base}/form/?"
                + urlencode(
                    {
                        "country": "USA",
                        "shortcode": "84700",
                        "key": "JOIN",
                        "mobile": m,
                        "carrierId": "VERIZONUS",
                        "Name": "Bill",
                        "DOB": "1/1/2000",
                        "Zip": "10024",
                    }
                )
                for m in numbers(6660000)
            ),
        ),
        (
            "Text-4-Info with reply",
            (f"{base}/info/?lead=HOURS&&mobile={m}&msg=hours" for m in numbers(7770000)),
        ),
        ("rejected: invalid number", (f"{base}/poll/?mobile=12&key=FB1&reply=A" for _ in range(n))),
    ]
    with gunicorn(env, "--workers", str(args.workers)) as (_process, base_url):
        port = int(base_url.rsplit(":", 1)[1])
        run(port, [f"{base}/poll/?mobile=2125551212&key=FB1&reply=A"] * 50, 4)  # warm up
        results = [(name, run(port, paths, args.concurrency)) for name, paths in scenarios]

    vendor = "PostgreSQL" if env["DATABASE_URL"].startswith("postgres") else "SQLite"
    print(
        f"{n} requests per row, {args.concurrency} client threads, "
        f"{args.workers} gunicorn workers, {vendor}, {os.cpu_count()} cores\n"
    )
    print("| scenario | requests/s | p50 ms | p95 ms | vs yardstick (throughput) | statuses |")
    print("|---|---:|---:|---:|---:|---|")
    yardstick = results[0][1]["rps"]
    for name, r in results:
        print(
            f"| {name} | {r['rps']:.0f} | {r['p50']:.1f} | {r['p95']:.1f} | "
            f"{r['rps'] / yardstick:.2f} | {r['statuses']} |"
        )


if __name__ == "__main__":
    main()
