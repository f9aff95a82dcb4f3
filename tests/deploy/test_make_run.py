"""`make run` as a newcomer meets it: a short banner, a server, and commands that just work."""

import os
import signal
import stat
import subprocess
import sys
import time
import urllib.request

import pytest

from tests.server import ROOT, free_port

pytestmark = pytest.mark.slow


def without_settings() -> dict:
    """The environment of a new shell: no DJANGO_* or DATABASE_URL set by hand."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_"))}


@pytest.fixture
def make_run(tmp_path):
    """`make run` on a free port and a fresh SQLite file; yields (port, banner lines, paths)."""
    port = free_port()
    env = {
        **without_settings(),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "DJANGO_SUPERUSER_PASSWORD": "a-long-test-password",
    }
    command = [
        "make",
        "--no-print-directory",
        "run",
        f"PORT={port}",
        f"ENV_FILE={tmp_path / '.env'}",
        f"RUN_LOG={tmp_path / 'run.log'}",
    ]
    proc = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    banner = []
    try:
        for line in proc.stdout:
            banner.append(line.rstrip("\n"))
            if line.startswith("Server output goes to"):
                break
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, "\n".join(banner)
                time.sleep(0.2)
        yield port, banner, env, tmp_path
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


def test_make_run_prints_a_short_banner_and_serves(make_run):
    port, banner, _env, tmp_path = make_run

    assert len(banner) <= 10, banner
    assert f"Sumotext CRM: http://localhost:{port}/admin/" in banner
    assert "Admin login: admin / a-long-test-password" in banner
    urls = [line.split()[-1] for line in banner if "/callbacks/" in line]
    assert [url.rsplit("/", 2)[-2] for url in urls] == ["form", "poll", "info"]
    assert banner[-1].startswith(f"Server output goes to {tmp_path / 'run.log'}")

    with urllib.request.urlopen(urls[1] + "?mobile=2125551212&key=FB1&reply=A") as response:
        assert response.read() == b"OK"
    with urllib.request.urlopen(f"http://localhost:{port}/admin/login/") as response:
        assert response.status == 200
    log = (tmp_path / "run.log").read_text()
    assert "Applying callbacks.0001_initial... OK" in log
    assert "Listening at: http://127.0.0.1:" in log


def test_after_make_run_management_commands_need_no_settings(make_run):
    _port, _banner, env, tmp_path = make_run
    env_file = tmp_path / ".env"
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    assert "DJANGO_LOCAL=1" in env_file.read_text().splitlines()

    # A README command, run as printed, from a shell that set nothing but the database.
    result = subprocess.run(
        [sys.executable, "manage.py", "callback_urls", "--base-url", "https://crm.example.com"],
        cwd=ROOT,
        env={**env, "DJANGO_ENV_FILE": str(env_file)},
        capture_output=True,
        text=True,
    )

    assert result.returncode == 0, result.stderr
    assert "https://crm.example.com/callbacks/" in result.stdout


@pytest.mark.parametrize(
    "environment,expected", [({}, "5/min"), ({"API_RATE_LIMIT": "7/s"}, "7/s")]
)
def test_the_env_file_fills_what_the_environment_leaves_unset(tmp_path, environment, expected):
    env_file = tmp_path / ".env"
    env_file.write_text("DJANGO_LOCAL=1\nAPI_RATE_LIMIT=5/min\n")
    code = "from django.conf import settings; print(settings.API_RATE_LIMIT)"
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-v0", "-c", code],
        cwd=ROOT,
        env={**without_settings(), "DJANGO_ENV_FILE": str(env_file), **environment},
        capture_output=True,
        text=True,
    )
    assert result.stdout.strip() == expected, result.stderr
