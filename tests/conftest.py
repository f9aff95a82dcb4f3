import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

import pytest
from django.core.cache import cache
from django.db import connection

from callbacks.models import Endpoint

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def empty_cache():
    """Throttles count in the cache: no test inherits another's requests."""
    cache.clear()


@pytest.fixture
def endpoint(db) -> Endpoint:
    return Endpoint.objects.create(name="Sumotext")


def database_url() -> str:
    """A URL for the test database this test run uses, for a server in another process."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    auth = quote(db["USER"] or "")
    if db["PASSWORD"]:
        auth += ":" + quote(db["PASSWORD"])
    return f"postgres://{auth}@{db['HOST'] or 'localhost'}:{db['PORT'] or 5432}/{db['NAME']}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def server_process(django_db_setup, django_db_blocker):
    """The product under gunicorn in its own process, on the test database, once a session."""
    with django_db_blocker.unblock():
        url = database_url()
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "DJANGO_LOCAL": "1",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        # The API tests drive it with thousands of requests from one user (throttling has
        # its own test, in process).
        "API_RATE_LIMIT": "1000000/min",
    }
    # A file, not a pipe: nobody reads a pipe while tests run, and once its 64 KiB are full
    # of request logs every worker blocks writing to it.
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "crm.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
            "--threads",
            "4",
            "--limit-request-line",
            "8190",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                log.seek(0)
                raise RuntimeError(f"no server: {log.read().decode()}") from None
            time.sleep(0.1)
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(timeout=10)
    log.close()


@pytest.fixture
def server(server_process, transactional_db) -> str:
    """The base URL of the running server; what the test writes is committed, so it sees it."""
    return server_process
