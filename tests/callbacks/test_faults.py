"""Faults, through a real gunicorn on a PostgreSQL server of the test's own.

The database goes away for about ten seconds in the middle of a stream of votes, and a
worker is killed mid-stream: no callback answered 200 may be lost, none stored twice.
"""

import http.client
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import psycopg
import pytest

from tests.postgres import postgres_server
from tests.server import ROOT, gunicorn

pytestmark = pytest.mark.slow

MOBILES = [f"212555{n:04d}" for n in range(40)]
REPLIES = "ABC"


@pytest.fixture(scope="module")
def database():
    with postgres_server() as server:
        if server is None:
            pytest.skip("PostgreSQL's initdb and pg_ctl are not installed")
        env = app_env(server.url, spool_dir="")
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput"],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
        )
        yield server


def app_env(database_url: str, spool_dir: str) -> dict:
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "DJANGO_LOCAL": "1",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "CALLBACK_SPOOL_DIR": spool_dir,
        "DATABASE_CONNECT_TIMEOUT": "2",
    }


@pytest.fixture
def app(database):
    """(gunicorn process, base URL, poll callback path, spool folder) on the private database."""
    with tempfile.TemporaryDirectory() as spool_dir:
        env = app_env(database.url, spool_dir)
        urls = subprocess.run(
            [sys.executable, "manage.py", "callback_urls"],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        path = re.search(r"http://localhost:8000(/callbacks/\S+/poll/)", urls).group(1)
        with gunicorn(env, "--workers", "2", "--threads", "4") as (process, base_url):
            yield process, base_url, path, Path(spool_dir)


def send(base_url: str, path: str) -> int | None:
    """The HTTP status, or None when the connection broke before an answer."""
    conn = http.client.HTTPConnection(base_url.removeprefix("http://"), timeout=30)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        return response.status
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()


def votes(count: int) -> list[tuple[int, str, str]]:
    """(sequence number, mobile, reply): each vote unique by its sequence number."""
    return [(n, MOBILES[n % len(MOBILES)], REPLIES[n % len(REPLIES)]) for n in range(count)]


def stream(base_url, path, run, sent, per_second=25, senders=4) -> dict[int, int | None]:
    """Send the votes at a steady rate from a few threads; the status each one got."""
    statuses: dict[int, int | None] = {}
    start, next_index, lock = time.monotonic(), iter(range(len(sent))), threading.Lock()

    def sender():
        while True:
            with lock:
                i = next(next_index, None)
            if i is None:
                return
            time.sleep(max(0.0, start + i / per_second - time.monotonic()))
            seq, mobile, reply = sent[i]
            query = f"mobile={mobile}&shortcode=84700&key={run}&reply={reply}&label=L{reply}"
            statuses[seq] = send(base_url, f"{path}?{query}&seq={seq}")

    threads = [threading.Thread(target=sender) for _ in range(senders)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return statuses


def stored(database, run: str) -> dict:
    """What the database holds for one run's campaign, read straight from its tables."""
    with psycopg.connect(database.url.replace("postgres://", "postgresql://")) as conn:
        events = conn.execute(
            "SELECT query_string, outcome, spooled_at IS NOT NULL FROM callbacks_callbackevent "
            "WHERE query_string LIKE %s",
            [f"%key={run}&%"],
        ).fetchall()
        tallies = conn.execute(
            "SELECT c.reply, count(*) FROM campaigns_pollresponse r "
            "JOIN campaigns_pollchoice c ON c.id = r.choice_id "
            "JOIN campaigns_campaign k ON k.id = r.campaign_id WHERE k.keyword = %s "
            "GROUP BY c.reply",
            [run],
        ).fetchall()
        voters = conn.execute(
            "SELECT count(DISTINCT r.subscriber_id) FROM campaigns_pollresponse r "
            "JOIN campaigns_campaign k ON k.id = r.campaign_id WHERE k.keyword = %s",
            [run],
        ).fetchone()[0]
    seqs = Counter(int(re.search(r"seq=(\d+)", q).group(1)) for q, _, _ in events)
    return {
        "seqs": seqs,
        "outcomes": Counter(outcome for _, outcome, _ in events),
        "spooled": sum(1 for _, _, spooled in events if spooled),
        "tallies": dict(tallies),
        "voters": voters,
    }


def report(fault: str, sent, statuses: dict, found: dict) -> None:
    """The figures docs/reliability.md quotes (shown with pytest -s)."""
    acknowledged = {seq for seq, status in statuses.items() if status == 200}
    print(
        f"\n{fault}: sent {len(sent)}, answered {dict(Counter(statuses.values()))}, "
        f"spooled {found['spooled']}, stored {len(found['seqs'])}, "
        f"stored twice {sum(1 for n in found['seqs'].values() if n > 1)}, "
        f"acknowledged but lost {len(acknowledged - set(found['seqs']))}, "
        f"outcomes {dict(found['outcomes'])}"
    )


def wait_until_drained(database, run, spool_dir: Path, expected: int, seconds=120) -> dict:
    deadline = time.monotonic() + seconds
    while True:
        try:
            found = stored(database, run)
        except psycopg.OperationalError:
            found = None
        drained = found and sum(found["seqs"].values()) >= expected
        if (drained and not list(spool_dir.glob("*.json"))) or time.monotonic() > deadline:
            return found
        time.sleep(0.5)


def test_the_database_going_away_loses_and_doubles_nothing(database, app):
    _process, base_url, path, spool_dir = app
    # 16 s of votes at 20 a second, the database away for 10 s from the 2nd; the issue's
    # figures came from FAULT_VOTES=2000 FAULT_RATE=40 FAULT_OUTAGE=16 (docs/reliability.md).
    rate = int(os.environ.get("FAULT_RATE", 20))
    sent = votes(int(os.environ.get("FAULT_VOTES", 320)))
    down_for = float(os.environ.get("FAULT_OUTAGE", 10))

    def outage():
        time.sleep(2)
        database.stop()
        time.sleep(down_for)
        database.start()

    cut = threading.Thread(target=outage)
    cut.start()
    statuses = stream(base_url, path, "OUTAGE", sent, per_second=rate)
    cut.join()
    found = wait_until_drained(database, "OUTAGE", spool_dir, len(sent))
    report(f"database stopped {down_for:g} s", sent, statuses, found)

    assert Counter(statuses.values()) == {200: len(sent)}
    assert found["seqs"] == Counter(range(len(sent)))  # every vote exactly once
    assert found["outcomes"] == {"processed": len(sent)}
    assert found["spooled"] > 0  # the outage really happened while votes came in
    assert found["tallies"] == Counter(reply for _, _, reply in sent)
    assert found["voters"] == len({mobile for _, mobile, _ in sent})
    assert not list(spool_dir.glob("*.json"))


def workers_of(master_pid: int) -> list[int]:
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == master_pid:
            children.append(int(stat.parent.name))
    return children


def test_a_worker_killed_mid_stream_loses_no_acknowledged_callback(database, app):
    process, base_url, path, spool_dir = app
    sent = votes(300)

    def kill_a_worker():
        # Three times, so some kill lands on a request in flight; gunicorn starts a new one.
        for _ in range(3):
            time.sleep(2.5)
            os.kill(workers_of(process.pid)[0], signal.SIGKILL)

    killer = threading.Thread(target=kill_a_worker)
    killer.start()
    statuses = stream(base_url, path, "KILLED", sent, per_second=30)
    killer.join()
    acknowledged = {seq for seq, status in statuses.items() if status == 200}
    found = wait_until_drained(database, "KILLED", spool_dir, len(acknowledged))
    report("worker SIGKILLed", sent, statuses, found)

    assert set(statuses.values()) <= {200, None}  # an answer, or the connection cut
    assert len(acknowledged) > len(sent) // 2
    assert acknowledged <= set(found["seqs"])
    assert max(found["seqs"].values()) == 1  # none stored twice
    assert not list(spool_dir.glob("*.json"))
