"""The admin in a real browser, against the product running under gunicorn.

A marketer logs in, sets up a poll, callbacks arrive over HTTP, the marketer reads the
results and exports the votes. SCREENSHOT_DIR=docs/screenshots saves the README's pictures.
"""

import csv
import io
import os
from datetime import UTC, datetime
from pathlib import Path
from urllib.error import HTTPError
from urllib.parse import urlencode
from urllib.request import urlopen

import pytest

from callbacks.models import Endpoint
from campaigns.models import Campaign, PollChoice
from subscribers.models import Subscriber

PASSWORD = "correct-horse-battery"  # noqa: S105 - a test login

pytestmark = [pytest.mark.slow, pytest.mark.browser]


@pytest.fixture
def server(own_server) -> str:
    """A server per test: these tests write the admin's history (content types)."""
    return own_server


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


@pytest.fixture
def bill(server, db):
    """A subscriber a callback brought a month ago, made before the browser starts."""
    seen = datetime(2026, 1, 5, 14, 30, tzinfo=UTC)
    return Subscriber.objects.create(
        mobile="+12125551212",
        country="US",
        carrier="VZ",
        fields={"Name": "Bill", "Zip": "10024"},
        first_seen_at=seen,
        last_seen_at=seen,
    )


def upload(page, server: str, text: str) -> None:
    page.goto(f"{server}/admin/crm/subscriber/import/")
    file = {"name": "contacts.csv", "mimeType": "text/csv", "buffer": text.encode()}
    page.set_input_files("input[name=import_file]", files=[file])
    page.click("form[enctype] button[type=submit]")
    page.wait_for_selector("#import-preview")


def seen_times(page, server: str, subscriber: Subscriber) -> dict:
    """What the subscriber's page says of when they were seen and imported."""
    page.goto(f"{server}/admin/crm/subscriber/{subscriber.pk}/change/")
    labels = ("First seen at", "Last seen at", "Imported at")
    return {
        label: page.locator(".field-line", has_text=label).locator(".grow").inner_text().strip()
        for label in labels
    }


def test_a_marketer_imports_contacts(server, sumotext, bill, browser_page, phone_page):
    with_a_mistake = "Mobile,Name,Zip\n(212) 555-1212,Bill,10025\n4155550100,Ann,94110\n555,Bob,\n"
    corrected = with_a_mistake.replace("555,Bob", "3055550000,Bob")
    for page in (browser_page, phone_page):
        log_in(page, server)
        width = page.viewport_size["width"]
        if page is browser_page:
            before = seen_times(page, server, bill)
            assert "Jan 5, 2026" in before["Last seen at"] and before["Imported at"] == "-"

        upload(page, server, with_a_mistake)
        # The bad row's reason is written beside it, with the file's line (the header is 1).
        problem = page.locator("tr.import-problem[data-line='4']")
        assert problem.is_visible(), width
        assert (
            problem.inner_text().strip() == "Line 4: Mobile '555' is not a valid phone number in US"
        )
        assert "nothing was imported" in page.inner_text("#import-problems")
        assert page.locator("text=Confirm import").count() == 0
        assert overflow(page, "html") == 0, width

        upload(page, server, corrected)
        changed = page.locator("tr[data-line='2'] td.import-changed")
        assert changed.is_visible(), width
        assert changed.inner_text().split() == ["10024", "→", "10025"]
        assert "New subscriber" in page.inner_text("tr[data-line='3']")
        # Every column of the file, the custom fields included.
        ann = page.locator("tr[data-line='3'] td")
        labels = [ann.nth(n).get_attribute("data-label") for n in range(ann.count())]
        assert labels == ["Line", "Result", "Mobile", "Name", "Zip"]
        assert page.locator("tr[data-line='3'] td[data-label='Zip']").inner_text() == "94110"
        assert overflow(page, "html") == 0, width
        screenshot(page, f"import-preview-{width}")

    phone_page.click("text=Confirm import")
    phone_page.wait_for_url("**/admin/crm/subscriber/")
    after = seen_times(browser_page, server, bill)
    assert after["Last seen at"] == before["Last seen at"]
    assert after["First seen at"] == before["First seen at"]
    assert after["Imported at"] != "-"
    assert browser_page.locator("input[name=fields_value][value='10025']").count() == 1
    browser_page.goto(f"{server}/admin/crm/subscriber/?q=Ann")
    assert "(415) 555-0100" in browser_page.inner_text("#result_list")


def visible_text(page, selector: str) -> str:
    """The element's text, after checking a reader can see it."""
    element = page.locator(selector).first
    assert element.is_visible(), (page.viewport_size["width"], selector)
    return element.inner_text()


