"""CSV out of the product, for the admin and the API alike: streamed, and safe to open.

Spreadsheets run a cell that starts with "=", "+", "-" or "@" as a formula (and tab or
carriage return can smuggle one in), so such a cell is written as text behind a "'".
Plain numbers are inert and stay as they are: "+12125551212" still reads as the number.
"""

import csv
import io
import re
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime

from django.db import connections
from django.db.models import (
    AutoField,
    BigAutoField,
    BooleanField,
    CharField,
    DateField,
    DateTimeField,
    F,
    Func,
    IntegerField,
    QuerySet,
    TextField,
)
from django.http import FileResponse, StreamingHttpResponse
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell

# Rows read from the database per round trip: flat memory, however many rows are exported.
CHUNK_SIZE = 2000
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
# ASCII digits only, as the database reads this rule too (TEXT_CELL below).
PLAIN_NUMBER = re.compile(r"[+-]?[0-9]+(\.[0-9]+)?")


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
    return header, QueryRows(queryset.prefetch_related(None), paths, keys if json_field else None)


class QueryRows:
    """The rows of table(): .values_list() tuples read a chunk at a time when iterated, or,
    on PostgreSQL, written as CSV by the database itself (copy_sql(), csv_response())."""

    def __init__(self, queryset: QuerySet, paths: list[str], keys: list[str] | None, iso=False):
        self.queryset, self.paths, self.keys, self.iso = queryset, paths, keys, iso
        self._rows: Iterator[tuple] | None = None

    def iso_times(self) -> "QueryRows":
        """The same rows with times in ISO 8601 (2025-06-01T14:00:00+00:00)."""
        return QueryRows(self.queryset, self.paths, self.keys, iso=True)

    # An iterator, as table()'s rows always were: read once, and islice() continues it.
    def __iter__(self) -> "QueryRows":
        return self

    def __next__(self) -> tuple:
        if self._rows is None:
            self._rows = self._read()
        return next(self._rows)

    def _read(self) -> Iterator[tuple]:
        for row in self.queryset.values_list(*self.paths).iterator(chunk_size=CHUNK_SIZE):
            if self.keys is not None:
                extra = row[-1] if isinstance(row[-1], dict) else {}
                row = (*row[:-1], *(extra.get(key, "") for key in self.keys))
            if self.iso:
                row = tuple(v.isoformat() if isinstance(v, datetime) else v for v in row)
            yield row

    def cells_sql(self) -> tuple[str, tuple] | None:
        """A SELECT whose rows are these rows' CSV cells, as text exactly as csv_lines()
        writes them (spreadsheet escaping included), or None where the database cannot say
        them the same way: custom-field columns, or a column type without a rule below."""
        vendor = connections[self.queryset.db].vendor
        if self.keys is not None or vendor not in CELLS:
            return None
        cells = []
        for path in self.paths:
            field = self.queryset.query.resolve_ref(path, allow_joins=True).output_field
            template = cell_template(vendor, field, self.iso)
            if template is None:
                return None
            cells.append(Func(F(path), template=template, output_field=TextField()))
        query = self.queryset.values_list(*cells).query
        return query.get_compiler(self.queryset.db).as_sql()


# safe_cell(str(value)) (isoformat() for the API's times) in each database's words. A plain
# number is [+-]?[0-9]+(\.[0-9]+)?; SQLite has no regular expressions, so GLOB says it.
SQLITE_PLAIN_NUMBER = " AND ".join(
    f"substr(%(expressions)s, 2) {test}"
    for test in (
        "<> ''",
        "NOT GLOB '*[^0-9.]*'",
        "NOT GLOB '.*'",
        "NOT GLOB '*.'",
        "NOT GLOB '*.*.*'",
    )
)
CELLS = {
    "postgresql": {
        "text": "CASE WHEN %(expressions)s ~ ('^[-=+@' || chr(9) || chr(13) || ']') "
        r"AND %(expressions)s !~ '^[+-]?[0-9]+(\.[0-9]+)?$' "
        "THEN '''' || %(expressions)s ELSE COALESCE(%(expressions)s, '') END",
        "time": "COALESCE(to_char(%(expressions)s AT TIME ZONE 'UTC', 'YYYY-MM-DD{T}HH24:MI:SS') "
        "|| CASE WHEN to_char(%(expressions)s, 'US') = '000000' THEN '' "
        "ELSE '.' || to_char(%(expressions)s, 'US') END || '+00:00', '')",
        "integer": "COALESCE(%(expressions)s::text, '')",
        "date": "COALESCE(to_char(%(expressions)s, 'YYYY-MM-DD'), '')",
    },
    "sqlite": {
        "text": "CASE WHEN substr(%(expressions)s, 1, 1) "
        "IN ('=', '+', '-', '@', char(9), char(13)) "
        "AND NOT (substr(%(expressions)s, 1, 1) IN ('+', '-') AND " + SQLITE_PLAIN_NUMBER + ") "
        "THEN '''' || %(expressions)s ELSE COALESCE(%(expressions)s, '') END",
        # Stored as "YYYY-MM-DD HH:MM:SS[.ffffff]" in UTC; str() shows 6 digits or none.
        "time": "COALESCE(strftime('%%Y-%%m-%%d{T}%%H:%%M:%%S', %(expressions)s) "
        "|| CASE WHEN rtrim(substr(%(expressions)s, 21), '0') = '' THEN '' "
        "ELSE '.' || substr(substr(%(expressions)s, 21) || '000000', 1, 6) END || '+00:00', '')",
        "integer": "COALESCE(CAST(%(expressions)s AS TEXT), '')",
        "date": "COALESCE(%(expressions)s, '')",
    },
}
BOOLEAN_CELL = (
    "CASE WHEN %(expressions)s THEN 'True' WHEN NOT %(expressions)s THEN 'False' ELSE '' END"
)


