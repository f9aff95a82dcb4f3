"""CSV out of the product, for the admin and the API alike: streamed, and safe to open.

Spreadsheets run a cell that starts with "=", "+", "-" or "@" as a formula (and tab or
carriage return can smuggle one in), so such a cell is written as text behind a "'".
Plain numbers are inert and stay as they are: "+12125551212" still reads as the number.
"""

import csv
import re
import tempfile
from collections.abc import Iterable, Iterator, Sequence

from django.db.models import QuerySet
from django.http import FileResponse, StreamingHttpResponse
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell

# Rows read from the database per round trip: flat memory, however many rows are exported.
CHUNK_SIZE = 2000
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
PLAIN_NUMBER = re.compile(r"[+-]?\d+(\.\d+)?")


def safe_cell(value) -> str:
    if value is None:
        return ""
    text = str(value)
    if text.startswith(FORMULA_PREFIXES) and not PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    return text


# A column of an export: its header, and what .values_list() reads for it.
Column = tuple[str, str]


def json_keys(queryset: QuerySet, field: str) -> list[str]:
    """Every key a JSON field holds across the queryset, sorted so columns stay put.

    One streamed pass: memory grows with the number of distinct keys, not rows.
    """
    keys: set[str] = set()
    for value in queryset.values_list(field, flat=True).iterator(chunk_size=CHUNK_SIZE):
        if isinstance(value, dict):
            keys.update(value)
    return sorted(keys)


def table(
    queryset: QuerySet, columns: Sequence[Column], json_field: str | None = None
) -> tuple[list[str], Iterator[tuple]]:
    """The header and the rows of an export, in the queryset's order.

    Rows are plain .values_list() tuples read a chunk at a time (no model instances), and
    each key of `json_field` across the rows becomes one more column, blank where absent.
    """
    header = [name for name, _ in columns]
    paths = [path for _, path in columns]
    keys: list[str] = []
    if json_field:
        keys = json_keys(queryset, json_field)
        paths.append(json_field)
        header += keys

    # Tuples cannot hold prefetched objects: a list's prefetches are dropped, not run per chunk.
    values = queryset.prefetch_related(None).values_list(*paths)

    def rows() -> Iterator[tuple]:
        for row in values.iterator(chunk_size=CHUNK_SIZE):
            if not json_field:
                yield row
                continue
            extra = row[-1] if isinstance(row[-1], dict) else {}
            yield (*row[:-1], *(extra.get(key, "") for key in keys))

    return header, rows()


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
    out = tempfile.TemporaryFile()  # FileResponse closes it when sent
    workbook.save(out)
    out.seek(0)
    return FileResponse(
        out,
        as_attachment=True,
        filename=filename,
        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )
