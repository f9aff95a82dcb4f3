"""How many callbacks a second the product takes, as a ratio of one INSERT, on both databases.

    .venv/bin/python bench/ingest.py [--duration 10] [--passes 2] [--databases sqlite,postgres]

For each database it starts gunicorn with the production settings (DJANGO_LOCAL=0) and
gunicorn.conf.py's defaults (gthread, 2 workers per core x 4 threads: 4 x 4 on 2 cores, what
`make run` and production serve with) and the yardstick views of crm/bench_views.py
(BENCH_VIEWS=1), and drives every scenario with Debian's `wrk -t2 -c16` on loopback, in
interleaved passes so a burst of load from elsewhere on the machine hits every scenario alike:

- bare: a Django view with no database (the ceiling of the stack);
- floor: a view that INSERTs one row (the raw event) and answers OK: the least a callback
  can cost, and what every callback is compared with;
- the product's callbacks: a poll vote from a returning subscriber (each request the next of
  300,000 subscribers made before the run, bench/population.py, so no vote is a retry of
  another, which would be counted nowhere and cost less), from a brand-new subscriber (a
  fresh number per request), a form with 3 custom fields, a Text-4-Info request, and an
  unknown token (404).

Then, for the poll scenarios, the latency at 70% of the measured maximum: wrk holds the
rate with a per-thread schedule in Lua (Debian has no wrk2), so the load generator is not
the bottleneck. Last, the floor and a returning vote under other worker configurations
(WORKER_CONFIGS), one pass each. Writes Markdown to docs/benchmarks-ingest.md (--output;
"-" prints it); bench/report.py puts it in docs/benchmarks.md.
"""

import argparse
import ast
import os
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.population import FIRST  # noqa: E402
from tests.server import gunicorn  # noqa: E402

# The PostgreSQL database it drops and makes afresh (BENCH_POSTGRES_DB to use another name).
POSTGRES_DB = os.environ.get("BENCH_POSTGRES_DB", "crm_bench_ingest")
POSTGRES_URL = f"postgres://postgres@127.0.0.1:5432/{POSTGRES_DB}"
RETURNING = 300_000  # returning subscribers, numbers 212-200-0000 onwards, each used once
WRK = ["wrk", "-t2", "-c16", "--latency", "--timeout", "10s"]

SETUP = f"""
from django.db import connection
from bench.population import make_returning
from callbacks.models import Endpoint
from campaigns.models import Campaign, Kind
poll = Campaign.objects.create(shortcode="84700", keyword="FB1", kind=Kind.POLL, name="Vote")
for order, (reply, label) in enumerate([("A", "Tampa"), ("B", "Orlando"), ("C", "Miami")]):
    poll.choices.create(reply=reply, label=label, order=order)
Campaign.objects.create(shortcode="84700", keyword="JOIN", kind=Kind.FORM, name="Join")
Campaign.objects.create(shortcode="", keyword="HOURS", kind=Kind.INFO, reply_text="Open 9-5")
make_returning(connection, {RETURNING})
endpoint = Endpoint.objects.create(name="bench")
print(endpoint.id, endpoint.token)
"""

# {prefix} is the URL up to the mobile number; numbers are 212 + 7 digits from `base`.
# Threads number from 0 (setup() runs in the main state before each thread starts).
LUA = r"""
local threads = 0
function setup(thread)
  thread:set("id", threads)
  threads = threads + 1
end

local counter = 0
function init(args)
  prefix, mode, base, pool = args[1], args[2], tonumber(args[3]), tonumber(args[4])
  rate = tonumber(args[5]) or 0
end

function request()
  counter = counter + 1
  local n
  if mode == "new" then
    n = base + id * 100000 + counter
  elseif mode == "pool" then
    -- base: the first returning subscriber no earlier run used
    n = base + counter * 2 + id
    if n >= pool then
      error("more requests than returning subscribers: raise RETURNING")
    end
  else
    return wrk.format("GET", prefix)
  end
  return wrk.format("GET", prefix .. string.format("212%07d", n))
end
"""

