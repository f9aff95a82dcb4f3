"""Admin list pages over tables that grow by millions: counts that do not scan, filter
choices read through an index, a date drill-down that reads only the range's ends."""

from collections import Counter
from datetime import date, datetime, time, timedelta

from django.contrib import admin
from django.core.paginator import Paginator
from django.db import connection
from django.db.models import Max, Min, QuerySet
from django.utils import timezone
from django.utils.functional import cached_property


def periods(first: date, last: date, kind: str) -> list[date]:
    """The first day of each year, month or day from `first` to `last`."""
    if kind == "year":
        return [date(year, 1, 1) for year in range(first.year, last.year + 1)]
    if kind == "month":
        months = range(first.year * 12 + first.month - 1, last.year * 12 + last.month)
        return [date(month // 12, month % 12 + 1, 1) for month in months]
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


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
            answers[key] = super().aggregate(*args, **kwargs)
        return answers[key]

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

    The whole table: PostgreSQL's estimate of its size. A filtered or searched list: counted
    up to `cap` rows only; beyond that it says "more than" and offers the first `cap` rows'
    pages (narrow the filter to go further). Small tables are counted exactly.
    """

    cap = 10_000

    @cached_property
    def count(self) -> int:
        self.estimated = self.capped = False
        if not self.object_list.query.where:
            estimate = estimated_rows(self.object_list.model)
            if estimate > self.cap:
                self.estimated = True
                return estimate
        # Unordered: any index that answers the filter will do for counting.
        counted = self.object_list.order_by()[: self.cap + 1].count()
        self.capped = counted > self.cap
        return min(counted, self.cap)


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
    """The stock "all values" filter, its choices read through the column's index."""

    def __init__(self, field, request, params, model, model_admin, field_path):
        super().__init__(field, request, params, model, model_admin, field_path)
        self.lookup_choices = distinct_values(field.model, field.name)


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

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        return IndexedDatesQuerySet(model=qs.model, query=qs.query, using=qs._db, hints=qs._hints)


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
        found = request.__dict__.setdefault("_json_columns", {})
        if self.model not in found:
            found[self.model] = self.sample_json_keys()
        return found[self.model]

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
