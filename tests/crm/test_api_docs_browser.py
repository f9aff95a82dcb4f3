"""The API docs render in a real browser that may reach nothing but this site."""

from urllib.parse import urlsplit

import pytest
from django.contrib.auth.models import User

pytestmark = [pytest.mark.slow, pytest.mark.browser]


@pytest.fixture
def admin(transactional_db) -> User:
    # Before the browser starts: Playwright's event loop forbids the ORM in its thread.
    return User.objects.create_superuser("admin", password="docs-pass-123")


@pytest.fixture
def page(admin, chromium):
    return chromium.new_page()


@pytest.mark.parametrize(
    ("url", "shows"),
    [("/api/v1/docs/", ".opblock-summary-path"), ("/api/v1/redoc/", "[role=menuitem]")],
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
    page.click("button[type=submit]")
    page.wait_for_selector(shows, timeout=20000)
    assert "/api/v1/poll-responses/" in page.content()
    assert outside == []
