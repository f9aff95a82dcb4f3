"""Exports from the admin are safe to open in a spreadsheet, and numbers stay numbers."""

import csv
import io

import pytest
from openpyxl import load_workbook

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
    cells = [cell for row in rows[1:] for cell in row if cell.value is not None]
    assert all(cell.data_type == "s" for cell in cells)
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
