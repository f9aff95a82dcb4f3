"""The API docs render in a real browser that may reach nothing but this site."""

import os
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.contrib.auth.models import User

CHROMIUM = "/usr/bin/chromium"
pytestmark = [pytest.mark.slow, pytest.mark.browser]


@pytest.fixture
def admin(transactional_db) -> User:
    # Before the browser starts: Playwright's event loop forbids the ORM in its thread.
    return User.objects.create_superuser("admin", password="docs-pass-123")


@pytest.fixture
def page(admin):
    if not Path(CHROMIUM).exists():
        if os.environ.get("REQUIRE_BROWSER") == "1":
            pytest.fail(f"{CHROMIUM} is missing and REQUIRE_BROWSER=1")
        pytest.skip(f"{CHROMIUM} is missing")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield browser.new_page()
        browser.close()


@pytest.mark.parametrize(
    ("url", "shows"),
    [("/api/docs/", ".opblock-summary-path"), ("/api/redoc/", "[role=menuitem]")],
)
def test_docs_render_with_no_internet(server, page, url, shows):
    outside = []

    def only_this_site(route):
        if urlsplit(route.request.url).hostname in ("127.0.0.1", "localhost"):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.route("**/*", only_this_site)
    page.goto(f"{server}/admin/login/?next={url}")
    page.fill("#id_username", "admin")
    page.fill("#id_password", "docs-pass-123")
    page.click("input[type=submit]")
    page.wait_for_selector(shows, timeout=20000)
    assert "/api/poll-responses/" in page.content()
    assert outside == []