def test_each_admin_page_reads_on_a_laptop_and_a_phone(server, sumotext, browser_page, phone_page):
    """Each page of issue 11 at 1366 and 390 px: its content is there and visible, and the
    page never scrolls sideways (a table may scroll inside its own box)."""
    votes = [("2125551212", "A", "Tampa"), ("3055550000", "B", "Miami"), ("4155550100", "A", "")]
    for mobile, reply, label in votes:
        callback(
            server,
            sumotext,
            "poll",
            mobile=mobile,
            shortcode="84700",
            key="FB1",
            reply=reply,
            label=label,
            carrier="VERIZONUS",
        )
    callback(server, sumotext, "poll", mobile="2125551212", shortcode="84700", key="FB2", reply="A")
    form = {"shortcode": "84700", "key": "JOIN", "Name": "Bill", "Zip": "10024"}
    callback(server, sumotext, "form", mobile="2125551212", **form)
    for page in (browser_page, phone_page):
        width = page.viewport_size["width"]
        log_in(page, server)

        # Dashboard: the cards and the charts.
        assert visible_text(page, "#card-subscribers") == "3"
        wait_for_chart(page, "chart-callbacks")
        assert page.locator("#chart-callbacks").is_visible()
        assert "FB1" in visible_text(page, "#dashboard-busiest")
        assert overflow(page, "html") == 0, (width, "dashboard")

        # Campaigns: counts and the needs-review badge with its reason.
        page.goto(f"{server}/admin/campaigns/campaign/?q=FB1")
        row = page.locator("#result_list tbody tr").first
        assert row.locator(".crm-badge-warning").inner_text() == "Needs review"
        assert row.locator(".crm-reason").is_visible()
        assert row.locator("td.field-responses").inner_text().strip() == "3"
        assert row.locator("td.field-subscribers").inner_text().strip() == "3"
        assert overflow(page, "html") == 0, (width, "campaigns")

        # Results: choices, the chart and a breakdown with its own chart.
        row.locator("td.field-results a").click()
        choices = visible_text(page, "#choices")
        assert "Tampa" in choices and "Miami" in choices
        wait_for_chart(page, "chart-timeline")
        assert page.locator("#chart-timeline").is_visible()
        page.click("button[data-breakdown*='/by/carrier/']")
        page.wait_for_selector(".breakdown-table")
        assert "VERIZONUS" in visible_text(page, ".breakdown-table").upper()
        assert page.evaluate("() => !!Chart.getChart(document.querySelector('#breakdown canvas'))")
        assert overflow(page, "html") == 0, (width, "results")

        # Lists: times with minutes and the zone, national numbers, custom-field columns.
        page.goto(f"{server}/admin/campaigns/formsubmission/")
        assert "Times in UTC" in visible_text(page, ".time-zone-note")
        submission = visible_text(page, "#result_list tbody tr")
        assert "(212) 555-1212" in submission
        assert "Bill" in submission and "10024" in submission
        assert (
            page.locator("#result_list tbody .field-received_at").first.inner_text().count(":") == 1
        )
        assert overflow(page, "html") == 0, (width, "form submissions")
        page.goto(f"{server}/admin/campaigns/pollresponse/?q=(305) 555-0000")
        assert visible_text(page, "#result_list tbody").count("(305) 555-0000") == 1
        assert overflow(page, "html") == 0, (width, "poll responses")
        # The filters open in a sheet that fits the screen; the campaign filter of votes
        # offers the polls, not the form.
        page.click("a[x-on\\:click='filterOpen = true']")
        page.wait_for_selector("#changelist-filter", state="visible")
        filters = visible_text(page, "#changelist-filter")
        assert "FB1" in filters and "FB2" in filters and "JOIN" not in filters, width
        sheet = page.locator("#changelist-filter").bounding_box()
        assert sheet["x"] >= 0 and sheet["x"] + sheet["width"] <= width

        # The subscriber page: custom fields as rows a person edits.
        page.goto(f"{server}/admin/crm/subscriber/?q=Bill")
        page.locator("#result_list tbody a").first.click()
        # The click starts a navigation: wait for the page it opens.
        page.wait_for_selector("input[name=fields_value]", state="attached")
        value = page.locator("input[name=fields_value][value='10024']")
        assert value.is_visible(), width
        assert page.locator("button[data-add-row]").is_visible(), width
        assert overflow(page, "html") == 0, (width, "subscriber")


@pytest.fixture
def fb1_voters(server, sumotext) -> dict:
    """A poll with two choices and four voters who gave their zip on a form; made before the
    browser starts. 1001 voted B, zip 10024; 1002 B, 90210; 1003 A, 10001; 1004 A then B,
    10003."""
    poll = Campaign.objects.create(name="Best city", shortcode="84700", keyword="FB1", kind="poll")
    PollChoice.objects.create(campaign=poll, reply="A", label="Tampa", order=1)
    miami = PollChoice.objects.create(campaign=poll, reply="B", label="Miami", order=2)
    voters = {"1001": ("B", "10024"), "1002": ("B", "90210"), "1003": ("A", "10001")}
    voters["1004"] = ("AB", "10003")
    for last, (replies, zip_code) in voters.items():
        for reply in replies:
            callback(
                server,
                sumotext,
                "poll",
                mobile=f"212555{last}",
                shortcode="84700",
                key="FB1",
                reply=reply,
            )
        form = {"shortcode": "84700", "key": "JOIN", "Name": f"Voter {last}", "Zip": zip_code}
        callback(server, sumotext, "form", mobile=f"212555{last}", **form)
    return {"poll": poll, "miami": miami}


