import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import pytest
from django.core.cache import cache
from django.db import connection

from callbacks.models import Endpoint
from tests.server import gunicorn


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


@contextmanager
def serving(django_db_blocker):
    """The product under gunicorn in its own process, on the test database."""
    with django_db_blocker.unblock():
        url = database_url()
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "DJANGO_LOCAL": "1",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        # The API tests drive it with thousands of requests from one user (throttling has
        # its own test, in process).
        "API_RATE_LIMIT": "1000000/min",
    }
    with tempfile.TemporaryDirectory() as spool_dir:
        env["CALLBACK_SPOOL_DIR"] = spool_dir
        with gunicorn(env, "--workers", "2", "--threads", "4") as (_process, base_url):
            yield base_url


@pytest.fixture(scope="session")
def server_process(django_db_setup, django_db_blocker):
    """One server for the session."""
    with serving(django_db_blocker) as base_url:
        yield base_url


@pytest.fixture
def server(server_process, transactional_db) -> str:
    """The base URL of the running server; what the test writes is committed, so it sees it."""
    return server_process


@pytest.fixture
def own_server(django_db_setup, django_db_blocker, transactional_db):
    """A server started for this test alone: the admin writes its history with content type
    ids a long-lived server would have cached before the database was emptied between tests
    (emptying makes them anew, with new ids)."""
    with serving(django_db_blocker) as base_url:
        yield base_url


CHROMIUM = "/usr/bin/chromium"


@pytest.fixture
def chromium():
    """Debian's chromium driven by Playwright, which may not download a browser of its own.

    Make database rows before asking for it: the ORM may not run in Playwright's thread.
    """
    if not Path(CHROMIUM).exists():
        if os.environ.get("REQUIRE_BROWSER") == "1":
            pytest.fail(f"{CHROMIUM} is missing and REQUIRE_BROWSER=1")
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            # No background traffic: the machine reaches nothing outside, by design.
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield browser
        browser.close()
