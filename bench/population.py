"""Returning subscribers for the benchmarks, made in one statement by the database itself.

A returning vote must be a real one: the same number with the same parameters again within
the duplicate window is a sender's retry, which is kept but counted nowhere (a cheaper path).
So the benchmarks give every request its own number from a population made here, large
enough that no number is used twice in a run.
"""

# Numbers +1212 followed by 7 digits from FIRST: +12122000000, +12122000001, ...
FIRST = 2_000_000

POSTGRES = """
INSERT INTO crm_subscriber
    (mobile, country, carrier, fields, first_seen_at, last_seen_at, updated_at, change_seq)
SELECT '+1212' || lpad((%s + i)::text, 7, '0'), 'US', 'ATTUS', '{}'::jsonb,
       now() - interval '30 days', now() - interval '30 days', now(), 0
FROM generate_series(0, %s - 1) AS i
"""

SQLITE = """
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < %s)
INSERT INTO crm_subscriber
    (mobile, country, carrier, fields, first_seen_at, last_seen_at, updated_at, change_seq)
SELECT '+1212' || substr('0000000' || (%s + i), -7), 'US', 'ATTUS', '{}',
       strftime('%%Y-%%m-%%d %%H:%%M:%%f', 'now', '-30 days'),
       strftime('%%Y-%%m-%%d %%H:%%M:%%f', 'now', '-30 days'),
       strftime('%%Y-%%m-%%d %%H:%%M:%%f', 'now'), 0
FROM n
"""


def make_returning(connection, count: int) -> None:
    """`count` subscribers, numbers +1212<FIRST> onwards, last seen a month ago."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(POSTGRES, [FIRST, count])
        else:
            cursor.execute(SQLITE, [count, FIRST])


def returning_mobile(n: int) -> str:
    """The n-th returning subscriber's number as a callback sends it (national format)."""
    return f"212{FIRST + n:07d}"
