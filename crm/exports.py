"""CSV out of the product, for the admin and the API alike: streamed, and safe to open.

Spreadsheets run a cell that starts with "=", "+", "-" or "@" as a formula (and tab or
carriage return can smuggle one in), so such a cell is written as text behind a "'".
Plain numbers are inert and stay as they are: "+12125551212" still reads as the number.
"""

import csv
import re
from collections.abc import Iterable

from django.http import StreamingHttpResponse

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
PLAIN_NUMBER = re.compile(r"[+-]?\d+(\.\d+)?")


def safe_cell(value) -> str:
    if value is None:
        return ""
    text = str(value)
    if text.startswith(FORMULA_PREFIXES) and not PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    return text


class _Echo:
    """A file-like object whose write() hands the line back to the caller."""

    def write(self, value: str) -> str:
        return value


def csv_lines(header: Iterable[str], rows: Iterable[Iterable]) -> Iterable[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow([safe_cell(name) for name in header])
    for row in rows:
        yield writer.writerow([safe_cell(value) for value in row])


def batched(lines: Iterable[str], size: int = 200) -> Iterable[str]:
    """Lines joined in blocks: one write per block, not per line, for big downloads."""
    block: list[str] = []
    for line in lines:
        block.append(line)
        if len(block) >= size:
            yield "".join(block)
            block = []
    if block:
        yield "".join(block)


def csv_response(filename: str, header: Iterable[str], rows: Iterable[Iterable]):
    """A streamed CSV download: rows are read and written a block at a time, never all held."""
    response = StreamingHttpResponse(
        batched(csv_lines(header, rows)), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def xlsx_response(filename: str, header: Iterable[str], rows: Iterable[Iterable]):
    """An XLSX download, written row by row to a temporary file (openpyxl's write-only mode).

    Every cell is typed as a string, so no text can become a formula; the same safe_cell()
    as CSV still marks dangerous text, so both formats read the same.
    """
    import tempfile

    from django.http import FileResponse
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet()

    def cells(values):
        for value in values:
            cell = WriteOnlyCell(sheet, value=safe_cell(value))
            cell.data_type = "s"
            yield cell

    sheet.append(list(cells(header)))
    for row in rows:
        sheet.append(list(cells(row)))
    out = tempfile.TemporaryFile()  # noqa: SIM115 - FileResponse closes it
    workbook.save(out)
    out.seek(0)
    return FileResponse(
        out,
        as_attachment=True,
        filename=filename,
        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )
