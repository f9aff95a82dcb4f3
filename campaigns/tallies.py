"""Poll counters kept by the database as votes arrive (campaigns_polltally), and their rebuild.

One row per (campaign, quarter hour UTC, choice, slot) holds three counts:
- votes: the votes received in that quarter hour;
- latest: subscribers whose latest vote in the poll (by received_at, then id) is in that
  quarter hour and for that choice;
- voters: subscribers whose latest vote *for that choice* is in that quarter hour.
Quarter hours, not hours: every time zone's days and hours start on one (India's at :30 UTC,
Nepal's at :45), so a chart's days in any zone are whole quarters. `votes` adds up over any
range of whole quarters. `latest` and `voters` answer "each
subscriber's latest vote" and "distinct voters" for every range that runs to the end of the
poll (the whole poll, "since Monday", live mode): a subscriber voted in [since, end) exactly
when their latest vote is at or after `since`. campaigns/results.py reads them.

The rule is written once, as SQL over a set of responses with a sign (counts_sql): the
rebuild counts every response with +1; the triggers count the changed subscribers' responses
after the change with +1 and before it with -1, and add the difference. So an INSERT, a
DELETE or an UPDATE of any column, one row or a million, from the callback pipeline, the
admin, a spool drain, reprocessing or raw SQL, moves the counters by exactly what it changed.

- PostgreSQL: statement triggers with transition tables. Two transactions changing the same
  subscriber's votes in one poll are serialised by an advisory lock taken before counting (each
  statement then reads what the other committed); different subscribers never wait for each
  other except on a shared counter row, and the slots spread those. Statements over many rows
  take one exclusive lock instead of thousands.
- SQLite: row triggers (it fires them row by row, and has one writer at a time).
"""

from django.db import connection, connections, migrations, transaction
from django.utils.dateparse import parse_datetime

RESPONSES = "campaigns_pollresponse"
TALLY = "campaigns_polltally"
SLOTS = 8  # a power of two: the slot is the subscriber id's low bits
COLUMNS = "id, campaign_id, subscriber_id, choice_id, received_at"
# A statement changing more rows than this locks every poll's counters at once.
BULK = 64
# The advisory lock (one bigint key) that bulk writers hold exclusively, others shared.
PG_GLOBAL_LOCK = 7_460_105_017
# The quarter hour of a time ({at}), whatever the session's time zone.
QUARTER = {
    "postgresql": "date_bin('15 minutes', {at}, TIMESTAMPTZ '2000-01-01 00:00+00')",
    # Django stores "YYYY-MM-DD HH:MM:SS[.ffffff]" (UTC).
    "sqlite": "substr({at}, 1, 14) || substr('0' || "
    "(CAST(substr({at}, 15, 2) AS INTEGER) / 15 * 15), -2) || ':00'",
}
EMPTY = f"(SELECT {COLUMNS} FROM {RESPONSES} WHERE 1 = 0)"  # noqa: S608


def counts_sql(rows: str, vendor: str) -> str:
    """(campaign_id, choice_id, quarter, slot, votes, latest, voters) from `rows`, a relation of
    responses with a `sign` (+1 counts a response, -1 takes it away)."""
    return f"""
    SELECT campaign_id, choice_id, quarter, slot, SUM(sign) AS votes,
        SUM(CASE WHEN by_voter = 1 THEN sign ELSE 0 END) AS latest,
        SUM(CASE WHEN by_choice = 1 THEN sign ELSE 0 END) AS voters
    FROM (
        SELECT campaign_id, choice_id, {QUARTER[vendor].format(at="received_at")} AS quarter,
            subscriber_id & {SLOTS - 1} AS slot, sign,
            ROW_NUMBER() OVER (PARTITION BY sign, campaign_id, subscriber_id
                               ORDER BY received_at DESC, id DESC) AS by_voter,
            ROW_NUMBER() OVER (PARTITION BY sign, campaign_id, choice_id, subscriber_id
                               ORDER BY received_at DESC, id DESC) AS by_choice
        FROM {rows} AS signed
    ) AS ranked
    GROUP BY campaign_id, choice_id, quarter, slot
    """  # noqa: S608


