"""Admin list pages over tables that grow by millions: counts that do not scan, filter
choices read through an index, a date drill-down that reads only the range's ends."""

from collections import Counter
from collections.abc import Callable
from copy import copy
from datetime import date, datetime, time, timedelta
from functools import cache
from typing import Any

from django.contrib import admin
from django.contrib.admin import helpers
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.utils import build_q_object_from_lookup_parameters
from django.contrib.admin.views.main import PAGE_VAR
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db import connection
from django.db.models import DateTimeField, Exists, F, Max, Min, QuerySet, Subquery
from django.db.models.constants import LOOKUP_SEP
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.html import escape
from django.utils.safestring import mark_safe
from unfold import admin as unfold_admin

from lib.filters import row_id


def once_per_request(request, key: tuple, compute: Callable[[], Any]) -> Any:
    """`compute()` the first time `key` is asked for during this request, then its answer.

    A list's filter choices are the same for every row of a page that builds the list more
    than once (the segments list reads the subscriber list once per segment). Copies of the
    request (copy.copy) share the store when it was made before copying.
    """
    found = request.__dict__.setdefault("_once_per_request", {})
    if key not in found:
        found[key] = compute()
    return found[key]


def request_copy(request):
    """A shallow copy of the request, to be given other parameters, that shares the
    request's once-per-request answers."""
    request.__dict__.setdefault("_once_per_request", {})
    return copy(request)


