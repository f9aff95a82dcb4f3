"""`make demo`: sample data through the real pipeline and real URLs, then a running server."""

import os
import signal
import sqlite3
import subprocess
import urllib.request

import pytest

from tests.deploy.test_make_run import without_settings
from tests.server import ROOT, free_port

pytestmark = pytest.mark.slow


def test_make_demo_fills_a_database_and_keeps_serving(tmp_path):
    port = free_port()
    db = tmp_path / "demo.sqlite3"
    env = {**without_settings(), "DJANGO_SUPERUSER_PASSWORD": "a-long-demo-password"}
    command = ["make", "--no-print-directory", "demo", f"PORT={port}", "DEMO_CALLBACKS=60"]
    command += [f"DEMO_DB={db}", f"DEMO_LOG={tmp_path / 'demo.log'}"]
    command += [f"ENV_FILE={tmp_path / '.env'}"]
    proc = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        banner = []
        for line in proc.stdout:
            banner.append(line.rstrip("\n"))
            if line.startswith("Server output goes to"):
                break
        text = "\n".join(banner)
        assert "Sent 60 callbacks for" in text and "Answers: 60 x 200." in text, text
        assert f"Sumotext CRM demo: http://localhost:{port}/admin/" in banner
        assert "Admin login: admin / a-long-demo-password" in banner
        # Still serving after the banner.
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=10) as response:
            assert response.status == 200
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)

    with sqlite3.connect(db) as conn:
        events, days = conn.execute(
            "SELECT count(*), count(DISTINCT date(received_at)) FROM callbacks_callbackevent"
        ).fetchone()
        kinds = dict(conn.execute("SELECT kind, count(*) FROM campaigns_campaign GROUP BY kind"))
        labels = {row[0] for row in conn.execute("SELECT label FROM campaigns_pollchoice")}
        outcomes = {row[0] for row in conn.execute("SELECT outcome FROM callbacks_callbackevent")}
    assert events == 400 + 60
    assert days >= 10  # two weeks of history, and today's callbacks
    assert kinds == {"form": 1, "info": 1, "poll": 1}
    assert labels == {"Tampa", "Miami", "Orlando"}
    assert outcomes == {"processed"}
