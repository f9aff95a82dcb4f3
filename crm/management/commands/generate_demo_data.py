# ruff: noqa: S608 (the statements are built from constants; values go as parameters)
"""A large, realistic data set for trying the admin and measuring it (docs/benchmarks-admin.md).

Every response row needs its own raw CallbackEvent (one-to-one), so the data set holds one
callback event per poll response, info request and form submission. `--callbacks` counts the
callbacks that are *not* poll votes: info requests, form submissions, and rejected or failed
requests that produced no row.

On PostgreSQL the database makes the rows itself (InDatabase: INSERT … SELECT over
generate_series, every random draw a hash of the row's number and the seed, so the callback
event and its response agree without being held anywhere), with triggers, foreign-key
checks, secondary indexes and unique constraints off for the load and built at the end (the
poll counters' after their recount). On SQLite
rows are made in Python as plain tuples, ids given up front, and loaded with executemany()
(BulkLoader). Both in one transaction. Counters kept from the responses are brought up to
date afterwards (refresh_derived_data()).
"""

import json
import random
import time
from bisect import bisect
from datetime import UTC, date, datetime, timedelta
from itertools import accumulate
from urllib.parse import quote_plus, urlencode

from django.core.management import call_command, get_commands
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone

from callbacks.models import CallbackEvent, Endpoint, Outcome
from campaigns.models import (
    Campaign,
    FormSubmission,
    InfoRequest,
    Kind,
    PollChoice,
    PollNewVoters,
    PollRangeNewVoters,
    PollRangeTally,
    PollResponse,
    PollTally,
)
from subscribers.custom_fields import rebuild_summary
from subscribers.models import Subscriber

BATCH = 20_000
DAYS = 60
AREA_CODES = ("212", "305", "415", "646", "702", "813", "917", "312", "404", "617")
CARRIERS = ("Verizon", "AT&T", "T-Mobile", "US Cellular", "")
FIRST_NAMES = ("Ana", "Ben", "Chloe", "Dev", "Eli", "Fatima", "Gus", "Hana", "Ivan", "Jo")
# Dates of birth (the custom field "dob", for the age breakdown): 1950 to mid-2007.
BORN_FROM, BORN_DAYS = date(1950, 1, 1), 21_000
POLLS = {
    "VOTE": ("Best city", ["Tampa", "Miami", "Orlando", "Jacksonville"]),
    "PICK": ("Song of the summer", ["Track one", "Track two", "Track three"]),
    "MVP": ("Player of the game", ["Jones", "Smith", "Garcia", "Lee", "Brown"]),
    "FLAVOR": ("Next flavour", ["Mango", "Lime", "Cherry"]),
    "RATE": ("Rate the show", ["1", "2", "3", "4", "5"]),
}
INFOS = ("HOURS", "MENU", "DEALS")
FORMS = ("JOIN", "VIP", "WIN")
SHORTCODE = "12345"
REMOTE_ADDR = "203.0.113.7"
# Kept from the responses: filled by the recount after the load (refresh_derived_data()).
COUNTERS = (PollTally, PollNewVoters, PollRangeTally, PollRangeNewVoters)

EVENT_COLUMNS = (
    "id",
    "endpoint_id",
    "kind",
    "method",
    "query_string",
    "body",
    "content_type",
    "remote_addr",
    "received_at",
    "outcome",
    "reason",
    "change_seq",
)
RESPONSE_COLUMNS = ("id", "campaign_id", "subscriber_id", "callback_id", "received_at", "extras")
VOTE_COLUMNS = (*RESPONSE_COLUMNS, "change_seq", "choice_id", "reply", "label")
SUBSCRIBER_COLUMNS = (
    "id",
    "mobile",
    "country",
    "carrier",
    "fields",
    "first_seen_at",
    "last_seen_at",
    "updated_at",
    "change_seq",
)


def insert_into(model, columns) -> str:
    """The head of an INSERT … SELECT of the bulk path: the same columns the rows path writes."""
    return f"INSERT INTO {model._meta.db_table} ({', '.join(columns)})"