def periods(first: date, last: date, kind: str) -> list[date]:
    """The first day of each year, month or day from `first` to `last`."""
    if kind == "year":
        return [date(year, 1, 1) for year in range(first.year, last.year + 1)]
    if kind == "month":
        months = range(first.year * 12 + first.month - 1, last.year * 12 + last.month)
        return [date(month // 12, month % 12 + 1, 1) for month in months]
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def range_field(args: tuple, kwargs: dict) -> str | None:
    """The field of date_hierarchy's `aggregate(first=Min(f), last=Max(f))`, else None."""
    first, last = kwargs.get("first"), kwargs.get("last")
    if args or set(kwargs) != {"first", "last"}:
        return None
    if not (isinstance(first, Min) and isinstance(last, Max)) or first.filter or last.filter:
        return None
    names = [getattr(e.source_expressions[0], "name", None) for e in (first, last)]
    if not names[0] or names[0] != names[1] or LOOKUP_SEP in names[0]:
        return None
    return names[0]


class ProbedExists(Exists):
    """EXISTS that PostgreSQL answers row by row through an index, in the list's order.

    Several EXISTS joined by OR it would otherwise turn into hashes of every match (every vote
    of 200,000 subscribers: 1.6 s) before the list's first row; OFFSET 0 keeps the subquery
    as written. A list then stops at its page, a count at its cap."""

    template = "EXISTS(%(subquery)s OFFSET 0)"


class IndexedDatesQuerySet(QuerySet):
    """date_hierarchy's links from the range's two ends (index lookups), not from a
    DISTINCT over every row: on a million rows that scan costs more than the page itself.
    A period in the range with no rows still gets a link; it leads to an empty page."""

    def aggregate(self, *args, **kwargs):
        # date_hierarchy asks this very queryset for the range's ends, then datetimes() needs
        # them again: on a filtered or searched list each ask can scan, so ask once.
        key = repr((args, sorted(kwargs.items())))
        answers = self.__dict__.setdefault("_aggregates", {})
        if key not in answers:
            field = range_field(args, kwargs)
            if field is None:
                answers[key] = super().aggregate(*args, **kwargs)
            else:
                answers[key] = self.range_ends(field)
        return answers[key]

    def range_ends(self, field: str) -> dict:
        """{"first": MIN(field), "last": MAX(field)} as the first row each way in the field's
        order, in one query. PostgreSQL reads MIN() of a join (a list filtered by what the
        subscribers did) over every match: 2 s for 30,000 voters, where walking the list's
        index from either end stops at the first."""
        if self.query.is_empty():
            return {"first": None, "last": None}
        output = self.model._meta.get_field(field)
        rows = self.filter(**{f"{field}__isnull": False}).values(field)
        # A nullable time is indexed DESC NULLS LAST (never seen last), read backwards for the
        # first; PostgreSQL uses an index only for the NULLS order it was built with.
        nulls = {"nulls_first": True} if output.null else {}
        first = rows.order_by(F(field).asc(**nulls))[:1]
        last = rows.order_by(F(field).desc(nulls_last=output.null or None))[:1]
        ends = self.model._default_manager.annotate(
            first=Subquery(first, output_field=output), last=Subquery(last, output_field=output)
        )
        return ends.values("first", "last").order_by().first() or {"first": None, "last": None}

    def datetimes(self, field_name, kind, order="ASC", tzinfo=None):
        bounds = self.aggregate(first=Min(field_name), last=Max(field_name))
        if bounds["first"] is None:
            return []
        first = timezone.localtime(bounds["first"], tzinfo).date()
        last = timezone.localtime(bounds["last"], tzinfo).date()
        found = [
            timezone.make_aware(datetime.combine(day, time()), tzinfo)
            for day in periods(first, last, kind)
        ]
        return found if order == "ASC" else found[::-1]


def estimated_rows(model) -> int:
    """PostgreSQL's own estimate of a table's rows (kept by ANALYZE/autovacuum); -1 if none."""
    if connection.vendor != "postgresql":
        return -1
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass",
            [connection.ops.quote_name(model._meta.db_table)],
        )
        row = cursor.fetchone()
    return row[0] if row else -1


class BigTablePaginator(Paginator):
    """Pages without counting millions of rows, which costs more than the page itself.

    The whole table: PostgreSQL's estimate of its size, beyond `cap` rows. A filtered or
    searched list: counted up to `limit` rows only (`cap` unless given); beyond that it says
    "more than" and offers the pages of the first `limit` rows. Small tables are counted
    exactly.
    """

    cap = 10_000

    def __init__(self, *args, limit: int | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.limit = limit or self.cap

    @cached_property
    def count(self) -> int:
        self.estimated = self.capped = False
        if not self.object_list.query.where:
            estimate = estimated_rows(self.object_list.model)
            if estimate > self.cap:
                self.estimated = True
                return estimate
        # Unordered: any index that answers the filter will do for counting.
        counted = self.object_list.order_by()[: self.limit + 1].count()
        self.capped = counted > self.limit
        return min(counted, self.limit)


def distinct_values(model, field_name: str) -> list:
    """The distinct non-null values of an indexed column, in order, one index probe each.

    A recursive query hops from each value to the next greater one (a "loose index scan"),
    where SELECT DISTINCT reads every row: 2 ms instead of 45 ms for 200,000 subscribers'
    carriers. Meant for columns with few distinct values.
    """
    table = connection.ops.quote_name(model._meta.db_table)
    column = connection.ops.quote_name(model._meta.get_field(field_name).column)
    sql = (
        f"WITH RECURSIVE v(value) AS (SELECT MIN({column}) FROM {table} "  # noqa: S608
        f"UNION ALL SELECT (SELECT MIN({column}) FROM {table} WHERE {column} > v.value) "
        "FROM v WHERE v.value IS NOT NULL) SELECT value FROM v WHERE value IS NOT NULL"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return [value for (value,) in cursor.fetchall()]


class IndexedValuesFilter(admin.AllValuesFieldListFilter):
    """The stock "all values" filter, its choices read through the column's index (once a
    request)."""

    def __init__(self, field, request, params, model, model_admin, field_path):
        super().__init__(field, request, params, model, model_admin, field_path)
        key = ("distinct_values", field.model._meta.label, field.name)
        self.lookup_choices = once_per_request(
            request, key, lambda: distinct_values(field.model, field.name)
        )


# The stock date filter's links by name, and the range each names at a given local time.
ROLLING_PERIODS = {
    "today": "Today",
    "past_7_days": "Past 7 days",
    "this_month": "This month",
    "this_year": "This year",
}


def rolling_range(period: str, now: datetime) -> tuple[datetime, datetime]:
    """[since, until) of a named period at `now` (aware, local): "past_7_days" is the stock
    filter's, the seven days before today and today."""
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "today":
        return today, today + timedelta(days=1)
    if period == "past_7_days":
        return today - timedelta(days=7), today + timedelta(days=1)
    if period == "this_month":
        first = today.replace(day=1)
        return first, (first + timedelta(days=32)).replace(day=1)
    if period == "this_year":
        first = today.replace(month=1, day=1)
        return first, first.replace(year=first.year + 1)
    raise ValidationError(f"No such period: {period}")


class RollingDateFilter(admin.DateFieldListFilter):
    """The stock date filter whose "Today", "Past 7 days", "This month" and "This year" are
    named in the address (`last_seen_at__within=past_7_days`), not dated: a bookmark or a
    segment made from one keeps meaning the last 7 days as time goes on. A range in dates
    (`__gte`/`__lt`, as older links and segments hold) still filters as before."""

    def __init__(self, field, request, params, model, model_admin, field_path):
        self.lookup_kwarg_within = f"{field_path}__within"
        super().__init__(field, request, params, model, model_admin, field_path)
        named = {str(title): name for name, title in ROLLING_PERIODS.items()}
        self.links = tuple(
            (title, {self.lookup_kwarg_within: named[str(title)]} if str(title) in named else p)
            for title, p in self.links
        )

    def expected_parameters(self):
        return [*super().expected_parameters(), self.lookup_kwarg_within]

    def queryset(self, request, queryset):
        asked = dict(self.used_parameters)
        period = asked.pop(self.lookup_kwarg_within, None)
        if period is not None:
            try:
                since, until = rolling_range(period[-1], timezone.localtime())
            except ValidationError as e:
                raise IncorrectLookupParameters(e) from None
            if not isinstance(self.field, DateTimeField):
                since, until = since.date(), until.date()
            asked.update({self.lookup_kwarg_since: [since], self.lookup_kwarg_until: [until]})
        try:
            return queryset.filter(build_q_object_from_lookup_parameters(asked))
        except (ValueError, ValidationError) as e:
            raise IncorrectLookupParameters(e) from None


class AppliedWhenAskedMixin:
    """For a SimpleListFilter: applied whenever its parameter is given, even when it has no
    choice to offer. Django leaves out a filter without choices, parameter and all: a link
    or a saved filter naming a deleted row would then show every row instead of none."""

    def has_output(self) -> bool:
        return super().has_output() or self.value() is not None


class BigTableMixin:
    """List pages over tables that grow by millions: no full count, no facet counts, and a
    date drill-down that reads only the range's ends."""

    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    paginator = BigTablePaginator
    # A filtered list counts its matches this far beyond the start of the page shown: 10
    # pages of 100 ahead, so each page walked reaches further. A count finding 10,001 matches
    # probed 50,000 callbacks (the log filtered by carrier: 1.1 s under load).
    count_ahead = 1_000
    # Unfold's list template asks for this twice a row; missing, each ask ran dir() on the
    # model admin (30 ms a page).
    list_sections = ()

    @admin.display(description=unfold_admin.ModelAdmin.action_checkbox.short_description)
    def action_checkbox(self, obj) -> str:
        before, after = row_checkbox_around_pk()
        return mark_safe(before + escape(obj.pk) + after)  # noqa: S308 (the pk is escaped)

    def get_paginator(self, request, queryset, per_page, orphans=0, allow_empty_first_page=True):
        shown = min(row_id(request.GET.get(PAGE_VAR)) or 1, 1_000_000)  # a LIMIT stays a bigint
        limit = per_page * (shown - 1) + self.count_ahead
        return self.paginator(queryset, per_page, orphans, allow_empty_first_page, limit=limit)

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        return IndexedDatesQuerySet(model=qs.model, query=qs.query, using=qs._db, hints=qs._hints)


@cache
def row_checkbox_around_pk() -> tuple[str, str]:
    """Unfold's row checkbox, rendered once around a marker: the HTML before and after the
    row's pk. Rendering its widget template took 0.7 ms a row, a third of a 100-row list."""
    html = unfold_admin.checkbox.render(helpers.ACTION_CHECKBOX_NAME, "ROW-PK")
    before, after = html.split("ROW-PK")
    return before, after


def json_key_column(field: str, key: str):
    """A list column showing one key of a JSON field (a custom field such as "Zip")."""

    @admin.display(description=key)
    def column(obj) -> str:
        return str((getattr(obj, field) or {}).get(key, ""))

    column.__name__ = f"{field}_{key}"
    return column


class JsonColumnsMixin:
    """Custom fields as their own columns: the keys most common among the latest rows.

    A sample of the newest `json_columns_sample` rows (one indexed query) decides which keys,
    at most `json_columns_max` of them, in order of how often they occur.
    """

    json_columns_field = "fields"
    json_columns_max = 4
    json_columns_sample = 200

    def json_columns(self, request) -> list[str]:
        # The changelist asks for its columns more than once a request: sample once.
        key = ("json_columns", self.model._meta.label)
        return once_per_request(request, key, self.sample_json_keys)

    def sample_json_keys(self) -> list[str]:
        counts: Counter = Counter()
        rows = self.model.objects.order_by("-pk").values_list(self.json_columns_field, flat=True)
        for fields in rows[: self.json_columns_sample]:
            counts.update(key for key in (fields or {}) if isinstance(key, str))
        # Ties in name order: PostgreSQL's jsonb keeps its keys in an order of its own.
        ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0].lower()))
        return [key for key, _ in ranked[: self.json_columns_max]]

    def get_list_display(self, request):
        keys = self.json_columns(request)
        columns = [json_key_column(self.json_columns_field, key) for key in keys]
        return (*super().get_list_display(request), *columns)


def headers_once_per_list() -> None:
    """Unfold's list template works out every column header again for each row (to label the
    cells on a phone): 900 header computations for a page of 100 subscribers, 0.7 of its 2 s
    under load. The headers are the same for every row of a list, so work them out once."""
    # Here, not at the top: the template tags read the settings of the apps, ready by now.
    from unfold.templatetags import unfold_list

    compute = unfold_list.result_headers
    if getattr(compute, "once_per_list", False):
        return

    def result_headers(cl):
        if "_crm_headers" not in cl.__dict__:
            cl._crm_headers = list(compute(cl))
        return iter(cl._crm_headers)

    result_headers.once_per_list = True
    unfold_list.result_headers = result_headers
