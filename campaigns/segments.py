"""Segments: the subscriber list's filters and search, saved under a name.

A segment keeps the list's query string (its filter and search parameters only) and is read
back through the list itself: whatever the list can filter by, a segment can, and it selects
what the list would show for that address today. A definition the list no longer accepts (a
campaign deleted, a filter removed) selects nobody and says why.
"""

from dataclasses import dataclass, field

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import (
    ALL_VAR,
    ERROR_FLAG,
    IS_FACETS_VAR,
    IS_POPUP_VAR,
    ORDER_VAR,
    PAGE_VAR,
    SEARCH_VAR,
    TO_FIELD_VAR,
)
from django.core.exceptions import SuspiciousOperation
from django.db import connections
from django.db.models import QuerySet
from django.http import HttpRequest, QueryDict

from campaigns.models import Segment
from lib.admin_lists import BigTablePaginator, once_per_request, request_copy
from lib.filters import row_id
from subscribers.models import Subscriber

SEGMENT_VAR = "segment"
# Parameters of the list that say how to show it, not whom: never part of a definition.
NOT_FILTERS = (
    ALL_VAR,
    ORDER_VAR,
    PAGE_VAR,
    ERROR_FLAG,
    IS_FACETS_VAR,
    IS_POPUP_VAR,
    TO_FIELD_VAR,
    SEGMENT_VAR,
    "_changelist_filters",
)
# Lookups of the list's date drill-down and date filters, in words.
LOOKUP_WORDS = {
    "gte": "from",
    "lt": "before",
    "lte": "up to",
    "gt": "after",
    "exact": "is",
    "isnull": "is empty",
    "year": "year",
    "month": "month",
    "day": "day",
}


def definition(query: QueryDict) -> str:
    """The filter and search parameters of a subscriber list's query string, as a segment
    keeps them. A segment among them is replaced by its own definition, the list's other
    parameters winning: a segment never refers to another."""
    kept = QueryDict(mutable=True)
    segment_id = row_id(query.get(SEGMENT_VAR))
    segment = Segment.objects.filter(pk=segment_id).first() if segment_id else None
    if segment is not None:
        kept.update(QueryDict(segment.query))
    for name, values in query.lists():
        if name not in NOT_FILTERS:
            kept.setlist(name, [value for value in values if value])
    for name in [name for name, values in kept.lists() if not any(values)]:
        del kept[name]
    return kept.urlencode()


@dataclass
class Selection:
    """Whom a definition selects on the subscriber list, and what it says in words."""

    subscribers: QuerySet  # none() when the definition no longer applies
    words: list[str] = field(default_factory=list)
    problem: str = ""  # why it selects nobody, when it no longer applies

    @property
    def description(self) -> str:
        return " · ".join(self.words) or "Every subscriber"

    def count(self) -> tuple[int, str]:
        """(how many, "" or "about" or "more than"): counted up to the subscriber list's cap,
        the whole table estimated, as the list itself counts."""
        paginator = BigTablePaginator(self.subscribers.order_by("pk"), 1)
        count = paginator.count
        if paginator.estimated:
            return count, "about"
        return count, "more than" if paginator.capped else ""


def select(request: HttpRequest, query: str) -> Selection:
    """The subscribers the subscriber list selects with this query string, for the user
    of `request`. The list's own filters, search and date drill-down decide, without reading
    a page of it."""
    model_admin = admin.site.get_model_admin(Subscriber)
    asked = request_copy(request)
    params = QueryDict(query, mutable=True)
    for name in NOT_FILTERS:
        params.pop(name, None)
    if any("\x00" in text for key, values in params.lists() for text in (key, *values)):
        # PostgreSQL can compare no text holding NUL: no list could select by it.
        return Selection(Subscriber.objects.none(), problem="A filter holds a NUL character.")
    asked.GET = params
    asked.selection_only = True
    try:
        changelist = model_admin.get_changelist_instance(asked)
    except (IncorrectLookupParameters, SuspiciousOperation) as e:
        return Selection(Subscriber.objects.none(), problem=f"The subscriber list refuses it: {e}")
    words, missing = describe(changelist)
    if missing:
        return Selection(
            Subscriber.objects.none(), words, problem=f"{'; '.join(missing)}: no longer exists."
        )
    return Selection(changelist.queryset.order_by(), words)


def segment_subscribers(request: HttpRequest, segment: Segment) -> Selection:
    """A segment's selection, computed once per request."""
    return once_per_request(
        request, ("segment", segment.pk), lambda: select(request, segment.query)
    )


def read_once(subscribers: QuerySet) -> QuerySet | list[int]:
    """The same subscribers, selected once: on PostgreSQL their ids, which the results page
    and its breakdowns compare as one array (`subscriber_id = ANY(ids)`, lib.filters.AnyOf).

    Each of their queries selected the segment's subscribers again (a trigram scan and a hash
    of a choice's voters: about 1 s each for 30,000 subscribers at 1,000,000 votes under
    load); a subquery on the ids still joined the subscribers' table."""
    if connections[subscribers.db].vendor != "postgresql" or not subscribers.query.where:
        return subscribers  # every subscriber, or a database without arrays
    return list(subscribers.values_list("pk", flat=True))


def describe(changelist) -> tuple[list[str], list[str]]:
    """(the list's filters and search in words, the choices asked for that are gone):
    each filter in its own title and choice ("took part in Best city (84700 FB1)")."""
    words, missing, used = [], [], set()
    for spec in changelist.filter_specs:
        used.update(spec.expected_parameters())
        if not spec.used_parameters:
            continue
        if hasattr(spec, "describe"):
            text = spec.describe()
            if text:
                words.append(text)
            continue
        choices = list(spec.choices(changelist))
        chosen = [str(c["display"]) for c in choices[1:] if c.get("selected")]
        if chosen:
            words.append(f"{spec.title} {', '.join(chosen)}")
        elif isinstance(spec, admin.SimpleListFilter):
            missing.append(f"{spec.title} #{spec.value()}")
        else:
            words.append(f"{spec.title} {lookups_in_words(spec.used_parameters)}")
    rest = {k: v for k, v in changelist.params.items() if k not in used and k != SEARCH_VAR}
    if rest:
        words.append(lookups_in_words(rest, changelist.model))
    if changelist.query:
        words.append(f"search “{changelist.query}”")
    return words, missing


def lookups_in_words(params: dict, model=None) -> str:
    """{"first_seen_at__gte": "2026-11-01"} -> "from 2026-11-01" (with the field's name when
    `model` is given: "last seen at year 2026")."""
    parts = []
    for name, value in params.items():
        value = value[-1] if isinstance(value, list) else value
        path, _, lookup = name.rpartition("__")
        if lookup not in LOOKUP_WORDS:
            path, lookup = name, "exact"
        text = f"{LOOKUP_WORDS[lookup]} {value}" if lookup != "isnull" else LOOKUP_WORDS[lookup]
        if model is not None:
            try:
                label = model._meta.get_field(path.split("__")[0]).verbose_name
            except Exception:  # noqa: BLE001 - any name the list accepted reads as itself
                label = path
            text = f"{label} {text}"
        parts.append(text)
    return ", ".join(parts)


class SelectionOnly:
    """A changelist that selects its rows without reading a page of them (no count, no
    page): what select() asks of the subscriber list."""

    def get_results(self, request):
        self.result_count = self.full_result_count = 0
        self.result_list = []
        self.can_show_all = self.multi_page = False