def mobile_number(i: int) -> str:
    """The i-th demo number: distinct for every i below 10 area codes x 800 exchanges x 10,000."""
    area = AREA_CODES[i % len(AREA_CODES)]
    rest = i // len(AREA_CODES)
    return f"+1{area}{200 + rest // 10_000}{rest % 10_000:04d}"


class BulkLoader:
    """Rows into tables the fastest way each database takes them, ids chosen here.

    On PostgreSQL, as a superuser, the load skips the per-row work the data does not need:
    triggers and foreign-key checks are off for the transaction (session_replication_role;
    the ids are made consistent here, and the change position the trigger would set is
    written with each row), and a table that starts empty has its secondary indexes and
    unique constraints (those no foreign key refers to) built once at the end rather than
    row by row. So have the `derived` tables (the poll counters, which the recount after the
    load fills with plain INSERTs), once derived_done() is told they are filled. Anyone else
    loads with all of it on. On SQLite,
    a table that starts empty loads without its insert triggers (one UPDATE a row, to number
    the row's change: each row is given the number instead, its id, as they count from 1)
    and its secondary indexes, all made again at the end of the same transaction.
    """

    def __init__(self, models: tuple, derived: tuple = ()):
        self.postgres = connection.vendor == "postgresql"
        self.next_ids: dict = {}
        self.seconds: dict[str, float] = {}  # spent writing, per table
        self.change_seq = 0  # what the databases' triggers overwrite
        self.indexes: list[str] = []  # and triggers, constraints: made again in done()
        self.derived_indexes: list[str] = []  # made again in derived_done()
        self.numbered: set[str] = set()  # tables whose rows are numbered here (SQLite)
        if self.postgres:
            self._skip_per_row_work(models, derived)
        else:
            self._skip_per_row_work_sqlite(models)

    def _skip_per_row_work_sqlite(self, models: tuple) -> None:
        with connection.cursor() as cursor:
            # Room for the indexes being built (256 MB; this connection's, gone after).
            cursor.execute("PRAGMA cache_size = -262144")
            for model in models:
                if model.objects.exists():
                    continue
                table = model._meta.db_table
                cursor.execute(
                    "SELECT type, name, sql FROM sqlite_master WHERE tbl_name = %s AND "
                    "sql IS NOT NULL AND (type = 'index' OR "
                    "(type = 'trigger' AND sql LIKE '%%AFTER INSERT ON%%'))",
                    [table],
                )
                for kind, name, definition in cursor.fetchall():
                    cursor.execute(f'DROP {kind.upper()} "{name}"')
                    self.indexes.append(definition)
                self.numbered.add(table)

    def _skip_per_row_work(self, models: tuple, derived: tuple) -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_setting('is_superuser') = 'on'")
            if not cursor.fetchone()[0]:
                return
            cursor.execute("SET LOCAL session_replication_role = replica")
            cursor.execute("SELECT pg_current_xact_id()::text::bigint")
            self.change_seq = cursor.fetchone()[0]  # as lib.sync's trigger sets it
            for model in (*models, *derived):
                if model.objects.exists():
                    continue
                made = self.derived_indexes if model in derived else self.indexes
                made += self._drop_indexes(cursor, model._meta.db_table)

    @staticmethod
    def _drop_indexes(cursor, table: str) -> list[str]:
        """Drop the table's secondary indexes and the unique constraints no foreign key refers
        to (a table filled in one go checks them once, when their index is built); return
        what makes them again."""
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s AND "
            "indexname NOT IN (SELECT conname FROM pg_constraint "
            "WHERE conrelid = %s::regclass)",
            [table, table],
        )
        made = []
        for name, definition in cursor.fetchall():
            cursor.execute(f'DROP INDEX "{name}"')
            made.append(definition)
        cursor.execute(
            "SELECT c.conname, pg_get_constraintdef(c.oid) FROM pg_constraint AS c "
            "WHERE c.conrelid = %s::regclass AND c.contype = 'u' AND NOT EXISTS "
            "(SELECT 1 FROM pg_constraint AS f WHERE f.contype = 'f' AND f.conindid = c.conindid)",
            [table],
        )
        for name, definition in cursor.fetchall():
            cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
            made.append(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
        return made

    def ids(self, model, count: int) -> int:
        """The first of `count` ids no row has yet (sequences are moved past them in done())."""
        if model not in self.next_ids:
            self.next_ids[model] = (model.objects.aggregate(top=Max("id"))["top"] or 0) + 1
        first = self.next_ids[model]
        self.next_ids[model] += count
        return first

    def time(self, at: datetime):
        # SQLite keeps times as UTC text, as Django writes them.
        return at if self.postgres else at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")

    def write(self, model, columns: tuple, rows: list) -> None:
        table = model._meta.db_table
        started = time.perf_counter()
        if table in self.numbered and "change_seq" in columns:
            n = columns.index("change_seq")
            rows = [(*row[:n], row[0], *row[n + 1 :]) for row in rows]
        names = ", ".join(f'"{name}"' for name in columns)
        with connection.cursor() as cursor:
            if self.postgres:
                with cursor.cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
            else:
                marks = ", ".join(["%s"] * len(columns))
                cursor.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", rows)  # noqa: S608
        self.seconds[table] = self.seconds.get(table, 0) + time.perf_counter() - started

    def write_responses(self, model, columns: tuple, rows: list) -> None:
        """Rows of (campaign, subscriber, callback, received_at, *columns), given their ids."""
        first = self.ids(model, len(rows))
        self.write(
            model,
            (*RESPONSE_COLUMNS, "change_seq", *columns),
            [(first + k, *row[:4], "{}", self.change_seq, *row[4:]) for k, row in enumerate(rows)],
        )

    def run(self, model, statement: str, params: dict) -> None:
        """One INSERT … SELECT into the model's table, timed as writing it."""
        started = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute(statement, params)
        table = model._meta.db_table
        self.seconds[table] = self.seconds.get(table, 0) + time.perf_counter() - started

    def done(self) -> None:
        """Indexes back, triggers back on, and sequences past the ids used, so the next row
        the product makes gets a new one."""
        with connection.cursor() as cursor:
            started = time.perf_counter()
            if self.postgres:
                # Each index sorted in memory, by two processes, and the counters' recount
                # after it too (this transaction's settings only).
                cursor.execute("SET LOCAL maintenance_work_mem = '512MB'")
                cursor.execute("SET LOCAL max_parallel_maintenance_workers = 2")
                cursor.execute("SET LOCAL work_mem = '256MB'")
            for definition in self.indexes:
                cursor.execute(definition)
            self.seconds["indexes"] = time.perf_counter() - started
            if not self.postgres:
                return
            cursor.execute("SET LOCAL session_replication_role = DEFAULT")
            for model, next_id in self.next_ids.items():
                table = model._meta.db_table
                cursor.execute(
                    "SELECT setval(pg_get_serial_sequence(%s, 'id'), %s, false)", [table, next_id]
                )

    def derived_done(self) -> None:
        """The derived tables' indexes and unique constraints back, once they are filled (in
        done()'s transaction: with its memory for sorting)."""
        started = time.perf_counter()
        with connection.cursor() as cursor:
            for definition in self.derived_indexes:
                cursor.execute(definition)
        self.seconds["counters' indexes"] = time.perf_counter() - started


class Generator:
    def __init__(self, subscribers: int, seed: int):
        self.rng = random.Random(seed)
        self.seed = seed
        self.now = timezone.now().replace(microsecond=0)
        self.start = self.now - timedelta(days=DAYS)
        self.subscribers = subscribers
        self.endpoint = Endpoint.objects.create(name="Demo data")
        # Before the load turns triggers off: the catalog's version moves, as for any edit.
        self.polls, self.infos, self.forms = self.make_campaigns()
        self.load = BulkLoader(
            (Subscriber, CallbackEvent, PollResponse, InfoRequest, FormSubmission),
            # SQLite's recount adds to its counters (ON CONFLICT): they keep their keys there.
            derived=COUNTERS if connection.vendor == "postgresql" else (),
        )
        self.subscriber_ids: list[int] = []
        self.mobiles: list[str] = []  # as a query string carries them

    def moment(self, position: float) -> datetime:
        """A time at `position` (0..1) through the period, jittered by up to an hour."""
        seconds = position * DAYS * 86400 + self.rng.uniform(-3600, 0)
        return self.start + timedelta(seconds=max(seconds, 0))

    def make_subscribers(self) -> None:
        rng, load = self.rng, self.load
        first_id = load.ids(Subscriber, self.subscribers)
        rows = []
        for i in range(self.subscribers):
            seen = self.start + timedelta(seconds=rng.uniform(0, DAYS * 86400))
            fields = {}
            if rng.random() < 0.4:
                born = BORN_FROM + timedelta(days=int(rng.random() * BORN_DAYS))
                fields = {"first_name": rng.choice(FIRST_NAMES), "zip": "33602"}
                fields["dob"] = born.isoformat()
            last = min(seen + timedelta(days=rng.uniform(0, 20)), self.now)
            mobile = mobile_number(i)
            rows.append(
                (
                    first_id + i,
                    mobile,
                    "US",
                    rng.choice(CARRIERS),
                    json.dumps(fields),
                    load.time(seen),
                    load.time(last),
                    load.time(self.now),
                    load.change_seq,
                )
            )
            self.mobiles.append(quote_plus(mobile))
            if len(rows) >= BATCH:
                load.write(Subscriber, SUBSCRIBER_COLUMNS, rows)
                rows = []
        load.write(Subscriber, SUBSCRIBER_COLUMNS, rows)
        self.subscriber_ids = range(first_id, first_id + self.subscribers)

    def a_subscriber(self) -> int:
        """The index of a subscriber: a few text far more than the rest, as on a real short code."""
        return int(len(self.subscriber_ids) * self.rng.random() ** 2)

    def make_campaigns(self) -> tuple[list, list, list]:
        polls = []
        for keyword, (name, labels) in POLLS.items():
            campaign = Campaign.objects.create(
                shortcode=SHORTCODE, keyword=keyword, kind=Kind.POLL, name=name
            )
            choices = PollChoice.objects.bulk_create(
                PollChoice(campaign=campaign, reply=chr(65 + n), label=label, order=n)
                for n, label in enumerate(labels)
            )
            # Replies that matched no configured choice, as record() makes them.
            choices += PollChoice.objects.bulk_create(
                PollChoice(
                    campaign=campaign, reply=reply, label=reply, order=1000, from_callback=True
                )
                for reply in ("Z", "yes", "?")
            )
            weights = [self.rng.uniform(1, 5) for _ in labels] + [0.05, 0.03, 0.02]
            # What each vote's callback carried, as the query string says it.
            params = [
                urlencode({"shortcode": SHORTCODE, "key": keyword})
                + "&"
                + urlencode({"reply": choice.reply, "label": choice.label})
                for choice in choices
            ]
            polls.append((campaign, choices, list(accumulate(weights)), params))
        infos = [
            Campaign.objects.create(keyword=k, kind=Kind.INFO, name=k.title(), reply_text="See you")
            for k in INFOS
        ]
        forms = [
            Campaign.objects.create(shortcode=SHORTCODE, keyword=k, kind=Kind.FORM, name=k.title())
            for k in FORMS
        ]
        return polls, infos, forms

    def event(self, event_id: int, kind: str, at, query: str, outcome=Outcome.PROCESSED) -> tuple:
        reason = "missing mobile" if outcome == Outcome.REJECTED else ""
        return (
            event_id,
            self.endpoint.pk,
            kind,
            "GET",
            query,
            "",
            "",
            REMOTE_ADDR,
            at,
            outcome,
            reason,
            self.load.change_seq,
        )

    def make_votes(self, total: int, polls: list) -> None:
        rng, load = self.rng, self.load
        # A few campaigns draw most votes: weights 5, 4, 3, 2, 1.
        campaign_weights = list(accumulate(len(polls) - n for n in range(len(polls))))
        event_id = load.ids(CallbackEvent, total)
        response_id = load.ids(PollResponse, total)
        for first in range(0, total, BATCH):
            events, responses = [], []
            for n in range(first, min(first + BATCH, total)):
                campaign, choices, weights, params = polls[
                    bisect(campaign_weights, rng.random() * campaign_weights[-1])
                ]
                c = bisect(weights, rng.random() * weights[-1])
                choice = choices[c]
                s = self.a_subscriber()
                at = load.time(self.moment(n / total))
                query = f"mobile={self.mobiles[s]}&{params[c]}"
                events.append(self.event(event_id + n, Kind.POLL, at, query))
                responses.append(
                    (
                        response_id + n,
                        campaign.pk,
                        self.subscriber_ids[s],
                        event_id + n,
                        at,
                        "{}",
                        load.change_seq,
                        choice.pk,
                        choice.reply,
                        choice.label,
                    )
                )
            load.write(CallbackEvent, EVENT_COLUMNS, events)
            load.write(PollResponse, VOTE_COLUMNS, responses)

    def make_other_callbacks(self, total: int, infos: list, forms: list) -> None:
        """Info requests and form submissions, and a few rejected or failed requests."""
        rng, load = self.rng, self.load
        event_id = load.ids(CallbackEvent, total)
        for first in range(0, total, BATCH):
            events, info_rows, form_rows = [], [], []
            for n in range(first, min(first + BATCH, total)):
                at = load.time(self.moment(n / total))
                roll = rng.random()
                if roll < 0.05:
                    query = urlencode({"key": "VOTE"})
                    events.append(self.event(event_id + n, Kind.POLL, at, query, Outcome.REJECTED))
                elif roll < 0.06:
                    query = urlencode({"key": "JOIN"})
                    events.append(self.event(event_id + n, Kind.FORM, at, query, Outcome.FAILED))
                elif roll < 0.53:
                    campaign = rng.choice(infos)
                    query = urlencode({"lead": campaign.keyword, "msg": "info pls"})
                    events.append(self.event(event_id + n, Kind.INFO, at, query))
                    subscriber = self.subscriber_ids[self.a_subscriber()]
                    info_rows.append((campaign.pk, subscriber, event_id + n, at, "info pls"))
                else:
                    campaign = rng.choice(forms)
                    fields = {"first_name": rng.choice(FIRST_NAMES), "email_opt_in": "yes"}
                    query = urlencode({"key": campaign.keyword, **fields})
                    events.append(self.event(event_id + n, Kind.FORM, at, query))
                    subscriber = self.subscriber_ids[self.a_subscriber()]
                    form_rows.append(
                        (campaign.pk, subscriber, event_id + n, at, json.dumps(fields))
                    )
            load.write(CallbackEvent, EVENT_COLUMNS, events)
            load.write_responses(InfoRequest, ("message",), info_rows)
            load.write_responses(FormSubmission, ("fields",), form_rows)


class InDatabase:
    """The same data as Generator's, made by PostgreSQL itself: one INSERT … SELECT over
    generate_series per table, nothing crossing the connection but the statement.

    Every random draw is draw(n, stream): a hash of the row's number n and the seed, uniform
    in [0, 1). A vote's callback event and its response are two statements that draw the
    same numbers for the same n, so they agree (time, subscriber, choice) with nothing held.
    """

    def __init__(self, generator: Generator):
        self.generator, self.load = generator, generator.load
        with connection.cursor() as cursor:
            # Inlined by the planner (a plain SQL expression): as cheap as random().
            cursor.execute(
                "CREATE OR REPLACE FUNCTION pg_temp.draw(n bigint, stream int) RETURNS float8 "
                "LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT "
                "(hashint8extended(n, stream) & 281474976710655)::float8 / 281474976710656 $$"
            )

    def params(self, **more) -> dict:
        g = self.generator
        return {
            "seed": g.seed * 100,
            "start": g.start,
            "now": g.now,
            "days": DAYS,
            "seq": self.load.change_seq,
            "subscribers": g.subscribers,
            "first_subscriber": g.subscriber_ids[0] if g.subscriber_ids else 0,
            "areas": list(AREA_CODES),
            "endpoint": g.endpoint.pk,
            "remote": REMOTE_ADDR,
            **more,
        }

    def make_subscribers(self) -> None:
        g = self.generator
        first = self.load.ids(Subscriber, g.subscribers)
        g.subscriber_ids = range(first, first + g.subscribers)
        params = self.params(
            carriers=list(CARRIERS),
            names=list(FIRST_NAMES),
            born_from=BORN_FROM,
            born_days=BORN_DAYS,
        )
        self.load.run(Subscriber, SUBSCRIBERS_SQL.format(mobile=mobile_sql("i")), params)

    def make_votes(self, total: int, polls: list) -> None:
        """Each vote's poll and choice in one draw: every (poll, choice) pair has the share
        of the votes Generator gives it (its poll's weight x the choice's)."""
        campaign_weights = [len(polls) - n for n in range(len(polls))]
        pairs = []
        for (campaign, choices, weights, params), weight in zip(
            polls, campaign_weights, strict=True
        ):
            shares = [b - a for a, b in zip([0, *weights], weights, strict=False)]
            for choice, share, query in zip(choices, shares, params, strict=True):
                pairs.append((weight * share / weights[-1], campaign.pk, choice, query))
        whole = sum(share for share, *_ in pairs)
        lower = list(accumulate([share / whole for share, *_ in pairs], initial=0))[:-1]
        params = self.params(
            total=total,
            first_event=self.load.ids(CallbackEvent, total),
            first_response=self.load.ids(PollResponse, total),
            bounds=[float(bound) for bound in lower],
            campaigns=[campaign for _, campaign, _, _ in pairs],
            choices=[choice.pk for _, _, choice, _ in pairs],
            replies=[choice.reply for _, _, choice, _ in pairs],
            labels=[choice.label for _, _, choice, _ in pairs],
            queries=[query for *_, query in pairs],
        )
        mobile = mobile_sql("s")
        self.load.run(CallbackEvent, VOTE_EVENTS_SQL.format(votes=VOTES, mobile=mobile), params)
        self.load.run(PollResponse, VOTE_RESPONSES_SQL.format(votes=VOTES), params)

    def make_other_callbacks(self, total: int, infos: list, forms: list) -> None:
        params = self.params(
            total=total,
            first_event=self.load.ids(CallbackEvent, total),
            first_info=self.load.ids(InfoRequest, total),  # ids with gaps: one per n
            first_form=self.load.ids(FormSubmission, total),
            infos=[c.pk for c in infos],
            info_keywords=[c.keyword for c in infos],
            forms=[c.pk for c in forms],
            form_keywords=[c.keyword for c in forms],
            names=list(FIRST_NAMES),
            outcomes=[o.value for o in (Outcome.REJECTED, Outcome.FAILED, Outcome.PROCESSED)]
            + [Outcome.PROCESSED.value],
            kinds=[kind.value for kind in (Kind.POLL, Kind.FORM, Kind.INFO, Kind.FORM)],
        )
        self.load.run(CallbackEvent, OTHER_EVENTS_SQL.format(other=OTHER), params)
        self.load.run(InfoRequest, INFO_SQL.format(other=OTHER), params)
        self.load.run(FormSubmission, FORM_SQL.format(other=OTHER), params)


def mobile_sql(i: str) -> str:
    """mobile_number(i) in SQL."""
    return (
        f"'+1' || (%(areas)s::text[])[1 + {i} %% 10] || (200 + {i} / 10 / 10000) "
        f"|| lpad(({i} / 10 %% 10000)::text, 4, '0')"
    )


def draw(n: str, stream: int) -> str:
    return f"pg_temp.draw({n}, %(seed)s + {stream})"


# A time at n/total through the period, up to an hour earlier, as Generator.moment().
MOMENT = (
    "greatest(%(start)s, %(start)s + (n::float8 / %(total)s * %(days)s) * interval '1 day' "
    "- {jitter} * interval '1 hour')"
)
# A subscriber: a few text far more than the rest (Generator.a_subscriber()).
A_SUBSCRIBER = "floor(%(subscribers)s * {r} ^ 2)::bigint"

SUBSCRIBERS_SQL = (
    insert_into(Subscriber, SUBSCRIBER_COLUMNS)
    + f"""
    SELECT %(first_subscriber)s + i, {{mobile}}, 'US',
        (%(carriers)s::text[])[1 + floor({draw("i", 1)} * 5)::int],
        CASE WHEN {draw("i", 2)} < 0.4 THEN jsonb_build_object(
            'first_name', (%(names)s::text[])[1 + floor({draw("i", 3)} * 10)::int],
            'zip', '33602',
            'dob', to_char(%(born_from)s::date + floor({draw("i", 6)} * %(born_days)s)::int,
                'YYYY-MM-DD')) ELSE '{{{{}}}}'::jsonb END,
        seen, least(seen + {draw("i", 5)} * interval '20 days', %(now)s), %(now)s, %(seq)s
    FROM (
        SELECT i, %(start)s + {draw("i", 4)} * %(days)s * interval '1 day' AS seen
        FROM generate_series(0::bigint, %(subscribers)s - 1) AS i
    ) AS s
"""
)

# Each vote's draws: its (poll, choice) pair b, its subscriber s, its time.
VOTES = f"""(
    SELECT n, width_bucket({draw("n", 11)}, %(bounds)s::float8[]) AS b,
        {A_SUBSCRIBER.format(r=draw("n", 12))} AS s, {MOMENT.format(jitter=draw("n", 13))} AS at
    FROM generate_series(0::bigint, %(total)s - 1) AS n
) AS v"""
VOTE_EVENTS_SQL = (
    insert_into(CallbackEvent, EVENT_COLUMNS)
    + """
    SELECT %(first_event)s + n, %(endpoint)s, 'poll', 'GET',
        'mobile=%%2B' || substr({mobile}, 2) || '&' || (%(queries)s::text[])[b],
        '', '', %(remote)s, at, 'processed', '', %(seq)s
    FROM {votes}
"""
)
VOTE_RESPONSES_SQL = (
    insert_into(PollResponse, VOTE_COLUMNS)
    + """
    SELECT %(first_response)s + n, (%(campaigns)s::int[])[b], %(first_subscriber)s + s,
        %(first_event)s + n, at, '{{}}', %(seq)s, (%(choices)s::int[])[b],
        (%(replies)s::text[])[b], (%(labels)s::text[])[b]
    FROM {votes}
"""
)

# Each other callback's draws: what it is (k: 1 rejected, 2 failed, 3 info, 4 form, in
# Generator's shares), its campaign c, a first name, its subscriber s and time.
OTHER = f"""(
    SELECT n, width_bucket({draw("n", 21)}, ARRAY[0, 0.05, 0.06, 0.53]::float8[]) AS k,
        1 + floor({draw("n", 22)} * 3)::int AS c,
        (%(names)s::text[])[1 + floor({draw("n", 23)} * 10)::int] AS name,
        {A_SUBSCRIBER.format(r=draw("n", 24))} AS s, {MOMENT.format(jitter=draw("n", 25))} AS at
    FROM generate_series(0::bigint, %(total)s - 1) AS n
) AS o"""
OTHER_EVENTS_SQL = (
    insert_into(CallbackEvent, EVENT_COLUMNS)
    + """
    SELECT %(first_event)s + n, %(endpoint)s, (%(kinds)s::text[])[k], 'GET',
        CASE k WHEN 1 THEN 'key=VOTE' WHEN 2 THEN 'key=JOIN'
            WHEN 3 THEN 'lead=' || (%(info_keywords)s::text[])[c] || '&msg=info+pls'
            ELSE 'key=' || (%(form_keywords)s::text[])[c] || '&first_name=' || name
                || '&email_opt_in=yes' END,
        '', '', %(remote)s, at, (%(outcomes)s::text[])[k],
        CASE k WHEN 1 THEN 'missing mobile' ELSE '' END, %(seq)s
    FROM {other}
"""
)
INFO_SQL = (
    insert_into(InfoRequest, (*RESPONSE_COLUMNS, "change_seq", "message"))
    + """
    SELECT %(first_info)s + n, (%(infos)s::int[])[c], %(first_subscriber)s + s,
        %(first_event)s + n, at, '{{}}', %(seq)s, 'info pls'
    FROM {other} WHERE k = 3
"""
)
FORM_SQL = (
    insert_into(FormSubmission, (*RESPONSE_COLUMNS, "change_seq", "fields"))
    + """
    SELECT %(first_form)s + n, (%(forms)s::int[])[c], %(first_subscriber)s + s,
        %(first_event)s + n, at, '{{}}', %(seq)s,
        jsonb_build_object('first_name', name, 'email_opt_in', 'yes')
    FROM {other} WHERE k = 4
"""
)


def refresh_derived_data() -> None:
    """What is kept from the rows rather than read from them, brought up to date after a bulk
    load whose triggers were off: the poll tallies and the custom-field summary."""
    if "rebuild_poll_tallies" in get_commands():
        call_command("rebuild_poll_tallies")
    rebuild_summary()


class Command(BaseCommand):
    help = "Fill an empty database with a large demo data set (COPY on PostgreSQL)."

    def add_arguments(self, parser):
        parser.add_argument("--responses", type=int, default=10_000, help="poll responses")
        parser.add_argument("--subscribers", type=int, default=2_000)
        parser.add_argument(
            "--callbacks", type=int, default=1_000, help="callbacks besides the poll votes"
        )
        parser.add_argument("--seed", type=int, default=1)

    def handle(self, *args, **options):
        if Subscriber.objects.exists():
            raise CommandError("The database already has subscribers: use an empty one.")
        if options["subscribers"] < 1:
            raise CommandError("--subscribers must be at least 1.")
        started = time.monotonic()
        # One transaction: all or nothing, and SQLite writes it once.
        with transaction.atomic():
            generator = Generator(options["subscribers"], options["seed"])
            maker = InDatabase(generator) if connection.vendor == "postgresql" else generator
            maker.make_subscribers()
            maker.make_votes(options["responses"], generator.polls)
            maker.make_other_callbacks(options["callbacks"], generator.infos, generator.forms)
            generator.load.done()
            step = time.monotonic()
            refresh_derived_data()
            spent = generator.load.seconds
            spent["counters recounted"] = time.monotonic() - step
            generator.load.derived_done()
            step = time.monotonic()
        spent["commit"] = time.monotonic() - step
        loaded = time.monotonic() - started
        if connection.vendor == "postgresql" and not connection.in_atomic_block:
            step = time.monotonic()
            # Fresh statistics and visibility map, as autovacuum would leave them.
            with connection.cursor() as cursor:
                cursor.execute("VACUUM ANALYZE")
            spent["VACUUM ANALYZE"] = time.monotonic() - step
        if options["verbosity"] > 1:
            for what, seconds in spent.items():
                self.stderr.write(f"{what}: {seconds:.1f} s")
        return (
            f"{options['subscribers']} subscribers, {options['responses']} poll responses, "
            f"{options['callbacks']} other callbacks in {time.monotonic() - started:.0f} s "
            f"(loaded in {loaded:.0f} s)"
        )
