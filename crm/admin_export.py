"""Export for every admin list page: what the current filters and search select.

CSV is streamed through crm.exports (flat memory, however many rows); XLSX is written to a
temporary file row by row. Both come from one row definition per admin, so custom form
fields expand into the same columns in both.
"""

from collections.abc import Iterable, Iterator

from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import BadRequest, PermissionDenied
from django.db.models import QuerySet
from django.urls import path
from django.utils import timezone

from crm.exports import csv_response, xlsx_response

CHUNK_SIZE = 2000


def json_keys(queryset: QuerySet, field: str) -> list[str]:
    """Every key a JSON field holds across the queryset, sorted so columns stay put.

    One streamed pass: memory grows with the number of distinct keys, not rows.
    """
    keys: set[str] = set()
    for value in queryset.values_list(field, flat=True).iterator(chunk_size=CHUNK_SIZE):
        if isinstance(value, dict):
            keys.update(value)
    return sorted(keys)


class ListExportMixin:
    """Adds "Export CSV" and "Export XLSX" to a changelist.

    Subclasses declare `export_columns`: (header, value path for .values_list()) pairs,
    and optionally `export_json_field`, a JSON field whose keys become extra columns.
    """

    change_list_template = "admin/export_change_list.html"
    export_columns: tuple[tuple[str, str], ...] = ()
    export_json_field: str | None = None

    def get_urls(self):
        opts = self.model._meta
        name = f"{opts.app_label}_{opts.model_name}"
        wrap = self.admin_site.admin_view
        return [
            path("export.csv", wrap(self.export_csv_view), name=f"{name}_export_csv"),
            path("export.xlsx", wrap(self.export_xlsx_view), name=f"{name}_export_xlsx"),
            *super().get_urls(),
        ]

    def export_queryset(self, request) -> QuerySet:
        """The changelist's own queryset: its filters, search and ordering."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        try:
            return self.get_changelist_instance(request).get_queryset(request)
        except IncorrectLookupParameters:
            raise BadRequest("These filters do not apply to this list.") from None

    def export_table(self, queryset: QuerySet) -> tuple[list[str], Iterator[Iterable]]:
        headers = [header for header, _ in self.export_columns]
        paths = [value for _, value in self.export_columns]
        keys: list[str] = []
        if self.export_json_field:
            keys = json_keys(queryset, self.export_json_field)
            paths.append(self.export_json_field)
            headers += keys

        def rows():
            values = queryset.values_list(*paths).iterator(chunk_size=CHUNK_SIZE)
            for row in values:
                if not keys:
                    yield row
                    continue
                extra = row[-1] if isinstance(row[-1], dict) else {}
                yield (*row[:-1], *(extra.get(key, "") for key in keys))

        return headers, rows()

    def export_filename(self, extension: str) -> str:
        stamp = timezone.now().strftime("%Y%m%d-%H%M")
        return f"{self.model._meta.verbose_name_plural.replace(' ', '-')}-{stamp}.{extension}"

    def export_csv_view(self, request):
        header, rows = self.export_table(self.export_queryset(request))
        return csv_response(self.export_filename("csv"), header, rows)

    def export_xlsx_view(self, request):
        header, rows = self.export_table(self.export_queryset(request))
        return xlsx_response(self.export_filename("xlsx"), header, rows)
