"""A poll's votes broken down by who voted: carrier, US state, a custom field, an age band.

Each breakdown is one grouped query over the votes that count (see campaigns.results), its
rows keyed by the subscriber's value and the choice; the values are then read in Python
(an area code becomes a state, a date of birth an age band) and regrouped.
"""

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, datetime

from django.db.models import CharField, Count, F, Min, Value
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Substr

from campaigns.models import Campaign, PollChoice, PollResponse
from campaigns.results import Counting, counted_responses
from subscribers.phone import us_state

UNKNOWN = "(unknown)"
OUTSIDE_US = "(outside the US)"
AGE_BANDS = ((0, 17, "under 18"), (18, 24, "18–24"), (25, 34, "25–34"), (35, 44, "35–44"))
AGE_BANDS += ((45, 54, "45–54"), (55, 64, "55–64"), (65, 200, "65+"))
DATE_FORMATS = ("%Y-%m-%d", "%m/%d/%Y", "%m-%d-%Y", "%Y/%m/%d", "%m/%d/%y", "%Y%m%d")
# Custom-field names looked for among the voters, so the page can offer their breakdowns.
FIELD_SAMPLE = 500
MAX_ROWS = 50  # values beyond the busiest are summed into "(other)"


@dataclass(frozen=True)
class Dimension:
    key: str  # in the URL: "carrier", "state", "age", "field:Zip"
    label: str


@dataclass(frozen=True)
class BreakdownRow:
    value: str
    votes: dict[int, int]  # choice id -> votes
    total: int


@dataclass(frozen=True)
class Breakdown:
    dimension: Dimension
    choices: list[PollChoice]
    rows: list[BreakdownRow]


CARRIER = Dimension("carrier", "Carrier")
STATE = Dimension("state", "US state")
AGE = Dimension("age", "Age band (from DOB)")


def age_band(value: str, today: date) -> str:
    """ "25–34" for a date of birth in any of the common formats; UNKNOWN otherwise."""
    born = date_of_birth(value.strip())
    if born is None:
        return UNKNOWN
    age = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
    for low, high, label in AGE_BANDS:
        if low <= age <= high:
            return label
    return UNKNOWN


def date_of_birth(text: str) -> date | None:
    if len(text) == 10 and text[4] == text[7] == "-":
        # The common form, read ten times faster than strptime() reads it.
        try:
            return date.fromisoformat(text)
        except ValueError:
            return None
    for fmt in DATE_FORMATS:
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    return None


def dob_field(names: list[str]) -> str | None:
    return next((name for name in names if name.lower() in ("dob", "birthday", "birthdate")), None)


def voter_fields(campaign: Campaign) -> list[str]:
    """Custom-field names the latest voters have (a sample: enough to offer breakdowns)."""
    rows = (
        PollResponse.objects.filter(campaign=campaign)
        .order_by("-received_at")
        .values_list("subscriber__fields", flat=True)[:FIELD_SAMPLE]
    )
    return sorted({name for fields in rows for name in (fields or {})}, key=str.lower)


def dimensions(campaign: Campaign) -> list[Dimension]:
    names = voter_fields(campaign)
    found = [CARRIER, STATE]
    if dob_field(names):
        found.append(AGE)
    return found + [Dimension(f"field:{name}", name) for name in names]


def dimension(campaign: Campaign, key: str) -> Dimension | None:
    return next((d for d in dimensions(campaign) if d.key == key), None)


def _grouped(votes, value, with_sample: bool = False) -> list[tuple]:
    """(raw value, choice, votes, a voter's mobile or None) rows: the mobile only when asked
    for (the state's geocoder needs one number per area code; the others need none)."""
    sample = Min("subscriber__mobile") if with_sample else Value(None, CharField())
    return list(
        votes.annotate(value=value)
        .values_list("value", "choice")
        .annotate(n=Count("id"), sample=sample)
        .order_by()
    )


def _regroup(rows, name) -> dict[str, Counter]:
    """{shown value: {choice id: votes}} from (raw value, choice, votes, sample mobile) rows;
    `name` is called once per raw value (a DOB or an area code recurs once per choice)."""
    table: dict = defaultdict(Counter)
    names: dict = {}
    for raw, choice, n, sample in rows:
        if raw not in names:
            names[raw] = name(raw, sample)
        table[names[raw]][choice] += n
    return table


def breakdown(
    campaign: Campaign,
    dim: Dimension,
    counting=Counting.ALL,
    since=None,
    until=None,
    today=None,
    *,
    subscribers=None,
) -> Breakdown:
    votes = counted_responses(campaign, counting, since, until, subscribers=subscribers)
    if dim == CARRIER:
        table = _regroup(_grouped(votes, F("subscriber__carrier")), lambda raw, _: raw or UNKNOWN)
    elif dim == STATE:
        # "+1212": the area code decides the state; one geocoder lookup per area code.
        def state(raw, sample):
            return us_state(sample) or (OUTSIDE_US if not raw.startswith("+1") else UNKNOWN)

        rows = _grouped(votes, Substr("subscriber__mobile", 1, 5), with_sample=True)
        table = _regroup(rows, state)
    elif dim == AGE:
        today = today or date.today()
        field = dob_field(voter_fields(campaign))
        rows = _grouped(votes, KeyTextTransform(field, "subscriber__fields"))
        table = _regroup(rows, lambda raw, _: age_band(raw or "", today))
    else:
        name = dim.key.removeprefix("field:")
        rows = _grouped(votes, KeyTextTransform(name, "subscriber__fields"))
        table = _regroup(rows, lambda raw, _: (raw or "").strip() or UNKNOWN)
    choices = sorted(campaign.choices.all(), key=lambda c: (c.order, c.reply.lower()))
    return Breakdown(dim, choices, _rows(table, dim == AGE))


def _rows(table: dict[str, Counter], in_band_order: bool) -> list[BreakdownRow]:
    rows = [
        BreakdownRow(value, dict(counts), sum(counts.values())) for value, counts in table.items()
    ]
    if in_band_order:
        order = {label: i for i, (_, _, label) in enumerate(AGE_BANDS)}
        return sorted(rows, key=lambda r: order.get(r.value, len(order)))
    rows.sort(key=lambda r: (-r.total, r.value))
    if len(rows) > MAX_ROWS:
        rest = Counter()
        for row in rows[MAX_ROWS:]:
            rest.update(row.votes)
        rows = [*rows[:MAX_ROWS], BreakdownRow("(other)", dict(rest), sum(rest.values()))]
    return rows
