"""The admin in a real browser, against the product running under gunicorn.

A marketer logs in, sets up a poll, callbacks arrive over HTTP, the marketer reads the
results and exports the votes. SCREENSHOT_DIR=docs/screenshots saves the README's pictures.
"""

import csv
import io
import os
from pathlib import Path
from urllib.error import HTTPError
from urllib.parse import urlencode
from urllib.request import urlopen

import pytest

from callbacks.models import Endpoint

PASSWORD = "correct-horse-battery"  # noqa: S105 - a test login

pytestmark = [pytest.mark.slow, pytest.mark.browser]


@pytest.fixture
def sumotext(server, django_user_model) -> Endpoint:
    """The marketer's login and the platform's endpoint, made before the browser starts.

    Database work inside Playwright's sync API would run in another context and open a
    second connection that outlives the test (PostgreSQL then cannot drop the test database).
    """
    django_user_model.objects.create_superuser("marketer", password=PASSWORD)
    return Endpoint.objects.create(name="Sumotext")


@pytest.fixture
def browser_page(chromium):
    context = chromium.new_context(viewport={"width": 1280, "height": 800}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(15_000)
    return page


def screenshot(page, name: str) -> None:
    folder = os.environ.get("SCREENSHOT_DIR")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


def callback(server: str, endpoint: Endpoint, kind: str, **params) -> str:
    with urlopen(f"{server}{endpoint.url_path(kind)}?{urlencode(params)}") as response:  # noqa: S310
        return response.read().decode()


def test_a_marketer_runs_a_poll_from_the_admin(server, sumotext, browser_page):
    page, endpoint = browser_page, sumotext

    page.goto(f"{server}/admin/login/")
    page.fill("#id_username", "marketer")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_selector("#dashboard")

    page.goto(f"{server}/admin/campaigns/campaign/add/")
    page.fill("#id_name", "Best city")
    page.fill("#id_shortcode", "84700")
    page.fill("#id_keyword", "FB1")
    page.select_option("#id_kind", "poll")
    page.fill("#id_reply_text", "Thanks for voting! " * 9)
    assert "171 / 160 characters · 2 SMS segments" in page.inner_text(".sms-counter")
    page.fill("#id_reply_text", "Thanks for voting!")
    assert "18 / 160 characters · 1 SMS segment" in page.inner_text(".sms-counter")
    page.fill("#id_choices-0-reply", "A")
    page.fill("#id_choices-0-label", "Tampa")
    page.fill("#id_choices-0-order", "1")
    page.fill("#id_choices-1-reply", "B")
    page.fill("#id_choices-1-label", "Miami")
    page.fill("#id_choices-1-order", "2")
    screenshot(page, "campaign-form")
    page.click("input[name=_continue]")
    page.wait_for_selector(".messagelist .success")

    for mobile, reply in [("2125551212", "A"), ("(305) 555-0000", "A"), ("4155550100", "B")]:
        answer = callback(
            server,
            endpoint,
            "poll",
            mobile=mobile,
            shortcode="84700",
            key="FB1",
            reply=reply,
            carrier="VERIZONUS",
        )
        assert answer == "OK"
    callback(server, endpoint, "info", lead="FB1", mobile="2125551212", msg="=HYPERLINK(x)")
    with pytest.raises(HTTPError) as rejected:
        callback(server, endpoint, "poll", mobile="not-a-number", key="FB1", reply="A")
    assert rejected.value.code == 400

    page.click("a.results-link")
    table = page.inner_text("#choices")
    screenshot(page, "poll-results")
    cells = [line.split("\t") for line in table.splitlines()[1:] if line.strip()]
    rows = {cell[1]: cell[2] for cell in cells}
    assert rows == {"Tampa": "2", "Miami": "1"}

    page.goto(f"{server}/admin/campaigns/pollresponse/?q=(212) 555-1212")
    assert "+12125551212" in page.inner_text("#result_list")
    assert "+13055550000" not in page.inner_text("#result_list")
    page.goto(f"{server}/admin/campaigns/pollresponse/?reply=A")
    screenshot(page, "poll-responses")
    with page.expect_download() as download:
        page.click("a.export-csv")
    exported = Path(download.value.path()).read_text()
    rows = list(csv.DictReader(io.StringIO(exported)))
    assert sorted(row["mobile"] for row in rows) == ["+12125551212", "+13055550000"]
    assert {row["choice"] for row in rows} == {"Tampa"}

    page.goto(f"{server}/admin/crm/subscriber/?q=212-555-1212")
    page.click("#result_list tbody th a")
    timeline = page.inner_text(".timeline")
    assert timeline.index("=HYPERLINK(x)") < timeline.index("A: Tampa")
    screenshot(page, "subscriber")

    page.goto(f"{server}/admin/")
    dashboard = page.inner_text("#dashboard")
    assert "Poll\t4\t4" in dashboard and "1 rejected" in dashboard
    screenshot(page, "admin-home")
