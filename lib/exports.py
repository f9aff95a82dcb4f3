"""CSV and XLSX out of the product, for the admin and the API alike: streamed, safe to open,
and read right by a spreadsheet.

Spreadsheets run a cell that starts with "=", "+", "-" or "@" as a formula (and tab or
carriage return can smuggle one in), so such a cell is written as text behind a "'".
Plain numbers are inert and stay as they are: "+12125551212" still reads as the number.

Times: the admin writes them for people, in the configured time zone (settings.TIME_ZONE,
from DJANGO_TIME_ZONE) as "2026-01-02 09:04:05", whole seconds, as its lists show them; the
API's CSV writes them for programs, ISO 8601 in UTC as its JSON does. XLSX holds real dates.

Big CSVs have their cells written the fastest way each database allows, to the bytes
csv_lines() writes (tests/lib/test_exports_database.py): PostgreSQL writes the whole CSV
(COPY of a SELECT of escaped cells); SQLite's raw rows are escaped with one character test a
cell and times formatted once a minute of data (database_lines()).
"""

import csv
import io
import json
import re
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, date, datetime, timedelta

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
from django.utils import timezone
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from psycopg import sql

# Rows read from the database per round trip: flat memory, however many rows are exported.
CHUNK_SIZE = 2000
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
# ASCII digits only, as the database reads this rule too (PG_TEXT below).
PLAIN_NUMBER = re.compile(r"[+-]?[0-9]+(\.[0-9]+)?")
# A byte-order mark first tells Excel the file is UTF-8 (without it, "Zoë" reads "ZoÃ«").
BOM = "\ufeff"


def safe_cell(value) -> str:
    if value is None:
        return ""
    text = str(value)
    if text.startswith(FORMULA_PREFIXES) and not PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    return text


# A column of an export: its header, and what .values_list() reads for it.
Column = tuple[str, str]

# How an export writes times: LOCAL for people (the admin), ISO for programs (the API),
# None for the datetimes themselves (XLSX makes them dates).
LOCAL, ISO = "local", "iso"


def local_time(value: datetime) -> str:
    """A time as the admin's exports write it: "2026-01-02 09:04:05" in the current zone."""
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M:%S")


def time_text(value, times: str | None):
    if not isinstance(value, datetime) or times is None:
        return value
    return local_time(value) if times == LOCAL else value.isoformat()


def json_keys(queryset: QuerySet, field: str) -> list[str]:
    """Every key a JSON field holds across the queryset, sorted so columns stay put.

    The database lists them in one pass of its own; elsewhere one streamed pass in Python.
    Memory grows with the number of distinct keys, not rows.
    """
    connection = connections[queryset.db]
    if connection.vendor in KEYS_SQL:
        inner = queryset.order_by().annotate(export_json=F(field)).values_list("export_json")
        inner_sql, params = inner.query.get_compiler(queryset.db).as_sql()
        with connection.cursor() as cursor:
            cursor.execute(KEYS_SQL[connection.vendor].format(inner=inner_sql), params)
            return sorted(key for (key,) in cursor.fetchall())
    keys: set[str] = set()
    for value in queryset.values_list(field, flat=True).iterator(chunk_size=CHUNK_SIZE):
        if isinstance(value, dict):
            keys.update(value)
    return sorted(keys)


KEYS_SQL = {
    "postgresql": "SELECT DISTINCT jsonb_object_keys(t.export_json) FROM ({inner}) AS t "
    "WHERE jsonb_typeof(t.export_json) = 'object'",
    "sqlite": "SELECT DISTINCT j.key FROM ({inner}) AS t, json_each(t.export_json) AS j "
    "WHERE json_type(t.export_json) = 'object'",
}