def test_a_marketer_saves_a_segment_and_uses_it_everywhere(server, fb1_voters, browser_page):
    page, poll, miami = browser_page, fb1_voters["poll"], fb1_voters["miami"]
    log_in(page, server)

    # Voted B in FB1 (the filter sheet's links), then zip 100xx (its form).
    page.goto(f"{server}/admin/crm/subscriber/?took_part_in={poll.pk}")
    page.click("a[x-on\\:click='filterOpen = true']")
    page.click(f"#changelist-filter a[href*='voted={miami.pk}']")
    page.click("a[x-on\\:click='filterOpen = true']")
    page.select_option("#field-starts-form select[name=field]", "Zip")
    page.fill("#field-starts-form input[name=field_starts]", "100")
    page.click("#field-starts-form button[type=submit]")
    page.wait_for_url("**field_starts=100**")
    listed = page.inner_text("#result_list")
    assert "(212) 555-1001" in listed and "(212) 555-1004" in listed
    assert "555-1002" not in listed and "555-1003" not in listed

    page.click("a.save-segment")
    words = "Zip starts with “100” · took part in Best city (84700 FB1) · voted B: Miami"
    assert f"Selects: {words}." in page.inner_text("#segment_form")
    page.fill("#id_name", "Miami fans, NYC")
    page.click("[name=_save]")
    page.wait_for_selector("a.segment-count")
    assert page.inner_text("a.segment-count") == "2"
    screenshot(page, "segments")
    with page.expect_download() as download:
        page.click("a.segment-export-csv")
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
    assert sorted((row["Mobile"], row["Zip"]) for row in rows) == [
        ("+12125551001", "10024"),
        ("+12125551004", "10003"),
    ]

    # The segment as a filter: its votes, and the poll's results from its voters only.
    page.click("a.segment-count")
    assert "Miami fans, NYC" in page.inner_text("#changelist-filter")
    page.goto(f"{server}/admin/campaigns/pollresponse/")
    page.click("a[x-on\\:click='filterOpen = true']")
    page.click("#changelist-filter a:has-text('Miami fans, NYC')")
    page.wait_for_url("**segment=**")
    votes = page.inner_text("#result_list")
    assert votes.count("(212) 555-1004") == 2 and votes.count("(212) 555-1001") == 1
    assert "555-1002" not in votes and "555-1003" not in votes

    page.goto(f"{server}/admin/campaigns/campaign/{poll.pk}/results/")
    page.select_option("#id_segment", label="Miami fans, NYC")
    page.click("form[aria-label='Filter results'] button[type=submit]")
    page.wait_for_selector("#results-segment")
    cells = [row.split("\t") for row in page.inner_text("#choices tbody").splitlines() if row]
    assert {cell[1].strip(): cell[2] for cell in cells} == {"Tampa": "1", "Miami": "2"}


def test_segments_fit_a_phone(server, fb1_voters, phone_page):
    page, poll, miami = phone_page, fb1_voters["poll"], fb1_voters["miami"]
    log_in(page, server)
    page.goto(f"{server}/admin/crm/subscriber/?took_part_in={poll.pk}&voted={miami.pk}")
    page.click("a.save-segment")
    page.fill("#id_name", "Miami fans with a long name that has to wrap on a phone")
    page.click("[name=_save]")
    page.wait_for_selector("a.segment-count")
    assert page.inner_text("a.segment-count") == "3"
    segment = page.get_attribute("a.segment-count", "href").rsplit("=", 1)[1]
    for path in (
        "/admin/campaigns/segment/",
        f"/admin/crm/subscriber/?segment={segment}",
        f"/admin/campaigns/pollresponse/?segment={segment}",
        f"/admin/campaigns/campaign/{poll.pk}/results/?segment={segment}",
    ):
        page.goto(f"{server}{path}")
        assert overflow(page, "html") == 0, path


def test_live_mode_counts_new_votes_without_reloading_the_page(
    server, fb1_voters, sumotext, browser_page
):
    """A TV vote: the results page, live, shows each vote as it comes in."""
    page = browser_page
    log_in(page, server)
    page.goto(f"{server}/admin/campaigns/campaign/{fb1_voters['poll'].pk}/results/")
    assert page.inner_text("#total-votes") == "5"
    page.evaluate("() => { window.stillTheSamePage = true; }")

    page.check("#live")
    callback(server, sumotext, "poll", mobile="2125551005", shortcode="84700", key="FB1", reply="b")

    page.wait_for_function("() => document.getElementById('total-votes').textContent === '6'")
    miami = page.locator(f"#choices tr[data-choice='{fb1_voters['miami'].pk}']")
    assert miami.locator(".votes").inner_text() == "4"
    assert page.evaluate("() => window.stillTheSamePage") is True
