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


def new_page(chromium, width: int, height: int = 900):
    context = chromium.new_context(
        viewport={"width": width, "height": height}, accept_downloads=True
    )
    page = context.new_page()
    page.set_default_timeout(15_000)
    return page


@pytest.fixture
def browser_page(chromium):
    """A laptop's screen: 1366 pixels wide."""
    return new_page(chromium, 1366)


@pytest.fixture
def phone_page(chromium):
    """A phone's screen: 390 pixels wide."""
    return new_page(chromium, 390, 844)


def log_in(page, server: str) -> None:
    page.goto(f"{server}/admin/login/")
    page.fill("#id_username", "marketer")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("#dashboard")


def wait_for_chart(page, canvas_id: str) -> None:
    """Until Unfold's Chart.js has drawn the chart on that canvas (after the page loads)."""
    page.wait_for_function("(id) => !!Chart.getChart(document.getElementById(id))", arg=canvas_id)


def overflow(page, selector: str = "body") -> int:
    """How many pixels the element's content sticks out to the right (0: nothing cut off)."""
    return page.evaluate(
        "(sel) => { const e = document.querySelector(sel);"
        " return Math.max(0, e.scrollWidth - e.clientWidth); }",
        selector,
    )


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
    log_in(page, server)
    assert "Sumotext CRM" in page.inner_text("#nav-sidebar, aside, body")
    # "View site" (in the account menu) leads to the dashboard: there is no other site.
    view_site = page.locator("a:has-text('View site')")
    assert [view_site.nth(n).get_attribute("href") for n in range(view_site.count())] == ["/admin/"]

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
    page.click("[name=_continue]")
    page.wait_for_url("**/change/")

    votes = [
        ("2125551212", "A", "VERIZONUS"),
        ("(305) 555-0000", "A", "ATT"),
        ("4155550100", "B", "VERIZONUS"),
        ("8135550100", "c", "TMO"),  # no such choice yet: the callback makes it
    ]
    for mobile, reply, carrier in votes:
        answer = callback(
            server,
            endpoint,
            "poll",
            mobile=mobile,
            shortcode="84700",
            key="FB1",
            reply=reply,
            label="Orlando" if reply == "c" else "",
            carrier=carrier,
        )
        assert answer == "OK"
    callback(server, endpoint, "info", lead="FB1", mobile="2125551212", msg="=HYPERLINK(x)")
    form = {"shortcode": "84700", "key": "JOIN", "Name": "Bill", "Zip": "10024"}
    callback(server, endpoint, "form", mobile="2125551212", **form)
    with pytest.raises(HTTPError) as rejected:
        callback(server, endpoint, "poll", mobile="not-a-number", key="FB1", reply="A")
    assert rejected.value.code == 400

    page.click("a.results-link")
    page.wait_for_selector("#choices")
    cells = [row.split("\t") for row in page.inner_text("#choices tbody").splitlines() if row]
    rows = {cell[1].replace("from a callback", "").strip(): (cell[0], cell[2]) for cell in cells}
    assert rows == {"Tampa": ("A", "2"), "Miami": ("B", "1"), "Orlando": ("C", "1")}
    # The chart is drawn, with a line per choice and labelled axes.
    wait_for_chart(page, "chart-timeline")
    chart = page.evaluate(
        "() => { const c = Chart.getChart(document.getElementById('chart-timeline'));"
        " return {lines: c.data.datasets.length, x: c.scales.x.ticks.length > 0,"
        " y: c.scales.y.ticks.length > 0}; }"
    )
    assert chart == {"lines": 3, "x": True, "y": True}
    page.click("button[data-breakdown*='/by/state/']")
    page.wait_for_selector(".breakdown-table")
    by_state = page.inner_text(".breakdown-table")
    assert "Florida\t1\t0\t1\t2" in by_state and "New York\t1\t0\t0\t1" in by_state
    assert page.evaluate("() => !!Chart.getChart(document.querySelector('#breakdown canvas'))")
    screenshot(page, "poll-results")

    page.goto(f"{server}/admin/campaigns/pollresponse/?q=(212) 555-1212")
    # Numbers of the default country read the national way; the E.164 form shows on hover.
    assert "(212) 555-1212" in page.inner_text("#result_list")
    assert "(305) 555-0000" not in page.inner_text("#result_list")
    page.goto(f"{server}/admin/campaigns/pollresponse/?reply=A")
    screenshot(page, "poll-responses")
    with page.expect_download() as download:
        page.click("a.export-csv")
    exported = Path(download.value.path()).read_text()
    rows = list(csv.DictReader(io.StringIO(exported)))
    assert sorted(row["Mobile"] for row in rows) == ["+12125551212", "+13055550000"]
    assert {row["Choice"] for row in rows} == {"Tampa"}
    # The same rows "for Excel": a UTF-8 byte-order mark first, times in the configured zone.
    with page.expect_download() as download:
        page.click("a.export-excel-csv")
    for_excel = Path(download.value.path()).read_bytes()
    assert for_excel.startswith(b"\xef\xbb\xbfReceived at (UTC),Mobile,")
    assert for_excel[3:].decode().splitlines() == exported.splitlines()

    page.goto(f"{server}/admin/crm/subscriber/?q=212-555-1212")
    page.click("#result_list tbody a")
    timeline = page.inner_text(".timeline")
    assert timeline.index("=HYPERLINK(x)") < timeline.index("A: Tampa")
    # Custom fields, a row each: change one, add one.
    page.fill("input[name=fields_value][value='10024']", "10025")
    page.click("button[data-add-row]")
    page.locator("input[name=fields_key]").last.fill("City")
    page.locator("input[name=fields_value]").last.fill("New York")
    page.click("[name=_continue]")
    page.wait_for_selector("input[name=fields_value][value='New York']")
    assert page.locator("input[name=fields_value][value='10025']").count() == 1
    screenshot(page, "subscriber")

    page.goto(f"{server}/admin/")
    assert page.inner_text("#card-subscribers") == "4"
    assert page.inner_text("#card-callbacks") == "7"
    assert "1 rejected" in page.inner_text("#dashboard-problems")
    assert "Best city (84700 FB1)" in page.inner_text("#dashboard-busiest")
    wait_for_chart(page, "chart-callbacks")
    assert (
        page.evaluate(
            "() => Chart.getChart(document.getElementById('chart-callbacks'))"
            ".data.datasets[0].data.at(-1)"
        )
        == 6
    )
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.click("#dashboard-urls button[data-copy*='/poll/']")
    assert page.evaluate("() => navigator.clipboard.readText()").endswith(endpoint.url_path("poll"))
    screenshot(page, "admin-home")


def test_the_admin_fits_a_laptop_and_a_phone(server, sumotext, browser_page, phone_page):
    for n, reply in enumerate("AB"):
        callback(server, sumotext, "poll", mobile=f"212555010{n}", key="FB1", reply=reply)
    for page in (browser_page, phone_page):
        log_in(page, server)
        for path in ("/admin/", "/admin/campaigns/campaign/", "/admin/crm/subscriber/"):
            page.goto(f"{server}{path}")
            assert overflow(page, "html") == 0, (page.viewport_size, path)
    browser_page.goto(f"{server}/admin/campaigns/campaign/")
    assert overflow(browser_page, "#result_list") == 0, "no campaign column is cut off"