def table(
    queryset: QuerySet, columns: Sequence[Column], json_field: str | None = None
) -> tuple[list[str], "QueryRows"]:
    """The header and the rows of an export, in the queryset's order.

    Rows are plain .values_list() tuples read a chunk at a time (no model instances), and
    each key of `json_field` across the rows becomes one more column, blank where absent.
    Times are written for people (LOCAL); .iso_times() and .native_times() say otherwise.
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
    for CSV, written the fastest way the database allows (database_lines())."""

    def __init__(self, queryset: QuerySet, paths: list[str], keys: list[str] | None, times=LOCAL):
        self.queryset, self.paths, self.keys, self.times = queryset, paths, keys, times
        self._rows: Iterator[tuple] | None = None

    def iso_times(self) -> "QueryRows":
        """The same rows with times in ISO 8601 (2025-06-01T14:00:00+00:00)."""
        return QueryRows(self.queryset, self.paths, self.keys, times=ISO)

    def native_times(self) -> "QueryRows":
        """The same rows with times as aware datetimes, for a format that has dates."""
        return QueryRows(self.queryset, self.paths, self.keys, times=None)

    def time_columns(self) -> list[int]:
        """Positions of the columns that hold times."""
        return [n for n, field in enumerate(self.fields()) if isinstance(field, DateTimeField)]

    def fields(self) -> list:
        """Each path's model field (for a relation, the field it points at); custom-field
        columns not included."""
        found = []
        for path in self.paths[:-1] if self.keys is not None else self.paths:
            field = self.queryset.query.resolve_ref(path, allow_joins=True).output_field
            found.append(field.target_field if field.is_relation else field)
        return found

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
            if self.times is not None:
                row = tuple(time_text(v, self.times) for v in row)
            yield row

    def cells_sql(self) -> tuple[str, tuple] | None:
        """PostgreSQL: a SELECT whose rows are these rows' CSV cells, as text exactly as
        csv_lines() writes them (spreadsheet escaping included), or None where it cannot say
        them the same way (a column type without a rule below, a zone without a name)."""
        connection = connections[self.queryset.db]
        if connection.vendor != "postgresql" or self.times is None:
            return None
        connection.ensure_connection()
        if not connection.connection.info.parameter_status("DateStyle").startswith("ISO"):
            return None  # times would read otherwise (a setting the server reports)
        zone = timezone.get_current_timezone()
        if self.times == LOCAL and not ZONE_NAME.fullmatch(getattr(zone, "key", "")):
            return None
        cells = []
        for path, field in zip(self.paths, self.fields(), strict=False):
            template = cell_template(field, self.times, zone)
            if template is None:
                return None
            cells.append(Func(F(path), template=template, output_field=TextField()))
        for key in self.keys or ():
            # The key as a literal, not a parameter: the template names the cell four times.
            value = f"(%(expressions)s ->> {percent_free_literal(key)})"
            template = PG_TEXT.replace("%(expressions)s", value)
            cells.append(Func(F(self.paths[-1]), template=template, output_field=TextField()))
        query = self.queryset.values_list(*cells).query
        return query.get_compiler(self.queryset.db).as_sql()

    def raw_sql(self) -> tuple[str, tuple, list] | None:
        """SQLite: a SELECT of these rows' values (times as UTC text, custom fields as JSON
        text) and, per column, what makes CSV cells of a chunk of its values (None: the
        values as they are, csv.writer's str() does). None for a column type without a
        rule below."""
        if connections[self.queryset.db].vendor != "sqlite" or self.times is None:
            return None
        times = TimeCells(timezone.get_current_timezone())
        as_text = "CAST(%(expressions)s AS TEXT)"
        columns, converters = [], []
        for path, field in zip(self.paths, self.fields(), strict=False):
            if isinstance(field, (CharField, TextField)):
                columns.append(F(path))
                converters.append(text_column)
            elif isinstance(field, DateTimeField) and self.times == ISO:
                columns.append(Func(F(path), template=SQLITE_ISO, output_field=TextField()))
                converters.append(None)
            elif isinstance(field, DateTimeField):
                # An expression, not the column: sqlite3 would parse a "datetime" column.
                columns.append(Func(F(path), template=as_text, output_field=TextField()))
                converters.append(times.local_column)
            elif isinstance(field, (BooleanField, IntegerField, AutoField, DateField)):
                # sqlite3 reads "bool" and "date" columns as True/False and dates already.
                columns.append(F(path))
                converters.append(None)
            else:
                return None
        if self.keys is not None:
            columns.append(Func(F(self.paths[-1]), template=as_text, output_field=TextField()))
        query = self.queryset.values_list(*columns).query
        sql_text, params = query.get_compiler(self.queryset.db).as_sql()
        return sql_text, params, converters


# datetime.isoformat() of a time SQLite holds as "2026-01-02 03:04:05[.123]" (UTC): six
# digits of fraction, and none when they are all zero.
SQLITE_ISO = (
    "substr(%(expressions)s, 1, 10) || 'T' || substr(%(expressions)s, 12, 8) || "
    "CASE WHEN rtrim(substr(%(expressions)s, 21), '0') = '' THEN '' "
    "ELSE '.' || substr(substr(%(expressions)s, 21) || '000000', 1, 6) END || '+00:00'"
)


