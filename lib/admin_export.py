"""Export for every admin list page: what the current filters and search select.

All formats come from one lib.exports.table() per admin, so custom form fields expand into
the same columns in each: CSV is streamed (flat memory, however many rows), plain or "for
Excel" (a UTF-8 byte-order mark first, so Excel reads "Zoë" right); XLSX is written to a
temporary file row by row, its times real dates. Times are in the configured time zone, the
zone named in each time column's header ("Received at (America/New_York)").
"""

from collections.abc import Iterator

from django.contrib import messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import BadRequest, PermissionDenied
from django.db.models import QuerySet
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils import timezone

from lib.exports import Column, csv_response, table, xlsx_response

# Column names as a spreadsheet user reads them; the API's CSV keeps the field names.
HEADER_WORDS = {"shortcode": "Short code", "remote_addr": "Remote address"}


def readable(header: str) -> str:
    """ "received_at" -> "Received at", "shortcode" -> "Short code"."""
    return HEADER_WORDS.get(header) or header.replace("_", " ").capitalize()


# XLSX is built whole before the download starts (about 5,000 rows a second): beyond this
# the request would outlive a worker's timeout, so bigger exports are CSV only.
XLSX_MAX_ROWS = 100_000


class ListExportMixin:
    """Adds "Export CSV" and "Export XLSX" to a changelist.

    Subclasses declare `export_columns`: (header, value path for .values_list()) pairs,
    and optionally `export_json_field`, a JSON field whose keys become extra columns.
    """

    change_list_template = "admin/export_change_list.html"
    export_columns: tuple[Column, ...] = ()
    export_json_field: str | None = None

    def get_urls(self):
        opts = self.model._meta
        name = f"{opts.app_label}_{opts.model_name}"
        wrap = self.admin_site.admin_view
        return [
            path("export.csv", wrap(self.export_csv_view), name=f"{name}_export_csv"),
            path(
                "export-excel.csv",
                wrap(self.export_excel_csv_view),
                name=f"{name}_export_excel_csv",
            ),
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

    def export_table(self, queryset: QuerySet) -> tuple[list[str], Iterator[tuple]]:
        columns = [(readable(header), path) for header, path in self.export_columns]
        header, rows = table(queryset, columns, self.export_json_field)
        zone = timezone.get_current_timezone_name()
        for n in rows.time_columns():
            header[n] = f"{header[n]} ({zone})"
        return header, rows

    def export_filename(self, extension: str) -> str:
        stamp = timezone.now().strftime("%Y%m%d-%H%M")
        return f"{self.model._meta.verbose_name_plural.replace(' ', '-')}-{stamp}.{extension}"

    def export_csv_view(self, request, bom=False):
        header, rows = self.export_table(self.export_queryset(request))
        return csv_response(self.export_filename("csv"), header, rows, bom=bom)

    def export_excel_csv_view(self, request):
        return self.export_csv_view(request, bom=True)

    def export_xlsx_view(self, request):
        queryset = self.export_queryset(request)
        if queryset[: XLSX_MAX_ROWS + 1].count() > XLSX_MAX_ROWS:
            self.message_user(
                request,
                f"XLSX exports stop at {XLSX_MAX_ROWS:,} rows: narrow the filters or export CSV.",
                messages.WARNING,
            )
            opts = self.model._meta
            changelist = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
            return redirect(f"{changelist}?{request.GET.urlencode()}")
        header, rows = self.export_table(queryset)
        return xlsx_response(self.export_filename("xlsx"), header, rows)