def changes_sql(new: str, old: str, vendor: str) -> str:
    """The counters' deltas for responses `old` replaced by `new` (either may be EMPTY):
    the changed subscribers' votes as they are now, minus as they were."""
    groups = (
        f"(SELECT DISTINCT campaign_id, subscriber_id FROM (SELECT {COLUMNS} FROM {new} AS n "  # noqa: S608
        f"UNION ALL SELECT {COLUMNS} FROM {old} AS o) AS changed)"
    )
    theirs = (
        f"SELECT r.id, r.campaign_id, r.subscriber_id, r.choice_id, r.received_at, {{sign}} "  # noqa: S608
        f"AS sign FROM {RESPONSES} AS r JOIN {groups} AS g "
        "ON r.campaign_id = g.campaign_id AND r.subscriber_id = g.subscriber_id"
    )
    rows = (
        f"({theirs.format(sign=1)} UNION ALL {theirs.format(sign=-1)} "  # noqa: S608
        f"WHERE r.id NOT IN (SELECT id FROM {new} AS n) "
        f"UNION ALL SELECT {COLUMNS}, -1 AS sign FROM {old} AS o)"
    )
    return counts_sql(rows, vendor)


def one_vote_sql(vendor: str, id: str, campaign: str, subscriber: str, choice: str, at: str):
    """changes_sql() for one inserted vote (the callback's case), from two index probes
    instead of the voter's votes: it becomes the voter's latest if it beats their latest
    other vote (p), and their latest for its choice if it is later than that one (q)."""
    theirs = (
        f"FROM {RESPONSES} WHERE campaign_id = {campaign} AND subscriber_id = {subscriber} "  # noqa: S608
        f"AND id <> {id}"
    )
    state = (
        f"FROM (SELECT 1 AS one) AS base LEFT JOIN (SELECT id, received_at, choice_id {theirs} "
        f"ORDER BY received_at DESC, id DESC LIMIT 1) AS p ON 1 = 1 "
        f"CROSS JOIN (SELECT MAX(received_at) AS received_at {theirs} "
        f"AND choice_id = {choice}) AS q"
    )
    beats_p = f"(p.id IS NULL OR p.received_at < {at} OR (p.received_at = {at} AND p.id < {id}))"
    beats_q = f"(q.received_at IS NULL OR q.received_at < {at})"
    quarter = QUARTER[vendor]
    deltas = (
        f"SELECT {choice} AS choice_id, {quarter.format(at=at)} AS quarter, 1 AS votes, "  # noqa: S608
        f"CASE WHEN {beats_p} THEN 1 ELSE 0 END AS latest, "
        f"CASE WHEN {beats_q} THEN 1 ELSE 0 END AS voters {state} "
        f"UNION ALL SELECT p.choice_id, {quarter.format(at='p.received_at')}, 0, -1, 0 {state} "
        f"WHERE p.id IS NOT NULL AND {beats_p} "
        f"UNION ALL SELECT {choice}, {quarter.format(at='q.received_at')}, 0, 0, -1 {state} "
        f"WHERE q.received_at IS NOT NULL AND {beats_q}"
    )
    return add_sql(
        f"SELECT {campaign} AS campaign_id, choice_id, quarter, "  # noqa: S608
        f"{subscriber} & {SLOTS - 1} AS slot, SUM(votes) AS votes, SUM(latest) AS latest, "
        f"SUM(voters) AS voters FROM ({deltas}) AS d GROUP BY choice_id, quarter"
    )


def add_sql(counts: str) -> str:
    """Add these counts to the counters, in key order (concurrent writers cannot deadlock)."""
    return f"""
    INSERT INTO {TALLY} (campaign_id, quarter, choice_id, slot, votes, latest, voters)
    SELECT campaign_id, quarter, choice_id, slot, votes, latest, voters FROM ({counts}) AS counts
    WHERE votes <> 0 OR latest <> 0 OR voters <> 0
    ORDER BY campaign_id, quarter, choice_id, slot
    ON CONFLICT (campaign_id, quarter, choice_id, slot) DO UPDATE SET
        votes = {TALLY}.votes + excluded.votes,
        latest = {TALLY}.latest + excluded.latest,
        voters = {TALLY}.voters + excluded.voters
    """  # noqa: S608


