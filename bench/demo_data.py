"""How long `generate_demo_data` takes to fill an empty database, on PostgreSQL and SQLite.

    .venv/bin/python bench/demo_data.py [--responses 1000000 10000000] [--only postgresql]
        [--postgres crm_bench_demo] [--sqlite /tmp/crm_bench_demo.sqlite3]

For each size (1,000,000 responses unless told), with a fifth as many subscribers and a
tenth as many other callbacks (info requests, forms, rejected ones; `--subscribers` and
`--callbacks` fix them instead), each database is made afresh (dropped first) and migrated,
then the command runs as a developer runs it (`manage.py generate_demo_data`, as
PostgreSQL's superuser), its time taken from the outside, wall clock, with where the load
spent it (`-v 2`) and the load average. The database is kept afterwards, for the admin's and
the results' benchmarks at that size. Prints Markdown.
"""

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


def fresh(vendor: str, name: str) -> str:
    if vendor == "postgresql":
        subprocess.run(["dropdb", "-h", "127.0.0.1", "-U", "postgres", "--if-exists", name])
        subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "postgres", name], check=True)
        return f"postgres://postgres@127.0.0.1:5432/{name}"
    for suffix in ("", "-wal", "-shm"):
        Path(name + suffix).unlink(missing_ok=True)
    return f"sqlite:///{name}"


def measure(url: str, responses: int, subscribers: int, callbacks: int) -> tuple[float, str]:
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_LOCAL": "1", "DJANGO_LOG_LEVEL": "WARNING"}
    manage = [PYTHON, "manage.py"]
    subprocess.run([*manage, "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)
    command = [
        *manage,
        "generate_demo_data",
        f"--responses={responses}",
        f"--subscribers={subscribers}",
        f"--callbacks={callbacks}",
        "-v",
        "2",
    ]
    started = time.perf_counter()
    out = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if out.returncode:
        sys.exit(out.stderr)
    return seconds, out.stderr.strip()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--responses", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--subscribers", type=int, help="default: a fifth of the responses")
    parser.add_argument("--callbacks", type=int, help="default: a tenth of the responses")
    parser.add_argument("--postgres", default="crm_bench_demo")
    parser.add_argument("--sqlite", default="/tmp/crm_bench_demo.sqlite3")
    parser.add_argument("--only", choices=["postgresql", "sqlite"])
    args = parser.parse_args()

    print("### Demo data: poll responses, each with its raw callback\n")
    print(
        "| Database | responses | subscribers | other callbacks | seconds (wall, whole command) "
        "| responses/s | load average (1 min) before, after | where the time went |"
    )
    print("|---|---:|---:|---:|---:|---:|---|---|")
    for responses in args.responses:
        subscribers = args.subscribers or responses // 5
        callbacks = args.callbacks if args.callbacks is not None else responses // 10
        for vendor, name in [("postgresql", args.postgres), ("sqlite", args.sqlite)]:
            if args.only and vendor != args.only:
                continue
            before = os.getloadavg()[0]
            url = fresh(vendor, name)
            seconds, spent = measure(url, responses, subscribers, callbacks)
            where = "; ".join(line for line in spent.splitlines() if line.endswith(" s"))
            print(
                f"| {vendor} | {responses:,} | {subscribers:,} | {callbacks:,} | {seconds:.0f} | "
                f"{responses / seconds:,.0f} | {before:.1f}, {os.getloadavg()[0]:.1f} | {where} |",
                flush=True,
            )
    print()


if __name__ == "__main__":
    main()