def percent_free_literal(text: str) -> str:
    """A PostgreSQL string literal of `text` with no "%" in it: U&'100\\0025'.

    A "%" in SQL is read twice, by Func's template and by the driver's placeholders, and
    the driver reads it only when the query has parameters: "%" in a custom field's name
    broke the COPY of a filtered export after its first line had been sent. A Unicode
    escape says the character without the sign.
    """
    escaped = text.replace("\\", "\\005C").replace("'", "''").replace("%", "\\0025")
    return f"U&'{escaped}'"


# A zone name PostgreSQL can be given as a literal (America/Argentina/Buenos_Aires, Etc/GMT+5).
ZONE_NAME = re.compile(r"[A-Za-z0-9_+\-/]+")

# safe_cell(str(value)) in PostgreSQL's words: a cheap test of the first character (ascii()
# is its code point), then the plain-number pattern only for the cells that start like a
# formula. The cells are made in one process, after the sort: every function call counts.
PG_TEXT = (
    "CASE WHEN ascii(%(expressions)s) IN (9, 13, 43, 45, 61, 64) "
    r"AND %(expressions)s !~ '^[+-]?[0-9]+(\.[0-9]+)?$' "
    "THEN '''' || %(expressions)s WHEN %(expressions)s IS NULL THEN '' ELSE %(expressions)s END"
)
PG_CELLS = {
    "text": PG_TEXT,
    # One to_char(), then ".000000" dropped as isoformat() drops it.
    ISO: "COALESCE(replace(to_char(%(expressions)s AT TIME ZONE 'UTC', "
    "'YYYY-MM-DD\"T\"HH24:MI:SS.US+00:00'), '.000000+', '+'), '')",
    # A timestamp's own text (DateStyle ISO, checked in cells_sql()) costs half a to_char().
    LOCAL: "COALESCE(date_trunc('second', %(expressions)s AT TIME ZONE {zone})::text, '')",
    "integer": "COALESCE(%(expressions)s::text, '')",
    "date": "COALESCE(%(expressions)s::text, '')",
    "boolean": "CASE WHEN %(expressions)s THEN 'True' "
    "WHEN NOT %(expressions)s THEN 'False' ELSE '' END",
}


def cell_template(field, times: str, zone) -> str | None:
    if isinstance(field, (CharField, TextField)):
        return PG_CELLS["text"]
    if isinstance(field, DateTimeField):
        if times == LOCAL:
            return PG_CELLS[LOCAL].format(zone=sql.quote(zone.key))
        return PG_CELLS[ISO]
    if isinstance(field, BooleanField):
        return PG_CELLS["boolean"]
    if isinstance(field, (IntegerField, AutoField, BigAutoField)):
        return PG_CELLS["integer"]
    if isinstance(field, DateField):
        return PG_CELLS["date"]
    return None


# A cell that safe_cell() would change, in a column's values each led by a NUL: it starts
# like a formula and is not a plain number. (The leading NUL lets re scan for it in C.)
FORMULA_CELL = re.compile(r"\x00(?![+-]?[0-9]+(?:\.[0-9]+)?(?:\x00|\Z))[-=+@\t\r]")


def text_column(values: Sequence) -> Sequence:
    """safe_cell() over a column's values, in C for a column with nothing to escape (most)."""
    try:
        joined = "\x00" + "\x00".join(values)
    except TypeError:  # a NULL, or not text
        return [safe_cell(value) for value in values]
    if joined.count("\x00") == len(values) and not FORMULA_CELL.search(joined):
        return values
    return each_distinct(safe_cell, values)


def each_distinct(function, values: Sequence) -> list:
    """[function(value) for value in values], called once a distinct value: a column often
    repeats a few (a campaign's name, a choice)."""
    try:
        done = {value: function(value) for value in set(values)}
    except TypeError:  # a value that cannot be a key (a list in a custom field)
        return [function(value) for value in values]
    return [done[value] for value in values]