def cell_template(vendor: str, field, iso: bool) -> str | None:
    cells = CELLS[vendor]
    if isinstance(field, (CharField, TextField)):
        return cells["text"]
    if isinstance(field, DateTimeField):
        if vendor == "postgresql":
            return cells["time"].format(T='"T"' if iso else " ")
        return cells["time"].format(T="T" if iso else " ")
    if isinstance(field, BooleanField):
        return BOOLEAN_CELL
    if isinstance(field, (IntegerField, AutoField, BigAutoField)):
        return cells["integer"]
    if isinstance(field, DateField):
        return cells["date"]
    return None


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


def database_lines(header: Iterable[str], rows: Iterable[Iterable]) -> Iterator | None:
    """csv_lines(header, rows) with the cells written by the database, where it can:
    PostgreSQL's COPY sends finished CSV, SQLite's rows need only joining. None otherwise."""
    cells = rows.cells_sql() if isinstance(rows, QueryRows) else None
    if cells is None:
        return None
    using = rows.queryset.db
    if connections[using].vendor == "postgresql":
        return copied_lines(header, *cells, using)
    return fetched_lines(header, *cells, using)


def copied_lines(header: Iterable[str], sql: str, params, using: str) -> Iterator[bytes]:
    """PostgreSQL's COPY of the cells, in blocks of about 64 KiB.

    COPY sends one message per row, ending in "\n"; csv.writer ends rows in "\r\n", so each
    row's last byte is swapped (a newline inside a quoted cell stays as it is).
    """
    yield "".join(csv_lines(header, ())).encode()
    block, size = [], 0
    connection = connections[using]
    started = time.monotonic()
    with connection.cursor() as cursor:
        # Every cell is text, never NULL: with NULL left as "", COPY would quote empty cells.
        copy_sql = f"COPY ({sql}) TO STDOUT WITH (FORMAT csv, NULL '\\N')"
        with cursor.cursor.copy(copy_sql, params) as copy:
            for row in copy:
                block.append(row[:-1])
                block.append(b"\r\n")
                size += len(row)
                if size >= 65536:
                    yield b"".join(block)
                    block, size = [], 0
    if connection.queries_logged:
        # psycopg's copy() passes Django's query log by; count it like any other query.
        elapsed = f"{time.monotonic() - started:.3f}"
        connection.queries_log.append({"sql": copy_sql, "time": elapsed})
    if block:
        yield b"".join(block)


def fetched_lines(header: Iterable[str], sql: str, params, using: str) -> Iterator[str]:
    """The cells as rows of text, joined by csv.writer a chunk at a time."""
    yield "".join(csv_lines(header, ()))
    out = io.StringIO()
    writer = csv.writer(out)
    with connections[using].cursor() as cursor:
        cursor.execute(sql, params)
        while chunk := cursor.fetchmany(CHUNK_SIZE):
            writer.writerows(chunk)
            yield out.getvalue()
            out.seek(0)
            out.truncate()


def csv_response(filename: str, header: Iterable[str], rows: Iterable[Iterable]):
    """A streamed CSV download: rows are read and written a block at a time, never all held.

    Rows straight from table() have their cells written by the database (database_lines()),
    several times faster than Python writes them, to the same bytes
    (tests/lib/test_exports_database.py).
    """
    body = database_lines(header, rows) or batched(csv_lines(header, rows))
    response = StreamingHttpResponse(body, content_type="text/csv; charset=utf-8")
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
