"""Exports from the admin are safe to open in a spreadsheet, and a spreadsheet reads them
right: numbers stay as typed, times are in the configured zone, XLSX times are dates."""

import csv
import io
from datetime import UTC, datetime

import pytest
from openpyxl import load_workbook
from openpyxl.styles.numbers import is_date_format

from lib.exports import safe_cell
from subscribers.models import Subscriber

DANGEROUS = ["=1+1", "+1+cmd", "-2+3", "@SUM(A1)", "\t=1+1", "\r=1+1"]
EXPORT = "/admin/crm/subscriber/export"


@pytest.mark.parametrize("text", DANGEROUS, ids=["=", "+", "-", "@", "tab", "cr"])
def test_it_writes_a_formula_like_cell_as_inert_text(text):
    assert safe_cell(text) == "'" + text


@pytest.mark.parametrize("text", ["+12125551212", "-5", "12.5", "Bill", "", "a=b"])
def test_it_leaves_numbers_and_plain_text_alone(text):
    assert safe_cell(text) == text


def export_csv(client, **params) -> list[list[str]]:
    response = client.get(EXPORT + ".csv", params)
    assert response["Content-Type"].startswith("text/csv")
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


@pytest.mark.parametrize("text", DANGEROUS, ids=["=", "+", "-", "@", "tab", "cr"])
def test_admin_csv_export_escapes_each_dangerous_prefix(admin_client, db, text):
    Subscriber.objects.create(mobile="+12125551212", carrier=text, fields={"Note": text})

    header, row = export_csv(admin_client)

    assert header[0] == "Mobile" and header[-1] == "Note"
    assert row[0] == "+12125551212"
    assert row[header.index("Carrier")] == "'" + text
    assert row[-1] == "'" + text


def test_admin_csv_export_escapes_dangerous_custom_field_names(admin_client, db):
    Subscriber.objects.create(mobile="+12125551212", fields={"=cmd|' /C calc'!A0": "x"})

    header, row = export_csv(admin_client)

    assert header[-1] == "'=cmd|' /C calc'!A0"
    assert row[-1] == "x"


def test_admin_xlsx_export_holds_text_never_formulas(admin_client, db):
    for n, text in enumerate(DANGEROUS):
        Subscriber.objects.create(mobile=f"+1212555121{n}", fields={"Note": text})

    response = admin_client.get(EXPORT + ".xlsx")

    sheet = load_workbook(io.BytesIO(b"".join(response.streaming_content))).active
    rows = list(sheet.iter_rows())
    header = [cell.value for cell in rows[0]]
    assert header[:2] == ["Mobile", "Country"] and header[-1] == "Note"
    # Text, but for the two times (First seen at, Last seen at), which are dates.
    cells = [cell for row in rows[1:] for cell in row if cell.value is not None]
    assert [cell.data_type for cell in cells].count("d") == 2 * len(DANGEROUS)
    assert all(cell.data_type == "s" for cell in cells if cell.data_type != "d")
    # XML reads a bare carriage return back as a line feed; the cell is text either way.
    notes = {row[0].value: row[-1].value.replace("\n", "\r") for row in rows[1:]}
    assert notes == {f"+1212555121{n}": "'" + text for n, text in enumerate(DANGEROUS)}


def test_export_needs_a_staff_login(client, db):
    response = client.get(EXPORT + ".csv")

    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_big_xlsx_exports_are_sent_to_csv(admin_client, db, monkeypatch):
    monkeypatch.setattr("lib.admin_export.XLSX_MAX_ROWS", 2)
    for n in range(3):
        Subscriber.objects.create(mobile=f"+121255512{n}0", country="US")

    too_many = admin_client.get(EXPORT + ".xlsx", {"country": "US"}, follow=True)
    two = admin_client.get(EXPORT + ".xlsx", {"q": "+12125551200"})

    assert too_many.redirect_chain[-1][0] == "/admin/crm/subscriber/?country=US"
    assert "XLSX exports stop at 2 rows" in too_many.content.decode()
    assert two["Content-Type"].startswith("application/vnd.openxmlformats")


def xlsx_sheet(response):
    return load_workbook(io.BytesIO(b"".join(response.streaming_content))).active


def test_admin_xlsx_times_are_dates_in_the_configured_zone_and_digits_stay_text(
    admin_client, db, settings
):
    settings.TIME_ZONE = "America/New_York"
    Subscriber.objects.create(
        mobile="+12125551212",
        carrier="0123",
        fields={"Zip": "02134", "Name": "Zoë"},
        first_seen_at=datetime(2026, 7, 1, 16, 0, 5, 250000, tzinfo=UTC),
    )

    sheet = xlsx_sheet(admin_client.get(EXPORT + ".xlsx"))

    header, row = ([cell for cell in row] for row in sheet.iter_rows())
    cell = {head.value: cell for head, cell in zip(header, row, strict=True)}
    first_seen = cell["First seen at (America/New_York)"]
    assert first_seen.data_type == "d" and is_date_format(first_seen.number_format)
    # Excel has no zones: the time as New York read it, naive.
    assert first_seen.value == datetime(2026, 7, 1, 12, 0, 5, 250000)
    for name, typed in [("Mobile", "+12125551212"), ("Carrier", "0123"), ("Zip", "02134")]:
        assert (cell[name].data_type, cell[name].value) == ("s", typed)
    assert cell["Name"].value == "Zoë"


def test_admin_csv_times_are_in_the_configured_zone_named_in_the_header(admin_client, db, settings):
    settings.TIME_ZONE = "America/New_York"
    Subscriber.objects.create(
        mobile="+12125551212", first_seen_at=datetime(2026, 1, 2, 3, 4, 5, 678, tzinfo=UTC)
    )

    header, row = export_csv(admin_client)

    assert header[3] == "First seen at (America/New_York)"
    assert row[3] == "2026-01-01 22:04:05"


def test_csv_for_excel_starts_with_a_byte_order_mark_and_keeps_accents(admin_client, db):
    Subscriber.objects.create(mobile="+12125551212", carrier="Orange", fields={"Name": "Zoë"})

    excel = b"".join(admin_client.get(EXPORT + "-excel.csv").streaming_content)
    plain = b"".join(admin_client.get(EXPORT + ".csv").streaming_content)

    assert excel.startswith(b"\xef\xbb\xbfMobile,")
    assert plain.startswith(b"Mobile,")
    assert excel[3:] == plain
    assert "Zoë".encode() in excel
    assert list(csv.reader(io.StringIO(excel.decode("utf-8-sig"))))[1][-1] == "Zoë"


def test_csv_for_excel_follows_the_filters_and_is_offered_on_the_list(admin_client, db):
    Subscriber.objects.create(mobile="+12125551212", country="US")
    Subscriber.objects.create(mobile="+447911123456", country="GB")

    page = admin_client.get("/admin/crm/subscriber/", {"country": "GB"}).content.decode()
    excel = b"".join(admin_client.get(EXPORT + "-excel.csv", {"country": "GB"}).streaming_content)

    assert 'href="/admin/crm/subscriber/export-excel.csv?country=GB"' in page
    assert excel.decode("utf-8-sig").splitlines()[1].startswith("+447911123456,GB,")