# Appended for a fixed rate: each thread sends on its own schedule of `rate`/2 requests a
# second; a connection that comes back early waits for the next free slot.
LUA_RATE = r"""
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clock, bench_timespec *tp);
]]
local ts = ffi.new("bench_timespec")
local function now_ms()
  ffi.C.clock_gettime(1, ts)
  return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end

local next_at = nil
function delay()
  local interval = 2000 / rate
  local now = now_ms()
  if next_at == nil or next_at < now - 8 * interval then
    next_at = now  -- behind schedule (the server is slower than the rate): no burst
  end
  next_at = next_at + interval
  return math.max(0, math.floor(next_at - now))
end
"""

TARGET_RATIO = {"postgres": 0.6, "sqlite": 0.5}
# (label, gunicorn options over gunicorn.conf.py's): the configurations compared after the
# main table, the floor and a returning vote each. A sync worker is cut off after --timeout
# seconds of one request, so it gets the 10 minutes a streamed export may need.
WORKER_CONFIGS = (
    ("gthread, 4 workers x 4 threads (the default here)", ()),
    ("gthread, 4 workers x 1 thread", ("--workers", "4", "--threads", "1")),
    ("gthread, 4 workers x 2 threads", ("--workers", "4", "--threads", "2")),
    ("gthread, 2 workers x 4 threads", ("--workers", "2", "--threads", "4")),
    ("sync, 4 workers", ("--workers", "4", "--worker-class", "sync", "--timeout", "600")),
)
CALLBACKS = (
    "poll vote, returning subscriber",
    "poll vote, new subscriber",
    "form, 3 custom fields, new subscriber",
    "Text-4-Info, new subscriber",
)
POLL = "shortcode=84700&key=FB1&reply=A&label=Tampa&carrier=VERIZONUS"
FORM = (
    "country=USA&shortcode=84700&key=JOIN&carrierId=VERIZONUS&Name=Bill&DOB=1%2F1%2F2000&Zip=10024"
)


def scenarios(token: str, endpoint_id: int) -> list[tuple[str, str, str]]:
    """(name, URL prefix, how numbers are made): 'fixed' is the prefix alone."""
    base = f"/callbacks/{token}"
    return [
        ("bare Django view, no database", "/bench/bare/", "fixed"),
        ("floor: INSERT one row", f"/bench/floor/{endpoint_id}/", "fixed"),
        ("poll vote, returning subscriber", f"{base}/poll/?{POLL}&mobile=", "pool"),
        ("poll vote, new subscriber", f"{base}/poll/?{POLL}&mobile=", "new"),
        ("form, 3 custom fields, new subscriber", f"{base}/form/?{FORM}&mobile=", "new"),
        ("Text-4-Info, new subscriber", f"{base}/info/?lead=HOURS&msg=hours&mobile=", "new"),
        ("unknown token (404)", "/callbacks/nope/poll/?mobile=2125551212&key=FB1", "fixed"),
    ]