class TimeCells:
    """Times as SQLite hands them over ("2026-01-02 03:04:05[.123]", UTC) written as
    local_time() writes them; the zone's offset is worked out once an hour of data (once a
    minute in an hour whose offset changes or is not whole hours)."""

    # A bound on each memo (about 3 MB), whatever the data's span: a worker stays small, and
    # an hour worked out again costs microseconds.
    MAX_MINUTES = 20_000

    def __init__(self, zone):
        self.zone = zone
        self.hours: dict[str, str | None] = {}
        self.minutes: dict[str, str | None] = {}

    def local_column(self, values: Sequence) -> list:
        hours = self.hours
        try:
            for hour in {value[:13] for value in values} - hours.keys():
                self._hour(hour)
            return [
                hour + value[13:19] if (hour := hours[value[:13]]) else self.local(value)
                for value in values
            ]
        except (TypeError, KeyError):  # a NULL, a memo just cleared
            return [self.local(value) for value in values]

    def local(self, text: str | None) -> str | None:
        if text is None:
            return None
        minute = self.minutes.get(text[:16]) or self._minute(text[:16])
        if minute is None:  # an offset with seconds (a zone's early history): in full
            return local_time(datetime.fromisoformat(text).replace(tzinfo=UTC))
        return minute + text[16:19]

    def _hour(self, text: str) -> None:
        if len(self.hours) >= self.MAX_MINUTES:
            self.hours.clear()
        start = datetime.fromisoformat(text + ":00").replace(tzinfo=UTC).astimezone(self.zone)
        end = (start + timedelta(minutes=59, seconds=59)).astimezone(self.zone)
        offset = start.utcoffset()
        whole = offset == end.utcoffset() and offset.seconds % 3600 == 0
        self.hours[text] = start.strftime("%Y-%m-%d %H") if whole else None

    def _minute(self, text: str) -> str | None:
        if len(self.minutes) >= self.MAX_MINUTES:
            self.minutes.clear()
        at = datetime.fromisoformat(text).replace(tzinfo=UTC).astimezone(self.zone)
        minute = None if at.utcoffset().seconds % 60 else at.strftime("%Y-%m-%d %H:%M")
        self.minutes[text] = minute
        return minute


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
    """csv_lines(header, rows), faster, where the rows are a table()'s: PostgreSQL's COPY
    sends finished CSV; SQLite's raw rows need only a cheap escape. None otherwise."""
    if not isinstance(rows, QueryRows):
        return None
    using = rows.queryset.db
    if (cells := rows.cells_sql()) is not None:
        return copied_lines(header, *cells, using)
    if (raw := rows.raw_sql()) is not None:
        return fetched_lines(header, *raw, rows.keys, using)
    return None


# Rows a block of the PostgreSQL download holds (about 64 KiB at ~100 bytes a row).
COPY_BLOCK_ROWS = 640


def copied_lines(header: Iterable[str], sql_text: str, params, using: str) -> Iterator[bytes]:
    """PostgreSQL's COPY of the cells, in blocks.

    COPY ends each row in "\\n", csv.writer in "\\r\\n": where a block's rows hold no other
    newline (no cell spans lines), one replace() swaps them all; otherwise row by row, so a
    newline inside a quoted cell stays as it is.
    """
    yield "".join(csv_lines(header, ())).encode()
    connection = connections[using]
    started = time.monotonic()
    block: list = []
    # Django's wrapper, as on its own cursors: its error types, and a connection an error
    # may have broken is checked before it serves again.
    with connection.cursor() as cursor, connection.wrap_database_errors:
        # Every cell is text, never NULL: with NULL left as "", COPY would quote empty cells.
        copy_sql = f"COPY ({sql_text}) TO STDOUT WITH (FORMAT csv, NULL '\\N')"
        with cursor.cursor.copy(copy_sql, params) as copy:
            for row in copy:
                block.append(row)
                if len(block) >= COPY_BLOCK_ROWS:
                    yield crlf(block)
                    block = []
    if connection.queries_logged:
        # psycopg's copy() passes Django's query log by; count it like any other query.
        elapsed = f"{time.monotonic() - started:.3f}"
        connection.queries_log.append({"sql": copy_sql, "time": elapsed})
    if block:
        yield crlf(block)


def crlf(rows: list) -> bytes:
    """COPY's rows joined, each ending in "\\r\\n" instead of "\\n"."""
    data = b"".join(rows)
    if data.count(b"\n") == len(rows):
        return data.replace(b"\n", b"\r\n")
    return b"".join(bytes(row[:-1]) + b"\r\n" for row in rows)


