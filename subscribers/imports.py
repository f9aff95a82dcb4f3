"""Subscribers from a CSV file, through django-import-export's preview-then-confirm import.

Numbers are normalised exactly as callbacks normalise them and rows are saved through
Subscriber.objects.record_import(), which leaves first and last seen to callbacks and stamps
imported_at. Columns other than mobile, country and carrier become custom fields. The import
runs in one transaction: a file with any invalid row imports nothing.

The preview (PreviewRow, one per row of the file, in its order) shows every column of the
file, each changed value of a known subscriber as old → new, and each problem in plain words
with the file's line number.
"""

import csv
import io
from dataclasses import dataclass, field

import tablib
from django.core.exceptions import ValidationError
from django.utils import timezone
from import_export import resources
from import_export.formats.base_formats import CSV

from lib.text import canonical_name, is_blank
from subscribers.models import Subscriber
from subscribers.phone import InvalidMobile, country_code, normalise_mobile

PROFILE_COLUMNS = ("mobile", "country", "carrier")


def custom_fields(row: dict) -> dict:
    return {
        str(name).strip(): str(value).strip()
        for name, value in row.items()
        if name and canonical_name(str(name)) not in PROFILE_COLUMNS and value is not None
    }


class LineNumberedCSV(CSV):
    """CSV read with the line each row starts on, as an editor numbers the file's lines (the
    header is line 1; a quoted cell running over several lines moves the following rows on).
    """

    def create_dataset(self, in_stream, **kwargs):
        if isinstance(in_stream, bytes):
            in_stream = in_stream.decode(self.encoding or "utf-8")
        reader = csv.reader(io.StringIO(in_stream.removeprefix("\ufeff"), newline=""))
        dataset, lines, starts = tablib.Dataset(), [], 1
        for record in reader:
            if not dataset.headers:
                dataset.headers = record
            elif any(cell.strip() for cell in record):
                width = len(dataset.headers)
                dataset.append((record + [""] * width)[:width])
                lines.append(starts)
            starts = reader.line_num + 1
        dataset.line_numbers = lines
        return dataset


@dataclass
class Cell:
    """One column of a row as the preview shows it: the file's value, and for a subscriber
    we have, the stored one it replaces (None when the value does not change)."""

    column: str
    value: str
    old: str | None = None

    @property
    def changed(self) -> bool:
        return self.old is not None


@dataclass
class PreviewRow:
    line: int
    status: str  # "new", "update", "unchanged" or "invalid"
    cells: list[Cell]
    problems: list[str] = field(default_factory=list)


def problems_in_words(error: ValidationError) -> list[str]:
    """Each problem as a sentence: "Mobile '555' is not a valid phone number in US"."""
    return [message[:1].upper() + message[1:] for message in error.messages]


def stored_value(subscriber: Subscriber, column: str) -> str:
    if canonical_name(column) in PROFILE_COLUMNS:
        return str(getattr(subscriber, canonical_name(column)) or "")
    return str(subscriber.fields.get(column.strip(), ""))


def preview_cells(headers: dict, row: dict, before: Subscriber | None) -> list[Cell]:
    cells = []
    for column, header in headers.items():
        value = "" if is_blank(row.get(column)) else str(row[column]).strip()
        old = stored_value(before, column) if before else None
        # A blank cell keeps what is stored; an equal value changes nothing.
        changed = old is not None and value and value != old
        cells.append(Cell(header, value or (old or ""), old if changed else None))
    return cells


class SubscriberResource(resources.ModelResource):
    class Meta:
        model = Subscriber
        fields = PROFILE_COLUMNS
        import_id_fields = ("mobile",)
        use_transactions = True

    def before_import(self, dataset, **kwargs):
        # "Mobile", "MOBILE " and "mobile" are one column, as callbacks match parameters.
        dataset.headers = [
            canonical_name(name) if name and canonical_name(name) in PROFILE_COLUMNS else name
            for name in dataset.headers or []
        ]
        # The column names the preview shows, as the file spells them.
        self.file_headers = {
            name: original or name
            for name, original in zip(dataset.headers, self.original_headers, strict=False)
        }
        self.line_numbers = getattr(dataset, "line_numbers", None)
        self.imported_at = timezone.now()
        self.preview: list[PreviewRow] = []
        if "mobile" not in dataset.headers:
            raise ValueError(
                "The file has no mobile column: its first line names the columns, and one of "
                "them must be mobile."
            )

    def import_data(self, dataset, *args, **kwargs):
        self.original_headers = [str(name or "").strip() for name in dataset.headers or []]
        return super().import_data(dataset, *args, **kwargs)

    def before_import_row(self, row, **kwargs):
        raw_country = str(row.get("country") or "").strip()
        country = country_code(raw_country)
        if raw_country and not country:
            raise ValidationError(
                {"country": f"country {raw_country[:40]!r} is unknown: write US, USA or its name"}
            )
        try:
            row["mobile"] = normalise_mobile(str(row.get("mobile") or ""), country)
        except InvalidMobile as e:
            raise ValidationError({"mobile": str(e)}) from None
        # A blank country keeps the stored one; a new subscriber gets the number's own.
        row["country"] = country
        row["carrier"] = str(row.get("carrier") or "").strip()[:64]

    def import_field(self, field, instance, row, is_m2m=False, **kwargs):
        # As in callbacks, a blank cell never erases what is stored.
        if field.column_name in row and is_blank(row[field.column_name]):
            return
        super().import_field(field, instance, row, is_m2m, **kwargs)

    def save_instance(self, instance, is_create, row, **kwargs):
        # Meta.use_transactions: a preview saves too, in a transaction that is rolled back.
        saved = Subscriber.objects.record_import(
            instance.mobile,
            country=instance.country,
            carrier=instance.carrier,
            fields=custom_fields(row),
            imported_at=self.imported_at,
        )
        instance.pk = saved.pk

    def import_row(self, row, instance_loader, **kwargs):
        file_row = dict(row)  # as in the file: before_import_row normalises `row` in place
        row_result = super().import_row(row, instance_loader, **kwargs)
        line = self.line_of(kwargs["row_number"])
        headers = self.file_headers
        if row_result.validation_error is not None:
            cells = [Cell(h, str(file_row.get(c) or "").strip()) for c, h in headers.items()]
            problems = problems_in_words(row_result.validation_error)
            self.preview.append(PreviewRow(line, "invalid", cells, problems))
        elif not row_result.errors:
            cells = preview_cells(headers, row, row_result.original)
            status = row_result.import_type
            if status == "update" and not any(cell.changed for cell in cells):
                status = "unchanged"
            self.preview.append(PreviewRow(line, status, cells))
        return row_result

    def after_import(self, dataset, result, **kwargs):
        result.preview = self.preview
        result.preview_headers = list(self.file_headers.values())

    def line_of(self, row_number: int) -> int:
        """The file's line a data row starts on (the header is line 1)."""
        if self.line_numbers and row_number <= len(self.line_numbers):
            return self.line_numbers[row_number - 1]
        return row_number + 1