def _pg_function(op: str, new: str, old: str) -> str:
    changed = f"(SELECT {COLUMNS} FROM {new} AS n UNION ALL SELECT {COLUMNS} FROM {old} AS o)"  # noqa: S608
    unchanged = ""
    if op == "update":
        # An update that moves no vote (a label, the changes feed's position) counts nothing.
        unchanged = (
            "IF NOT EXISTS (SELECT 1 FROM new_rows AS n JOIN old_rows AS o USING (id) "
            "WHERE (n.campaign_id, n.subscriber_id, n.choice_id, n.received_at) IS DISTINCT "
            "FROM (o.campaign_id, o.subscriber_id, o.choice_id, o.received_at)) "
            "THEN RETURN NULL; END IF;"
        )
    one_vote = ""
    if op == "insert":
        # One row, as a callback inserts it: two index probes instead of the voter's votes.
        one_vote = f"""
        IF (SELECT count(*) FROM (SELECT 1 FROM new_rows LIMIT 2) AS c) = 1 THEN
            SELECT {COLUMNS} INTO new_vote FROM new_rows;
            PERFORM pg_advisory_xact_lock_shared({PG_GLOBAL_LOCK});
            PERFORM pg_advisory_xact_lock((new_vote.campaign_id & 2147483647)::int,
                                          (new_vote.subscriber_id & 2147483647)::int);
            {one_vote_sql("postgresql", *(f"new_vote.{c}" for c in COLUMNS.split(", ")))};
            RETURN NULL;
        END IF;"""  # noqa: S608
    return f"""
    CREATE OR REPLACE FUNCTION campaigns_polltally_{op}() RETURNS trigger
    LANGUAGE plpgsql AS $$
    DECLARE
        new_vote record;
    BEGIN
        {unchanged}{one_vote}
        IF (SELECT count(*) FROM (SELECT 1 FROM {changed} AS c LIMIT {BULK + 1}) AS c) > {BULK}
        THEN
            PERFORM pg_advisory_xact_lock({PG_GLOBAL_LOCK});
        ELSE
            PERFORM pg_advisory_xact_lock_shared({PG_GLOBAL_LOCK});
            PERFORM pg_advisory_xact_lock((campaign_id & 2147483647)::int,
                                          (subscriber_id & 2147483647)::int)
            FROM (SELECT DISTINCT campaign_id, subscriber_id FROM {changed} AS c
                  ORDER BY 1, 2) AS g;
        END IF;
        {add_sql(changes_sql(new, old, "postgresql"))};
        RETURN NULL;
    END $$;
    """  # noqa: S608


def _sqlite_row(prefix: str) -> str:
    return (
        f"(SELECT {prefix}.id AS id, {prefix}.campaign_id AS campaign_id, "
        f"{prefix}.subscriber_id AS subscriber_id, {prefix}.choice_id AS choice_id, "
        f"{prefix}.received_at AS received_at)"
    )


SIDES = {
    # op: (new rows, old rows) in PostgreSQL's transition tables, in SQLite's row references
    "insert": (("new_rows", EMPTY), (_sqlite_row("NEW"), EMPTY)),
    "update": (("new_rows", "old_rows"), (_sqlite_row("NEW"), _sqlite_row("OLD"))),
    "delete": ((EMPTY, "old_rows"), (EMPTY, _sqlite_row("OLD"))),
}
MOVED = "campaign_id, subscriber_id, choice_id, received_at"


def trigger_statements(vendor: str) -> list[str]:
    """What installs (or reinstalls: SQLite drops triggers when it rebuilds a table) the
    triggers."""
    statements = []
    for op, (pg, lite) in SIDES.items():
        if vendor == "postgresql":
            referencing = {
                "insert": "NEW TABLE AS new_rows",
                "update": "NEW TABLE AS new_rows OLD TABLE AS old_rows",
                "delete": "OLD TABLE AS old_rows",
            }[op]
            statements += [
                _pg_function(op, *pg),
                f"DROP TRIGGER IF EXISTS {RESPONSES}_tally_{op} ON {RESPONSES}",
                f"CREATE TRIGGER {RESPONSES}_tally_{op} AFTER {op.upper()} ON {RESPONSES} "
                f"REFERENCING {referencing} FOR EACH STATEMENT "
                f"EXECUTE FUNCTION campaigns_polltally_{op}()",
            ]
        else:
            event = f"UPDATE OF {MOVED}" if op == "update" else op.upper()
            if op == "insert":
                # SQLite fires row triggers row by row: every insert is one vote's.
                count = one_vote_sql("sqlite", *(f"NEW.{c}" for c in COLUMNS.split(", ")))
            else:
                count = add_sql(changes_sql(*lite, "sqlite"))
            statements += [
                f"DROP TRIGGER IF EXISTS {RESPONSES}_tally_{op}",
                f"CREATE TRIGGER {RESPONSES}_tally_{op} AFTER {event} ON {RESPONSES} "
                f"FOR EACH ROW BEGIN {count}; END",
            ]
    return statements