def seconds(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(value) * {"us": 1e-6, "ms": 1e-3, "s": 1, "m": 60}[unit]


def wrk(url: str, prefix: str, mode: str, base: int, duration: int, rate: float = 0) -> dict:
    """Run wrk once; requests/s, p50/p99 in ms, and how many answers were not 2xx/3xx."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(LUA + (LUA_RATE if rate else ""))
    try:
        out = subprocess.run(
            [*WRK, f"-d{duration}s", "-s", script.name, url, "--"]
            + [prefix, mode, str(base), str(FIRST + RETURNING), str(rate)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        os.unlink(script.name)
    latency = dict(re.findall(r"^\s+(50|99)%\s+(\S+)\s*$", out, re.M))
    if "99" not in latency:
        raise RuntimeError(f"wrk measured nothing for {prefix}:\n{out}")
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    failed = re.search(r"Socket errors: (.*)$", out, re.M)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50": seconds(latency["50"]) * 1000,
        "p99": seconds(latency["99"]) * 1000,
        "requests": int(re.search(r"(\d+) requests in", out).group(1)),
        "non2xx": int(errors.group(1)) if errors else 0,
        "socket_errors": failed.group(1) if failed else "",
    }


def prepare(database: str, env: dict) -> tuple[int, str]:
    """A fresh, migrated database with the campaigns and returning subscribers."""
    if database == "postgres":
        subprocess.run(
            ["dropdb", "-h", "127.0.0.1", "-U", "postgres", "--if-exists", POSTGRES_DB],
            check=True,
        )
        subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "postgres", POSTGRES_DB])
    python = sys.executable
    subprocess.run([python, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    out = subprocess.run(
        [python, "manage.py", "shell", "-v0", "-c", SETUP],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    return int(out[-2]), out[-1]


def recorded_outcomes(env: dict) -> dict:
    """How many callbacks of the run ended how: none may be a duplicate."""
    script = (
        "from collections import Counter; from callbacks.models import CallbackEvent; "
        "print(dict(Counter(CallbackEvent.objects.values_list('outcome', flat=True))))"
    )
    out = subprocess.run(
        [sys.executable, "manage.py", "shell", "-v0", "-c", script],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return ast.literal_eval(out.strip().splitlines()[-1])


def server_env(database: str, tmp: str) -> dict:
    url = POSTGRES_URL if database == "postgres" else f"sqlite:///{tmp}/ingest.sqlite3"
    return {
        **os.environ,
        "DATABASE_URL": url,
        "DJANGO_LOCAL": "0",
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        # Loopback HTTP: a TLS proxy sits in front in production.
        "DJANGO_SECURE_SSL_REDIRECT": "0",
        "DJANGO_LOG_LEVEL": "WARNING",
        "BENCH_VIEWS": "1",
    }


def wait_until_up(url: str) -> None:
    """gunicorn accepts connections before its workers have loaded Django: wait for them."""
    deadline = time.monotonic() + 120
    while True:
        try:
            urllib.request.urlopen(f"{url}/bench/bare/", timeout=30).read()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


class Numbers:
    """Each wrk run's numbers: a fresh block for new subscribers, and for returning ones the
    next subscribers no earlier run has used (each of wrk's two threads takes every other)."""

    def __init__(self):
        self.blocks = iter(range(3_000_000, 10_000_000, 200_000))
        self.returning = FIRST

    def wrk(self, url: str, prefix: str, mode: str, duration: int, rate: float = 0) -> dict:
        base = self.returning if mode == "pool" else next(self.blocks)
        result = wrk(url, prefix, mode, base, duration, rate)
        if mode == "pool":
            # wrk may have asked for a few more requests than were answered in time.
            self.returning += 2 * (result["requests"] + 64)
        return result


def measure(database: str, args) -> dict:
    tmp = tempfile.mkdtemp()
    env = server_env(database, tmp)
    endpoint_id, token = prepare(database, env)
    rows = scenarios(token, endpoint_id)
    results = {name: [] for name, _, _ in rows}
    at_rate = {}
    numbers = Numbers()
    with gunicorn(env, *args.gunicorn) as (_proc, url):
        wait_until_up(url)
        # Warm up every worker: imports, connections, the campaign rows.
        for _name, prefix, mode in rows:
            numbers.wrk(url, prefix, mode, 3)
        for _ in range(args.passes):
            for name, prefix, mode in rows:
                results[name].append(numbers.wrk(url, prefix, mode, args.duration))
        for name, prefix, mode in rows[2:4]:
            rate = 0.7 * statistics.mean(r["rps"] for r in results[name])
            at_rate[name] = (rate, numbers.wrk(url, prefix, mode, args.duration, rate))
    # Other worker configurations: the floor and a returning vote, one pass each.
    configs = {}
    for label, options in WORKER_CONFIGS if args.configs else ():
        with gunicorn(env, *options) as (_proc, url):
            wait_until_up(url)
            for _name, prefix, mode in rows[1:3]:
                numbers.wrk(url, prefix, mode, 3)
            configs[label] = {
                name: numbers.wrk(url, prefix, mode, args.duration)
                for name, prefix, mode in rows[1:3]
            }
    outcomes = recorded_outcomes(env)
    if outcomes.get("duplicate"):
        raise RuntimeError(f"some callbacks were retries, not votes: {outcomes}")
    return {"results": results, "at_rate": at_rate, "configs": configs}


def report(database: str, figures: dict, args) -> str:
    results = figures["results"]
    floor = statistics.mean(r["rps"] for r in results["floor: INSERT one row"])
    lines = [
        f"### {'PostgreSQL' if database == 'postgres' else 'SQLite (WAL)'}",
        "",
        f"`wrk -t2 -c16 -d{args.duration}s`, {args.passes} interleaved passes (mean of the "
        f"passes; p99 is the worst pass), gunicorn {' '.join(args.gunicorn) or 'as configured'}"
        " (gunicorn.conf.py: gthread, 2 workers per core x 4 threads).",
        "",
        "| Scenario | requests/s | vs floor | p50 ms | p99 ms | non-2xx |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    target = TARGET_RATIO[database]
    verdicts = []
    for name, runs in results.items():
        rps = statistics.mean(r["rps"] for r in runs)
        if name in CALLBACKS:
            ratio = rps / floor
            verdicts.append(
                f"{name}: {ratio:.2f}x the floor, "
                + ("target met" if ratio >= target else f"{target - ratio:.2f}x short")
            )
        p50 = statistics.mean(r["p50"] for r in runs)
        p99 = max(r["p99"] for r in runs)
        bad = sum(r["non2xx"] for r in runs)
        total = sum(r["requests"] for r in runs)
        lines.append(
            f"| {name} | {rps:,.0f} | {rps / floor:.2f}x | {p50:.1f} | {p99:.1f} | "
            f"{bad:,} of {total:,} |"
        )
    lines += ["", "| At 70% of the maximum | target req/s | achieved | p50 ms | p99 ms |"]
    lines.append("|---|---:|---:|---:|---:|")
    for name, (rate, r) in figures["at_rate"].items():
        lines.append(
            f"| {name} | {rate:,.0f} | {r['rps']:,.0f} | {r['p50']:.1f} | {r['p99']:.1f} |"
        )
        verdicts.append(
            f"{name} at 70% of its maximum: p99 {r['p99']:.0f} ms, "
            + ("target met" if r["p99"] < 100 else f"{r['p99'] - 100:.0f} ms over 100 ms")
        )
    if figures["configs"]:
        lines += [
            "",
            "| Worker configuration (one pass each) | floor req/s | vote req/s | vote vs floor "
            "| vote p99 ms |",
            "|---|---:|---:|---:|---:|",
        ]
    for label, runs in figures["configs"].items():
        run_floor, vote = runs["floor: INSERT one row"], runs["poll vote, returning subscriber"]
        lines.append(
            f"| {label} | {run_floor['rps']:,.0f} | {vote['rps']:,.0f} | "
            f"{vote['rps'] / (run_floor['rps'] or float('nan')):.2f}x | {vote['p99']:.1f} |"
        )
    lines += ["", f"Targets (≥ {target}x the floor; p99 < 100 ms at 70% of the maximum):", ""]
    lines += [f"- {verdict}" for verdict in verdicts]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--passes", type=int, default=2)
    parser.add_argument(
        "--gunicorn", nargs="*", default=[], help="options for the main table's gunicorn"
    )
    parser.add_argument("--no-configs", dest="configs", action="store_false")
    parser.add_argument("--databases", default="postgres,sqlite")
    parser.add_argument("--output", default=str(ROOT / "docs" / "benchmarks-ingest.md"))
    args = parser.parse_args()
    load, started = os.getloadavg()[0], time.monotonic()
    out = [
        f"# Ingestion benchmark, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        "",
        f"    .venv/bin/python bench/ingest.py {' '.join(sys.argv[1:])}".rstrip(),
        "",
    ]
    for database in args.databases.split(","):
        out.append(report(database, measure(database, args), args))
    out.append(
        f"Load average (1 min): {load:.2f} before, {os.getloadavg()[0]:.2f} after; "
        f"{(time.monotonic() - started) / 60:.0f} minutes.\n"
    )
    text = "\n".join(out)
    if args.output == "-":
        print(text)
    else:
        Path(args.output).write_text(text)
        print(f"written to {args.output}")


if __name__ == "__main__":
    main()