def fetched_lines(
    header: Iterable[str], sql_text: str, params, converters: list, keys, using: str
) -> Iterator[str]:
    """The raw rows made cells a chunk at a time, column by column (converters, and the
    custom fields' JSON read into columns), and joined as csv.writer joins them."""
    yield "".join(csv_lines(header, ()))
    with connections[using].cursor() as cursor:
        cursor.execute(sql_text, params)
        while chunk := cursor.fetchmany(CHUNK_SIZE):
            columns = list(zip(*chunk, strict=True))
            for n, convert in enumerate(converters):
                if convert is not None:
                    columns[n] = convert(columns[n])
            if keys is not None:
                found = [json.loads(text) if text else {} for text in columns.pop()]
                found = [extra if isinstance(extra, dict) else {} for extra in found]
                for key in keys:
                    columns.append(text_column([extra.get(key, "") for extra in found]))
            yield csv_block(columns)


# What makes csv.writer quote a cell (QUOTE_MINIMAL, "," and '"', "\r\n" ending rows).
NEEDS_QUOTES = re.compile(r'[,"\r\n]')


def csv_block(columns: list[Sequence]) -> str:
    """The rows these columns make, as csv.writer writes them, each step over a whole column
    in C: most columns need neither str() nor quotes."""
    if len(columns) < 2:  # a lone empty cell is written '""': the writer knows
        out = io.StringIO()
        csv.writer(out).writerows(zip(*columns, strict=True))
        return out.getvalue()
    cells = []
    for column in columns:
        try:
            joined = "\x00".join(column)
        except TypeError:  # numbers, booleans, NULLs: as the writer says them
            column = ["" if value is None else str(value) for value in column]
            joined = "\x00".join(column)
        if NEEDS_QUOTES.search(joined):
            column = each_distinct(quoted, column)
        cells.append(column)
    return "\r\n".join(map(",".join, zip(*cells, strict=True))) + "\r\n"


def quoted(cell: str) -> str:
    if NEEDS_QUOTES.search(cell):
        return '"' + cell.replace('"', '""') + '"'
    return cell


def csv_response(filename: str, header: Iterable[str], rows: Iterable[Iterable], bom=False):
    """A streamed CSV download: rows are read and written a block at a time, never all held.

    Rows straight from table() are written by database_lines(), many times faster than the
    Python writer, to the same bytes. `bom`: a UTF-8 byte-order mark first, for Excel.

    The query runs as the body is read, after the view: a middleware's query never waits
    on a connection a COPY holds. An error mid-way ends the stream without its last chunk,
    which tells the client the file is incomplete.
    """
    body = database_lines(header, rows) or batched(csv_lines(header, rows))
    if bom:
        body = with_first(BOM.encode(), body)
    response = StreamingHttpResponse(body, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def with_first(first: bytes, chunks: Iterable) -> Iterator[bytes]:
    yield first
    for chunk in chunks:
        yield chunk if isinstance(chunk, bytes) else chunk.encode()


# Digits a spreadsheet must keep as typed (a zip's leading zero, a number's "+"): every text
# is a text cell, so only these types become cells of their own kind.
DATE_FORMATS = {datetime: "yyyy-mm-dd hh:mm:ss", date: "yyyy-mm-dd"}


def xlsx_cell(sheet, value) -> WriteOnlyCell:
    """Times as Excel dates (naive, in the current zone: Excel has no zones), dates as
    dates, integers as numbers; anything else as text, never a formula, marked as
    safe_cell() marks it so both formats read the same."""
    if isinstance(value, datetime):
        if timezone.is_aware(value):
            value = timezone.make_naive(value)
        cell = WriteOnlyCell(sheet, value=value)
        cell.number_format = DATE_FORMATS[datetime]
        return cell
    if isinstance(value, date):
        cell = WriteOnlyCell(sheet, value=value)
        cell.number_format = DATE_FORMATS[date]
        return cell
    if isinstance(value, int) and not isinstance(value, bool):
        return WriteOnlyCell(sheet, value=value)
    cell = WriteOnlyCell(sheet, value=safe_cell(value))
    cell.data_type = "s"
    return cell


def xlsx_response(filename: str, header: Iterable[str], rows: Iterable[Iterable]):
    """An XLSX download, written row by row to a temporary file (openpyxl's write-only mode).

    Rows from table() are read with their times as datetimes, to be Excel dates.
    """
    if isinstance(rows, QueryRows):
        rows = rows.native_times()
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet()
    sheet.append([xlsx_cell(sheet, str(name)) for name in header])
    for row in rows:
        sheet.append([xlsx_cell(sheet, value) for value in row])
    out = tempfile.TemporaryFile()  # FileResponse closes it when sent
    workbook.save(out)
    out.seek(0)
    return FileResponse(
        out,
        as_attachment=True,
        filename=filename,
        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )
