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

A second table (campaigns_pollnewvoters) counts each voter once, at the quarter hour of the
earlier of their first_seen_at and their latest vote: a voter of [since, end) is new in it
(first seen at or after `since`) exactly when both are at or after `since`, so the "new
voters" of such a range add up too. A trigger on the subscribers' table moves a voter's count
when their first_seen_at changes.

The rule is written once, as SQL over a set of responses with a sign (counts_sql): the
rebuild counts every response with +1; the triggers count the changed subscribers' responses
after the change with +1 and before it with -1, and add the difference. So an INSERT, a
DELETE or an UPDATE of any column, one row or a million, from the callback pipeline, the
admin, a spool drain, reprocessing or raw SQL, moves the counters by exactly what it changed.
PostgreSQL's rebuild reads the same rule from one ranking of the votes instead (each vote's
next vote, next for its choice and previous vote: two sorts of every vote, kept in a
temporary table, rather than two for each of the four tables): a vote is its voter's latest
when it has no next vote. It fills the emptied tables with plain INSERTs; the tests compare
its rows with the triggers' and with recount().

- PostgreSQL: statement triggers with transition tables. Two transactions changing the same
  subscriber's votes in one poll are serialised by an advisory lock taken before counting (each
  statement then reads what the other committed); different subscribers never wait for each
  other except on a shared counter row, and the slots spread those. Statements over many rows
  take one exclusive lock instead of thousands.
Ranges that end before the poll's last vote (the page's "from … through …" days) have
counters of their own on PostgreSQL, keyed by days in the site's time zone (settings.TIME_ZONE,
which campaigns_tally_zone() returns to the triggers):
- campaigns_pollrangetally: per (campaign, choice, quarter hour of the vote, day of the voter's
  next vote, slot), `latest` counts votes by the day of the voter's next vote in the poll and
  `voters` by the day of their next vote for the same choice. A vote is the voter's latest in
  [a, b), for b a midnight, exactly when their next vote is on b's day or later, or never
  came: so latest votes and voters of [a, b) are these counts from a's quarter to b with
  next_day >= b's day, plus campaigns_polltally's `latest` and `voters` there (the votes with
  no next vote, which this table leaves out). A next vote on the vote's own day never reaches
  a later midnight, so such votes are left out too: a vote in order moves at most its voter's
  previous votes (from "no next vote" to its day), and none when they are of the same day.
- campaigns_pollrangenewvoters: per (campaign, day of the vote, day of the voter's previous
  vote, earlier of the vote's day and the day the voter was first seen, slot), the votes whose
  previous vote is on an earlier day (or none, PREV_NONE). The voters of [a, b), a midnight,
  are counted once each there, at their first vote in it (previous vote before a's day); they
  are new when first seen on a's day or later.
"Next" and "previous" order votes by (received_at, id). A change of the site's time zone
leaves these counters counting the old zone's days: results.py then scans instead, and
`manage.py rebuild_poll_tallies` recounts them in the new zone.

- SQLite: row triggers (it fires them row by row, and has one writer at a time). A migration
  that rebuilds crm_subscriber or campaigns_pollresponse there (SQLite's way to alter most
  columns) fails while the triggers read the old table, and would drop those on it: drop
  them first (drop_statements()) and put them back after (trigger_statements()).
"""

from django.conf import settings
from django.db import connection, connections, migrations, transaction
from django.utils.dateparse import parse_datetime

RESPONSES = "campaigns_pollresponse"
TALLY = "campaigns_polltally"
NEW_VOTERS = "campaigns_pollnewvoters"
SUBSCRIBERS = "crm_subscriber"
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
# The earlier of two times ({a}, {b}); SQLite's text times compare in time order.
EARLIER = {"postgresql": "LEAST({a}, {b})", "sqlite": "min({a}, {b})"}
EMPTY = f"(SELECT {COLUMNS} FROM {RESPONSES} WHERE 1 = 0)"  # noqa: S608
RANGE_TALLY = "campaigns_pollrangetally"
RANGE_NEW_VOTERS = "campaigns_pollrangenewvoters"
# The zone the range counters' days are in, as the database holds it (PostgreSQL).
ZONE_FUNCTION = "campaigns_tally_zone"
PREV_NONE = "DATE '0001-01-01'"  # "no previous vote": before any day a range starts on


def day_sql(at: str) -> str:
    """PostgreSQL: the day of a time ({at}) in the counters' zone."""
    return f"(({at}) AT TIME ZONE {ZONE_FUNCTION}())::date"


def zone_sql(zone: str) -> str:
    """The function that tells the triggers (and readers) the counters' zone."""
    quoted = zone.replace("'", "''")
    return (
        f"CREATE OR REPLACE FUNCTION {ZONE_FUNCTION}() RETURNS text LANGUAGE sql IMMUTABLE "
        f"PARALLEL SAFE AS $$ SELECT '{quoted}'::text $$"
    )


def _ranked_sql(rows: str, seen: str = "") -> str:
    """PostgreSQL: `rows` (responses with a sign) with each vote's quarter, slot and day, the
    days of the voter's next vote in the poll (next_any) and for the same choice (next_same),
    and of their previous vote (prev_any, PREV_NONE for none); with `seen`, the day they were
    first seen (`seen`: "join" reads it from the subscribers' table, with the time itself as
    seen_at, else it names the rows' own column)."""
    window = (
        "OVER (PARTITION BY signed.sign, signed.campaign_id, signed.subscriber_id{0} "
        "ORDER BY signed.received_at, signed.id)"
    )
    later = "LEAD(signed.received_at) " + window
    earlier = "LAG(signed.received_at) " + window
    first_seen = f", {day_sql('signed.' + seen)} AS seen_day" if seen and seen != "join" else ""
    ranked = f"""
    SELECT signed.campaign_id, signed.choice_id, signed.sign, signed.received_at,
        signed.subscriber_id, signed.subscriber_id & {SLOTS - 1} AS slot,
        {QUARTER["postgresql"].format(at="signed.received_at")} AS quarter,
        {day_sql("signed.received_at")} AS day,
        {day_sql(later.format(""))} AS next_any,
        {day_sql(later.format(", signed.choice_id"))} AS next_same,
        COALESCE({day_sql(earlier.format(""))}, {PREV_NONE}) AS prev_any{first_seen}
    FROM {rows} AS signed
    """  # noqa: S608
    if seen != "join":
        return ranked
    # Joined after the windows: the votes keep the order an index gives them (a join first
    # was a nested loop over the index, 10,000,000 probes), and the hash join needs none.
    return f"""
    SELECT r.*, {day_sql("s.first_seen_at")} AS seen_day, s.first_seen_at AS seen_at
    FROM ({ranked}) AS r JOIN {SUBSCRIBERS} AS s ON s.id = r.subscriber_id
    """  # noqa: S608


def range_counts_sql(rows: str) -> str:
    """(campaign_id, choice_id, quarter, next_day, slot, latest, voters) from `rows`: the
    votes whose next vote (in the poll, for the same choice) is on a later day."""
    return ranked_range_counts_sql(f"({_ranked_sql(rows)})")


def ranked_range_counts_sql(ranked: str) -> str:
    """range_counts_sql() from votes already ranked (_ranked_sql()'s columns)."""
    return f"""
    SELECT campaign_id, choice_id, quarter, k.next_day, slot, SUM(k.latest) AS latest,
        SUM(k.voters) AS voters
    FROM {ranked} AS r
    CROSS JOIN LATERAL (VALUES (r.next_any, r.sign, 0), (r.next_same, 0, r.sign))
        AS k (next_day, latest, voters)
    WHERE k.next_day > r.day
    GROUP BY campaign_id, choice_id, quarter, k.next_day, slot
    """  # noqa: S608


def range_new_voters_sql(rows: str, seen: str = "join") -> str:
    """(campaign_id, day, prev_day, seen_day, slot, voters) from `rows`: the votes whose
    previous vote is on an earlier day (or none), by their day, that day's, and the earlier of
    their own and the day their voter was first seen."""
    return ranked_range_new_voters_sql(f"({_ranked_sql(rows, seen)})")


def ranked_range_new_voters_sql(ranked: str) -> str:
    """range_new_voters_sql() from votes already ranked, with their seen_day."""
    return f"""
    SELECT campaign_id, day, prev_any AS prev_day, LEAST(seen_day, day) AS seen_day, slot,
        SUM(sign) AS voters
    FROM {ranked} AS r WHERE prev_any < day
    GROUP BY campaign_id, day, prev_any, LEAST(seen_day, day), slot
    """  # noqa: S608


def add_range_sql(counts: str) -> str:
    return f"""
    INSERT INTO {RANGE_TALLY} (campaign_id, quarter, choice_id, next_day, slot, latest, voters)
    SELECT campaign_id, quarter, choice_id, next_day, slot, latest, voters FROM ({counts}) AS c
    WHERE latest <> 0 OR voters <> 0
    ORDER BY campaign_id, quarter, choice_id, next_day, slot
    ON CONFLICT (campaign_id, quarter, choice_id, next_day, slot) DO UPDATE SET
        latest = {RANGE_TALLY}.latest + excluded.latest,
        voters = {RANGE_TALLY}.voters + excluded.voters
    """  # noqa: S608


def add_range_new_voters_sql(counts: str) -> str:
    return f"""
    INSERT INTO {RANGE_NEW_VOTERS} (campaign_id, day, prev_day, seen_day, slot, voters)
    SELECT campaign_id, day, prev_day, seen_day, slot, voters FROM ({counts}) AS c
    WHERE voters <> 0
    ORDER BY campaign_id, day, prev_day, seen_day, slot
    ON CONFLICT (campaign_id, day, prev_day, seen_day, slot) DO UPDATE SET
        voters = {RANGE_NEW_VOTERS}.voters + excluded.voters
    """  # noqa: S608


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


def new_voters_sql(rows: str, vendor: str) -> str:
    """(campaign_id, quarter, slot, voters) from `rows` as counts_sql() takes them: each
    subscriber once, with the sign, at the quarter of the earlier of their first_seen_at and
    their latest vote."""
    quarter = QUARTER[vendor].format(at=EARLIER[vendor].format(a="s.first_seen_at", b="v.latest"))
    return f"""
    SELECT campaign_id, {quarter} AS quarter, subscriber_id & {SLOTS - 1} AS slot,
        SUM(sign) AS voters
    FROM (
        SELECT sign, campaign_id, subscriber_id, MAX(received_at) AS latest
        FROM {rows} AS signed GROUP BY sign, campaign_id, subscriber_id
    ) AS v JOIN {SUBSCRIBERS} AS s ON s.id = v.subscriber_id
    GROUP BY campaign_id, quarter, slot
    """  # noqa: S608


def ranked_counts_sql(ranked: str) -> str:
    """counts_sql() from votes already ranked (_ranked_sql()): a vote is its voter's latest
    when it has no next vote (next_any), their latest for its choice when it has no next one
    for that choice (next_same)."""
    return f"""
    SELECT campaign_id, choice_id, quarter, slot, SUM(sign) AS votes,
        SUM(CASE WHEN next_any IS NULL THEN sign ELSE 0 END) AS latest,
        SUM(CASE WHEN next_same IS NULL THEN sign ELSE 0 END) AS voters
    FROM {ranked} AS r GROUP BY campaign_id, choice_id, quarter, slot
    """  # noqa: S608


def ranked_new_voters_sql(ranked: str) -> str:
    """new_voters_sql() from votes already ranked, with seen_at: each voter at their latest
    vote (the one with no next vote)."""
    earlier = EARLIER["postgresql"].format(a="seen_at", b="received_at")
    # By position: a name would be the vote's own quarter, the input column.
    return f"""
    SELECT campaign_id, {QUARTER["postgresql"].format(at=earlier)} AS quarter, slot,
        SUM(sign) AS voters
    FROM {ranked} AS r WHERE next_any IS NULL GROUP BY 1, 2, 3
    """  # noqa: S608


def changed_sql(new: str, old: str) -> str:
    """Responses `old` replaced by `new` (either may be EMPTY), as rows with a sign: the
    changed subscribers' votes as they are now (+1), and as they were (-1)."""
    groups = (
        f"(SELECT DISTINCT campaign_id, subscriber_id FROM (SELECT {COLUMNS} FROM {new} AS n "  # noqa: S608
        f"UNION ALL SELECT {COLUMNS} FROM {old} AS o) AS changed)"
    )
    theirs = (
        f"SELECT r.id, r.campaign_id, r.subscriber_id, r.choice_id, r.received_at, {{sign}} "  # noqa: S608
        f"AS sign FROM {RESPONSES} AS r JOIN {groups} AS g "
        "ON r.campaign_id = g.campaign_id AND r.subscriber_id = g.subscriber_id"
    )
    return (
        f"({theirs.format(sign=1)} UNION ALL {theirs.format(sign=-1)} "  # noqa: S608
        f"WHERE r.id NOT IN (SELECT id FROM {new} AS n) "
        f"UNION ALL SELECT {COLUMNS}, -1 AS sign FROM {old} AS o)"
    )


def probes_sql(id: str, campaign: str, subscriber: str, choice: str) -> tuple[str, str, str]:
    """What one inserted vote is counted from, as subqueries: the voter's latest other vote
    (p: id, received_at, choice_id), the time of their latest other vote for the same choice
    (q: received_at), their first_seen_at (s). Three index probes."""
    theirs = (
        f"FROM {RESPONSES} WHERE campaign_id = {campaign} AND subscriber_id = {subscriber} "  # noqa: S608
        f"AND id <> {id}"
    )
    return (
        f"(SELECT id, received_at, choice_id {theirs} ORDER BY received_at DESC, id DESC LIMIT 1)",
        f"(SELECT MAX(received_at) AS received_at {theirs} AND choice_id = {choice})",
        f"(SELECT first_seen_at FROM {SUBSCRIBERS} WHERE id = {subscriber})",  # noqa: S608
    )


def one_vote_sql(
    vendor: str, id: str, campaign: str, subscriber: str, choice: str, at: str
) -> list[str]:
    """What changed_sql() would count for one inserted vote (the callback's case, in SQLite's
    trigger; PostgreSQL's runs the same rule step by step), from probes_sql() instead of the
    voter's votes: it becomes the voter's latest if it beats their latest other vote (p), and
    their latest for its choice if it is later than that one (q). Two statements, the
    counters and the new voters; each reads its probes once (one row, then crossed with the
    rows it adds)."""
    p, q, s = probes_sql(id, campaign, subscriber, choice)
    base = f"FROM (SELECT 1 AS one) AS base LEFT JOIN {p} AS p ON 1 = 1"
    beats_p = f"(p.id IS NULL OR p.received_at < {at} OR (p.received_at = {at} AND p.id < {id}))"
    beats_q = f"(q.received_at IS NULL OR q.received_at < {at})"
    quarter, earlier = QUARTER[vendor], EARLIER[vendor]
    slot = f"{subscriber} & {SLOTS - 1} AS slot"
    # The vote itself (+), and the voter's previous latest (p) and latest for this choice
    # (q) when it takes their place (-).
    row = "(SELECT 'vote' AS k UNION ALL SELECT 'p' UNION ALL SELECT 'q') AS row"
    moment = f"CASE row.k WHEN 'vote' THEN {at} WHEN 'p' THEN p.received_at ELSE q.received_at END"
    tally = (
        f"SELECT {campaign} AS campaign_id, "  # noqa: S608
        f"CASE row.k WHEN 'p' THEN p.choice_id ELSE {choice} END AS choice_id, "
        f"{quarter.format(at=moment)} AS quarter, {slot}, "
        f"SUM(CASE row.k WHEN 'vote' THEN 1 ELSE 0 END) AS votes, "
        f"SUM(CASE row.k WHEN 'vote' THEN CASE WHEN {beats_p} THEN 1 ELSE 0 END "
        f"WHEN 'p' THEN -1 ELSE 0 END) AS latest, "
        f"SUM(CASE row.k WHEN 'vote' THEN CASE WHEN {beats_q} THEN 1 ELSE 0 END "
        f"WHEN 'q' THEN -1 ELSE 0 END) AS voters "
        f"{base} CROSS JOIN {q} AS q CROSS JOIN {row} "
        f"WHERE row.k = 'vote' OR (row.k = 'p' AND p.id IS NOT NULL AND {beats_p}) "
        f"OR (row.k = 'q' AND q.received_at IS NOT NULL AND {beats_q}) "
        "GROUP BY 2, 3"
    )
    # When the vote becomes the voter's latest, their new-voter count moves from the earlier
    # of first seen and p to the earlier of first seen and this vote. Only a first vote, or
    # one after a latest vote from before first seen, moves it: the rest are skipped early.
    seen = f"CASE row.k WHEN 'vote' THEN {at} ELSE p.received_at END"
    new_voters = (
        f"SELECT {campaign} AS campaign_id, "  # noqa: S608
        f"{quarter.format(at=earlier.format(a='s.first_seen_at', b=seen))} AS quarter, {slot}, "
        f"SUM(CASE row.k WHEN 'vote' THEN 1 ELSE -1 END) AS voters "
        f"{base} CROSS JOIN {s} AS s CROSS JOIN (SELECT 'vote' AS k UNION ALL SELECT 'p') AS row "
        f"WHERE (p.id IS NULL OR p.received_at < s.first_seen_at) AND {beats_p} "
        f"AND (row.k = 'vote' OR p.id IS NOT NULL) GROUP BY 2"
    )
    return [add_sql(tally), add_new_voters_sql(new_voters)]


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


def add_new_voters_sql(counts: str) -> str:
    """Add these counts to the new voters' counters, in key order."""
    return f"""
    INSERT INTO {NEW_VOTERS} (campaign_id, quarter, slot, voters)
    SELECT campaign_id, quarter, slot, voters FROM ({counts}) AS counts WHERE voters <> 0
    ORDER BY campaign_id, quarter, slot
    ON CONFLICT (campaign_id, quarter, slot) DO UPDATE SET
        voters = {NEW_VOTERS}.voters + excluded.voters
    """  # noqa: S608


# Each counter table's key and counts, for the rebuild's plain INSERTs.
KEYS = {
    TALLY: ("campaign_id, quarter, choice_id, slot", ("votes", "latest", "voters")),
    NEW_VOTERS: ("campaign_id, quarter, slot", ("voters",)),
    RANGE_TALLY: ("campaign_id, quarter, choice_id, next_day, slot", ("latest", "voters")),
    RANGE_NEW_VOTERS: ("campaign_id, day, prev_day, seen_day, slot", ("voters",)),
}


def fill_sql(table: str, counts: str) -> str:
    """Counts into a table that holds none of their keys (the rebuild emptied them, under the
    exclusive lock): a plain INSERT, with no conflict to look for and no unique index needed.
    In (poll, quarter or day) order, as votes arriving leave them: a poll's recent quarters
    then sit on few pages for the readers' range scans, where hash order would spread any
    range over all. (The whole key sorted costs more, for nothing a reader sees.)"""
    key, counted = KEYS[table]
    names = ", ".join(counted)
    nonzero = " OR ".join(f"{name} <> 0" for name in counted)
    return f"""
    INSERT INTO {table} ({key}, {names}) SELECT {key}, {names} FROM ({counts}) AS c
    WHERE {nonzero} ORDER BY {", ".join(key.split(", ")[:2])}
    """  # noqa: S608


def count_sql(rows: str, vendor: str) -> list[str]:
    """The statements that add `rows` (responses with a sign) to the counters: both tables,
    and on PostgreSQL the range counters."""
    return [statement for _, statement in _counted(rows, vendor)]


def _counted(rows: str, vendor: str) -> list[tuple[str, str]]:
    """(table, the statement that adds `rows` to it)."""
    tables = [
        (TALLY, add_sql(counts_sql(rows, vendor))),
        (NEW_VOTERS, add_new_voters_sql(new_voters_sql(rows, vendor))),
    ]
    if vendor == "postgresql":
        tables += [
            (RANGE_TALLY, add_range_sql(range_counts_sql(rows))),
            (RANGE_NEW_VOTERS, add_range_new_voters_sql(range_new_voters_sql(rows))),
        ]
    return tables


def _pg_function(op: str, new: str, old: str, ranges: bool = True) -> str:
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
        # One row, as a callback inserts it: one_vote_sql()'s rule, step by step. Its probes
        # are read once into variables (a first vote, or a re-vote for the voter's latest
        # choice, needs no q), the counters get at most three rows, and the new voters are
        # written only when they move: statements simple enough that PostgreSQL plans them
        # once.
        vote = [f"new_vote.{c}" for c in COLUMNS.split(", ")]
        p, q, s = probes_sql(*vote[:4])
        quarter = QUARTER["postgresql"].format
        earlier = EARLIER["postgresql"].format
        slot = f"new_vote.subscriber_id & {SLOTS - 1} AS slot"
        tally = add_sql(
            f"SELECT new_vote.campaign_id AS campaign_id, choice_id, quarter, {slot}, "  # noqa: S608
            "SUM(votes) AS votes, SUM(latest) AS latest, SUM(voters) AS voters FROM (VALUES "
            f"(new_vote.choice_id, {quarter(at='new_vote.received_at')}, 1, beats_p::int, "
            "beats_q::int), "
            f"(p_choice, {quarter(at='p_at')}, 0, -(beats_p AND p_id IS NOT NULL)::int, 0), "
            f"(new_vote.choice_id, {quarter(at='q_at')}, 0, 0, "
            "-(beats_q AND q_at IS NOT NULL)::int)"
            ") AS d (choice_id, quarter, votes, latest, voters) "
            "WHERE quarter IS NOT NULL GROUP BY choice_id, quarter"
        )
        new_voters = add_new_voters_sql(
            f"SELECT new_vote.campaign_id AS campaign_id, quarter, {slot}, "  # noqa: S608
            "SUM(voters) AS voters FROM (VALUES "
            f"({quarter(at=earlier(a='f_at', b='new_vote.received_at'))}, 1), "
            f"({quarter(at=earlier(a='f_at', b='p_at'))}, -1)"
            # LEAST() passes over NULL: without p, only the first row counts.
            ") AS d (quarter, voters) WHERE voters = 1 OR p_id IS NOT NULL GROUP BY quarter"
        )
        # The range counters: the vote counts at the day of the voter's next vote (pn_at) and
        # of their next for this choice (nc_at), if any; the vote before it in the poll (pp_)
        # and for this choice (pc_at) now count at the vote's day; the vote counts for new
        # voters by the day of the one before it, and its next vote (pn_at) by its day. In
        # order (the usual case) the probes above already say all: there is no next vote,
        # the previous ones are p and q.
        theirs = (
            f"FROM {RESPONSES} WHERE campaign_id = new_vote.campaign_id "  # noqa: S608
            "AND subscriber_id = new_vote.subscriber_id {0} AND (received_at, id) {1} "
            "(new_vote.received_at, new_vote.id) ORDER BY received_at {2}, id {2} LIMIT 1"
        )
        same = "AND choice_id = new_vote.choice_id"
        range_tally = add_range_sql(
            f"SELECT new_vote.campaign_id AS campaign_id, choice_id, quarter, next_day, {slot}, "  # noqa: S608
            "SUM(latest) AS latest, SUM(voters) AS voters FROM (VALUES "
            f"(new_vote.choice_id, {quarter(at='new_vote.received_at')}, dn, dv, 1, 0), "
            f"(new_vote.choice_id, {quarter(at='new_vote.received_at')}, dnc, dv, 0, 1), "
            f"(pp_choice, {quarter(at='pp_at')}, dn, dp, -1, 0), "
            f"(pp_choice, {quarter(at='pp_at')}, dv, dp, 1, 0), "
            f"(new_vote.choice_id, {quarter(at='pc_at')}, dnc, dpc, 0, -1), "
            f"(new_vote.choice_id, {quarter(at='pc_at')}, dv, dpc, 0, 1)"
            ") AS d (choice_id, quarter, next_day, day, latest, voters) "
            "WHERE next_day > day GROUP BY choice_id, quarter, next_day"
        )
        range_new_voters = add_range_new_voters_sql(
            f"SELECT new_vote.campaign_id AS campaign_id, day, prev_day, seen_day, {slot}, "  # noqa: S608
            "SUM(voters) AS voters FROM (VALUES "
            f"(dv, COALESCE(dp, {PREV_NONE}), LEAST(df, dv), 1), "
            f"(dn, COALESCE(dp, {PREV_NONE}), LEAST(df, dn), -1), "
            "(dn, dv, LEAST(df, dn), 1)"
            ") AS d (day, prev_day, seen_day, voters) "
            "WHERE prev_day < day GROUP BY day, prev_day, seen_day"
        )
        range_part = f"""
            IF beats_p THEN
                pp_at := p_at;
                pp_choice := p_choice;
            ELSE
                SELECT received_at, choice_id INTO pp_at, pp_choice
                    {theirs.format("", "<", "DESC")};
                SELECT received_at INTO pn_at {theirs.format("", ">", "")};
            END IF;
            IF beats_q THEN
                pc_at := q_at;
            ELSE
                SELECT received_at INTO pc_at {theirs.format(same, "<", "DESC")};
                SELECT received_at INTO nc_at {theirs.format(same, ">", "")};
            END IF;
            dv := {day_sql("new_vote.received_at")};
            dp := {day_sql("pp_at")};
            dpc := {day_sql("pc_at")};
            dn := {day_sql("pn_at")};
            dnc := {day_sql("nc_at")};
            df := {day_sql("f_at")};
"""  # noqa: S608
        # One statement writes the three tables (rows that move nothing are filtered out, so
        # a vote in order after one of the same day writes no range counter).
        counted = f"WITH tally AS ({tally}), range_tally AS ({range_tally}) {range_new_voters}"
        if not ranges:
            range_part = ""  # (bench/results.py: what the range counters cost a vote)
            counted = tally
        one_vote = f"""
        IF (SELECT count(*) FROM (SELECT 1 FROM new_rows LIMIT 2) AS c) = 1 THEN
            SELECT {COLUMNS} INTO new_vote FROM new_rows;
            PERFORM pg_advisory_xact_lock_shared({PG_GLOBAL_LOCK});
            PERFORM pg_advisory_xact_lock((new_vote.campaign_id & 2147483647)::int,
                                          (new_vote.subscriber_id & 2147483647)::int);
            SELECT * INTO p_id, p_at, p_choice FROM {p} AS p;
            IF p_id IS NULL OR p_choice = new_vote.choice_id THEN
                q_at := p_at;  -- no other vote, or the latest is of this choice
            ELSE
                SELECT * INTO q_at FROM {q} AS q;
            END IF;
            beats_p := p_id IS NULL OR p_at < new_vote.received_at
                OR (p_at = new_vote.received_at AND p_id < new_vote.id);
            beats_q := q_at IS NULL OR q_at < new_vote.received_at;
            SELECT * INTO f_at FROM {s} AS s;
            {range_part}
            {counted};
            IF beats_p AND (p_id IS NULL OR p_at < f_at) THEN
                {new_voters};
            END IF;
            RETURN NULL;
        END IF;"""  # noqa: S608
    return f"""
    CREATE OR REPLACE FUNCTION campaigns_polltally_{op}() RETURNS trigger
    LANGUAGE plpgsql AS $$
    DECLARE
        new_vote record;
        p_id bigint;
        p_at timestamptz;
        p_choice bigint;
        q_at timestamptz;
        f_at timestamptz;
        beats_p boolean;
        beats_q boolean;
        pp_at timestamptz;
        pp_choice bigint;
        pn_at timestamptz;
        pc_at timestamptz;
        nc_at timestamptz;
        dv date;
        dp date;
        dpc date;
        dn date;
        dnc date;
        df date;
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
        {";".join(count_sql(changed_sql(new, old), "postgresql"))};
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
    statements = [zone_sql(settings.TIME_ZONE)] if vendor == "postgresql" else []
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
                count = count_sql(changed_sql(*lite), "sqlite")
            statements += [
                f"DROP TRIGGER IF EXISTS {RESPONSES}_tally_{op}",
                f"CREATE TRIGGER {RESPONSES}_tally_{op} AFTER {event} ON {RESPONSES} "
                f"FOR EACH ROW BEGIN {'; '.join(count)}; END",
            ]
    return statements + first_seen_statements(vendor)


def first_seen_sql(vendor: str, subscriber: str, before: str, after: str) -> str:
    """A subscriber's first_seen_at moved from `before` to `after`: move their new-voter count
    in every poll they voted in."""
    quarter, earlier = QUARTER[vendor], EARLIER[vendor]
    polls = (
        f"(SELECT campaign_id, MAX(received_at) AS latest FROM {RESPONSES} "  # noqa: S608
        f"WHERE subscriber_id = {subscriber} GROUP BY campaign_id)"
    )
    moved = " UNION ALL ".join(
        f"SELECT campaign_id, {quarter.format(at=earlier.format(a=seen, b='latest'))} "  # noqa: S608
        f"AS quarter, {sign} AS voters FROM {polls} AS v"
        for seen, sign in ((before, -1), (after, 1))
    )
    return add_new_voters_sql(
        f"SELECT campaign_id, quarter, {subscriber} & {SLOTS - 1} AS slot, "  # noqa: S608
        f"SUM(voters) AS voters FROM ({moved}) AS m GROUP BY campaign_id, quarter"
    )


def first_seen_statements(vendor: str) -> list[str]:
    """The trigger on the subscribers' table (a row's first_seen_at rarely moves: an edit, a
    repair). On PostgreSQL it takes the counters' exclusive lock: votes being counted with
    the old first_seen_at are committed before it reads them."""
    trigger = f"{SUBSCRIBERS}_new_voters"
    moved = first_seen_sql(vendor, "NEW.id", "OLD.first_seen_at", "NEW.first_seen_at")
    if vendor == "postgresql":
        theirs = f"SELECT {COLUMNS}, {{0}} AS sign, {{1}} AS first_seen_at FROM {RESPONSES} "  # noqa: S608
        theirs += "WHERE subscriber_id = NEW.id"
        rows = (
            f"({theirs.format(-1, 'OLD.first_seen_at')} "
            f"UNION ALL {theirs.format(1, 'NEW.first_seen_at')})"
        )
        moved += ";" + add_range_new_voters_sql(range_new_voters_sql(rows, "first_seen_at"))
        return [
            f"""CREATE OR REPLACE FUNCTION campaigns_pollnewvoters_first_seen() RETURNS trigger
            LANGUAGE plpgsql AS $$
            BEGIN
                PERFORM pg_advisory_xact_lock({PG_GLOBAL_LOCK});
                {moved};
                RETURN NULL;
            END $$""",
            f"DROP TRIGGER IF EXISTS {trigger} ON {SUBSCRIBERS}",
            f"CREATE TRIGGER {trigger} AFTER UPDATE OF first_seen_at ON {SUBSCRIBERS} "
            "FOR EACH ROW WHEN (OLD.first_seen_at IS DISTINCT FROM NEW.first_seen_at) "
            "EXECUTE FUNCTION campaigns_pollnewvoters_first_seen()",
        ]
    return [
        f"DROP TRIGGER IF EXISTS {trigger}",
        f"CREATE TRIGGER {trigger} AFTER UPDATE OF first_seen_at ON {SUBSCRIBERS} FOR EACH ROW "
        f"WHEN OLD.first_seen_at IS NOT NEW.first_seen_at BEGIN {moved}; END",
    ]


def drop_statements(vendor: str) -> list[str]:
    trigger = f"{SUBSCRIBERS}_new_voters"
    if vendor == "postgresql":
        return (
            [
                f"DROP TRIGGER IF EXISTS {trigger} ON {SUBSCRIBERS}",
                "DROP FUNCTION IF EXISTS campaigns_pollnewvoters_first_seen()",
            ]
            + [
                statement
                for op in SIDES
                for statement in (
                    f"DROP TRIGGER IF EXISTS {RESPONSES}_tally_{op} ON {RESPONSES}",
                    f"DROP FUNCTION IF EXISTS campaigns_polltally_{op}()",
                )
            ]
            + [f"DROP FUNCTION IF EXISTS {ZONE_FUNCTION}()"]
        )
    return [f"DROP TRIGGER IF EXISTS {trigger}"] + [
        f"DROP TRIGGER IF EXISTS {RESPONSES}_tally_{op}" for op in SIDES
    ]


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
    """Recount the counters and new voters of one poll (or all) from the responses; the rows
    written. On PostgreSQL, when the site's time zone is no longer the one the range counters
    count days in, it becomes that zone and every poll's range counters are recounted.

    Holds the counters' exclusive lock on PostgreSQL, so votes arriving meanwhile wait for it
    and are then counted on top of the recount, once."""
    conn = connections[using]
    vendor = conn.vendor
    where, params = ("WHERE campaign_id = %s", [campaign_id]) if campaign_id else ("", [])
    with transaction.atomic(using=using), conn.cursor() as cursor:
        # The migrations before the range counters' own run this too (with today's triggers).
        existing = set(conn.introspection.table_names(cursor))
        rezoned = False
        if vendor == "postgresql":
            cursor.execute(f"SELECT pg_advisory_xact_lock({PG_GLOBAL_LOCK})")
            if RANGE_TALLY in existing:
                rezoned = counters_zone(using) != settings.TIME_ZONE
            if rezoned:
                cursor.execute(zone_sql(settings.TIME_ZONE))
            return _rebuild_ranked(cursor, existing, where, params, rezoned)
        rows = f"(SELECT {COLUMNS}, 1 AS sign FROM {RESPONSES} {where})"  # noqa: S608
        written = 0
        for table, statement in _counted(rows, vendor):
            if table not in existing:
                continue
            cursor.execute(f"DELETE FROM {table} {where}", params)  # noqa: S608
            cursor.execute(statement, params)
            written += cursor.rowcount
        return written


RANKED = "campaigns_ranked_votes"  # the rebuild's temporary table


def _rebuild_ranked(cursor, existing: set, where: str, params: list, rezoned: bool) -> int:
    """PostgreSQL's rebuild: each vote ranked once, by two sorts (_ranked_sql(): its next
    vote, next for its choice, previous vote, day, first seen) into a temporary table, then
    the four tables filled from it by GROUP BYs with plain INSERTs. With `rezoned`, every
    poll's votes are ranked: the range counters are all recounted, the others for `where`."""
    scope, scope_params = ("", []) if rezoned else (where, params)
    rows = f"(SELECT {COLUMNS}, 1 AS sign FROM {RESPONSES} {scope})"  # noqa: S608
    cursor.execute(f"CREATE TEMPORARY TABLE {RANKED} AS {_ranked_sql(rows, 'join')}", scope_params)
    cursor.execute(f"ANALYZE {RANKED}")  # the GROUP BYs' estimates: hash them in memory
    polls, polls_params = (f"(SELECT * FROM {RANKED} {where})", params) if rezoned else (RANKED, [])  # noqa: S608
    counts = {
        TALLY: (ranked_counts_sql(polls), polls_params, where, params),
        NEW_VOTERS: (ranked_new_voters_sql(polls), polls_params, where, params),
        RANGE_TALLY: (ranked_range_counts_sql(RANKED), [], scope, scope_params),
        RANGE_NEW_VOTERS: (ranked_range_new_voters_sql(RANKED), [], scope, scope_params),
    }
    written = 0
    for table, (statement, statement_params, emptied, emptied_params) in counts.items():
        if table not in existing:
            continue
        cursor.execute(f"DELETE FROM {table} {emptied}", emptied_params)  # noqa: S608
        cursor.execute(fill_sql(table, statement), statement_params)
        written += cursor.rowcount
    cursor.execute(f"DROP TABLE {RANKED}")
    return written


def counters_zone(using: str = "default") -> str | None:
    """The time zone the range counters count days in (PostgreSQL), None elsewhere."""
    conn = connections[using]
    if conn.vendor != "postgresql":
        return None
    with conn.cursor() as cursor:
        cursor.execute(f"SELECT {ZONE_FUNCTION}()")
        return cursor.fetchone()[0]


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


def recount_new_voters(campaign_id: int) -> dict[str, int]:
    """{quarter: voters} counted from the responses and subscribers now, slots summed: what
    the new voters' counters must hold."""
    rows = f"(SELECT {COLUMNS}, 1 AS sign FROM {RESPONSES} WHERE campaign_id = %s)"  # noqa: S608
    sql = (
        f"SELECT quarter, SUM(voters) FROM ({new_voters_sql(rows, connection.vendor)}) AS c "  # noqa: S608
        "GROUP BY quarter"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [campaign_id])
        return {_moment(quarter): int(n) for quarter, n in cursor.fetchall() if n}


def stored_new_voters(campaign_id: int) -> dict[str, int]:
    """The new voters' counters as stored, in recount_new_voters()'s shape."""
    sql = f"SELECT quarter, SUM(voters) FROM {NEW_VOTERS} WHERE campaign_id = %s GROUP BY quarter"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, [campaign_id])
        return {_moment(quarter): int(n) for quarter, n in cursor.fetchall() if n}


def recount_ranges(campaign_id: int) -> tuple[dict, dict]:
    """PostgreSQL: ({(quarter, choice id, next day): (latest, voters)}, {(day, previous day,
    seen day): voters}) counted from the responses now, slots summed: what the range counters must
    hold."""
    rows = f"(SELECT {COLUMNS}, 1 AS sign FROM {RESPONSES} WHERE campaign_id = %s)"  # noqa: S608
    return _ranges(
        f"SELECT quarter, choice_id, next_day, SUM(latest), SUM(voters) "  # noqa: S608
        f"FROM ({range_counts_sql(rows)}) AS c GROUP BY 1, 2, 3",
        f"SELECT day, prev_day, seen_day, SUM(voters) "  # noqa: S608
        f"FROM ({range_new_voters_sql(rows)}) AS c GROUP BY 1, 2, 3",
        campaign_id,
    )


def stored_ranges(campaign_id: int) -> tuple[dict, dict]:
    """The range counters as stored, in recount_ranges()'s shape."""
    return _ranges(
        f"SELECT quarter, choice_id, next_day, SUM(latest), SUM(voters) FROM {RANGE_TALLY} "  # noqa: S608
        "WHERE campaign_id = %s GROUP BY 1, 2, 3",
        f"SELECT day, prev_day, seen_day, SUM(voters) FROM {RANGE_NEW_VOTERS} "  # noqa: S608
        "WHERE campaign_id = %s GROUP BY 1, 2, 3",
        campaign_id,
    )


def _ranges(tally: str, new_voters: str, campaign_id: int) -> tuple[dict, dict]:
    with connection.cursor() as cursor:
        cursor.execute(tally, [campaign_id])
        counts = {(str(q)[:19], c, d): (int(lt), int(v)) for q, c, d, lt, v in cursor if lt or v}
        cursor.execute(new_voters, [campaign_id])
        return counts, {(d, n, s): int(v) for d, n, s, v in cursor.fetchall() if v}


def _moment(value) -> str:
    # SQLite hands back text; either way, a naive or aware UTC time, compared as text.
    return str(parse_datetime(value) if isinstance(value, str) else value)[:19]


def _nonzero(rows) -> dict:
    return {
        (_moment(quarter), choice): (int(v), int(lt), int(vs))
        for quarter, choice, v, lt, vs in rows
        if v or lt or vs
    }


def pg_insert_function(ranges: bool = True) -> str:
    """PostgreSQL: the statement that (re)defines the insert trigger's function; without the
    range counters, for bench/results.py to measure what they cost a vote."""
    return _pg_function("insert", *SIDES["insert"][0], ranges=ranges)
