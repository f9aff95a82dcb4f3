"""`make bench`: every figure of docs/benchmarks.md, on SQLite and PostgreSQL, in one run.

    .venv/bin/python bench/report.py [--duration 5] [--responses 1000000] [--out docs/benchmarks.md]

Runs bench/ingest.py (callbacks against the one-INSERT floor), bench/profile_callback.py
(where one vote's time goes), bench/exports.py (a million-row CSV against COPY) and
bench/demo_data.py (generate_demo_data at that size) on both databases, and writes the
Markdown with the machine and its load. PostgreSQL is reached at 127.0.0.1:5432 as user
postgres; each benchmark uses its own database (crm_bench_*), and the
export's data set is kept between runs (made once, in about a minute).
"""

import argparse
import os
import platform
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PG = "postgres://postgres@127.0.0.1:5432/"
PYTHON = sys.executable


def run(args: list[str], env: dict | None = None) -> str:
    print("$", " ".join(args), file=sys.stderr, flush=True)
    out = subprocess.run(
        args, cwd=ROOT, env={**os.environ, **(env or {})}, capture_output=True, text=True
    )
    if out.returncode:
        sys.exit(f"{args} failed:\n{out.stdout}\n{out.stderr}")
    return out.stdout


def fresh_postgres(name: str) -> str:
    subprocess.run(["dropdb", "-h", "127.0.0.1", "-U", "postgres", "--if-exists", name])
    subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "postgres", name], check=True)
    return PG + name


def ensure_postgres(name: str) -> str:
    subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "postgres", name], capture_output=True)
    return PG + name


def machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    memory = next(
        int(line.split()[1]) // (1024 * 1024)
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal")
    )
    postgres = subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-Atc", "SHOW server_version"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    return (
        f"{os.cpu_count()} cores ({cpu}), {memory} GB; Python {platform.python_version()}, "
        f"PostgreSQL {postgres} (default settings), SQLite {sqlite3.sqlite_version}"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    parser.add_argument("--responses", type=int, default=1_000_000)
    parser.add_argument("--out", default=str(ROOT / "docs/benchmarks.md"))
    args = parser.parse_args()

    started, load_before = datetime.now(UTC), os.getloadavg()
    t0 = time.monotonic()
    ingest = run([PYTHON, "bench/ingest.py", "--duration", str(args.duration), "--output", "-"])
    profiles = [
        run(
            [PYTHON, "bench/profile_callback.py"],
            {"DATABASE_URL": fresh_postgres("crm_bench_profile")},
        ),
        run(
            [PYTHON, "bench/profile_callback.py", "--top", "12"],
            {"DATABASE_URL": f"sqlite:///{tempfile.mkdtemp()}/profile.sqlite3"},
        ),
    ]
    exports = [
        run(
            [PYTHON, "bench/exports.py", "--responses", str(args.responses)],
            {"DATABASE_URL": ensure_postgres("crm_bench_exports")},
        ),
        run(
            [PYTHON, "bench/exports.py", "--responses", str(args.responses)],
            {"DATABASE_URL": f"sqlite:///{tempfile.gettempdir()}/crm_bench_exports.sqlite3"},
        ),
    ]
    demo = run([PYTHON, "bench/demo_data.py", "--responses", str(args.responses)])
    load_after = os.getloadavg()
    narrative = (ROOT / "bench/benchmarks-notes.md").read_text()
    doc = f"""# Benchmarks

Written by `make bench` (`bench/report.py`) on {started:%Y-%m-%d %H:%M} UTC in
{(time.monotonic() - t0) / 60:.0f} minutes. Machine: {machine()}.
Load average (1, 5, 15 min) {load_before[0]:.1f} / {load_before[1]:.1f} / {load_before[2]:.1f}
before, {load_after[0]:.1f} / {load_after[1]:.1f} / {load_after[2]:.1f} after: the machine
is shared, so absolute figures move from run to run; the ratios, each measured against a
floor in the same run, are what to compare.

{narrative}
## Callbacks against the one-INSERT floor

{ingest}
## Where one vote's time goes

{profiles[0]}
{profiles[1]}
## CSV exports

{exports[0]}
{exports[1]}
## Demo data

{demo}"""
    Path(args.out).write_text(doc)
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
