"""The admin's lockout as a person meets it: a real browser, the product under gunicorn."""

import pytest

PASSWORD = "correct-horse-battery"  # noqa: S105 - a test login

pytestmark = [pytest.mark.slow, pytest.mark.browser]


@pytest.fixture
def admin_login(server, django_user_model) -> str:
    django_user_model.objects.create_superuser("marketer", password=PASSWORD)
    return f"{server}/admin/login/"


def see(page, text: str) -> None:
    """Wait for the page the form's submission opens to show the text (the click returns
    before that page has loaded)."""
    page.get_by_text(text).first.wait_for()


def test_after_five_wrong_passwords_the_right_one_is_refused_too(admin_login, chromium):
    page = chromium.new_page()
    page.set_default_timeout(15_000)
    for attempt in range(4):
        page.goto(admin_login)
        page.fill("#id_username", "marketer")
        page.fill("#id_password", f"wrong-{attempt}")
        page.click("button[type=submit]")
        see(page, "Please enter the correct username and password")

    page.goto(admin_login)
    page.fill("#id_username", "marketer")
    page.fill("#id_password", "wrong-4")
    with page.expect_response(lambda r: r.url.startswith(admin_login)) as fifth:
        page.click("button[type=submit]")
    assert fifth.value.status == 429
    see(page, "too many login attempts")

    page.goto(admin_login)
    page.fill("#id_username", "marketer")
    page.fill("#id_password", PASSWORD)
    with page.expect_response(lambda r: r.url.startswith(admin_login)) as right:
        page.click("button[type=submit]")
    assert right.value.status == 429
    see(page, "too many login attempts")
    page.goto(admin_login.replace("/login/", "/"))
    assert "/admin/login/" in page.url  # still not logged in