def drop_statements(vendor: str) -> list[str]:
    if vendor == "postgresql":
        return [
            statement
            for op in SIDES
            for statement in (
                f"DROP TRIGGER IF EXISTS {RESPONSES}_tally_{op} ON {RESPONSES}",
                f"DROP FUNCTION IF EXISTS campaigns_polltally_{op}()",
            )
        ]
    return [f"DROP TRIGGER IF EXISTS {RESPONSES}_tally_{op}" for op in SIDES]


def keep_tallies() -> migrations.RunPython:
    """A migration operation: install the triggers, then count what is already there."""

    def forwards(apps, schema_editor):
        for statement in trigger_statements(schema_editor.connection.vendor):
            schema_editor.execute(statement)
        rebuild(using=schema_editor.connection.alias)

    def backwards(apps, schema_editor):
        for statement in drop_statements(schema_editor.connection.vendor):
            schema_editor.execute(statement)

    return migrations.RunPython(forwards, backwards, elidable=False)


def rebuild(campaign_id: int | None = None, using: str = "default") -> int:
    """Recount the counters of one poll (or all) from the responses; the rows written.

    Holds the counters' exclusive lock on PostgreSQL, so votes arriving meanwhile wait for it
    and are then counted on top of the recount, once."""
    conn = connections[using]
    vendor = conn.vendor
    where, params = ("WHERE campaign_id = %s", [campaign_id]) if campaign_id else ("", [])
    rows = f"(SELECT {COLUMNS}, 1 AS sign FROM {RESPONSES} {where})"  # noqa: S608
    with transaction.atomic(using=using), conn.cursor() as cursor:
        if vendor == "postgresql":
            cursor.execute(f"SELECT pg_advisory_xact_lock({PG_GLOBAL_LOCK})")
        cursor.execute(f"DELETE FROM {TALLY} {where}", params)  # noqa: S608
        cursor.execute(add_sql(counts_sql(rows, vendor)), params)
        return cursor.rowcount


def recount(campaign_id: int) -> dict[tuple, tuple[int, int, int]]:
    """{(quarter, choice id): (votes, latest, voters)} counted from the responses now, slots
    summed: what the counters must hold (the tests and the rebuild command compare)."""
    rows = f"(SELECT {COLUMNS}, 1 AS sign FROM {RESPONSES} WHERE campaign_id = %s)"  # noqa: S608
    sql = (
        f"SELECT quarter, choice_id, SUM(votes), SUM(latest), SUM(voters) FROM "  # noqa: S608
        f"({counts_sql(rows, connection.vendor)}) AS c GROUP BY quarter, choice_id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [campaign_id])
        return _nonzero(cursor.fetchall())


def stored(campaign_id: int) -> dict[tuple, tuple[int, int, int]]:
    """The counters as stored, in recount()'s shape."""
    sql = (
        f"SELECT quarter, choice_id, SUM(votes), SUM(latest), SUM(voters) FROM {TALLY} "  # noqa: S608
        "WHERE campaign_id = %s GROUP BY quarter, choice_id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [campaign_id])
        return _nonzero(cursor.fetchall())


def _nonzero(rows) -> dict:
    def moment(value):
        # SQLite hands back text; either way, a naive or aware UTC time, compared as text.
        return str(parse_datetime(value) if isinstance(value, str) else value)[:19]

    return {
        (moment(quarter), choice): (int(v), int(lt), int(vs))
        for quarter, choice, v, lt, vs in rows
        if v or lt or vs
    }
