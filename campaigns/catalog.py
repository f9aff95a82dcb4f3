"""The campaigns and poll choices callbacks look up, kept in each process between callbacks.

A callback needs its campaign and choice before it writes anything; finding them costs
two queries, while a marketer changes them a few times a day. So each process keeps what
it found, stamped with the catalog's version (CatalogVersion, rewritten by the database on
any change to campaigns or choices, and to the tables of layers above that add their own
triggers: callbacks' endpoints), and checks that one row for each callback, before its write
or inside it: a change made anywhere is seen by the next callback everywhere.
"""

from django.db import connections, router

from campaigns.models import Campaign, CatalogVersion, PollChoice

# Past this many lookups the process starts afresh: a flood of different keywords cannot
# grow its memory without bound.
MAX_ENTRIES = 10_000


def current_version() -> int | None:
    """The catalog's version now; None when the row is missing (a just-emptied database)."""
    # Plain SQL: this runs before every callback, and the ORM would compile it every time.
    table = CatalogVersion._meta.db_table
    with connections[router.db_for_read(CatalogVersion)].cursor() as cursor:
        cursor.execute(f"SELECT version FROM {table} WHERE id = 1")  # noqa: S608 - a constant
        row = cursor.fetchone()
    return row[0] if row else None


class StaleCatalog(Exception):
    """Lookups of an older version than the catalog's: what they hold, or would find, may be
    gone. Nothing was written; start over with lookups()."""


class Lookups:
    """Campaigns and choices as of one catalog version."""

    def __init__(self, version: int | None):
        self.version = version
        self.found: dict[tuple, Campaign | PollChoice] = {}

    def campaign(self, kind: str, shortcode: str, keyword: str) -> Campaign:
        key = ("campaign", kind, shortcode, keyword)
        return self.get(key, lambda: Campaign.objects.for_callback(kind, shortcode, keyword))

    def choice(self, campaign: Campaign, reply: str, label: str) -> PollChoice:
        key = ("choice", campaign.pk, reply)
        return self.get(key, lambda: campaign.choice_for(reply, label))

    def get(self, key: tuple, find):
        """What `find()` returns, kept under `key` for this version; a None is not kept.

        For anything read from a table whose every change rewrites the version. Raises
        StaleCatalog when the catalog has moved on: finding may write (a campaign for an
        unknown keyword, a choice of a campaign that may since have gone)."""
        found = self.found.get(key)
        if found is None:
            if self.version is not None and current_version() != self.version:
                raise StaleCatalog
            found = find()
            # Finding may have created the row (an unknown keyword or reply), which changes
            # the version: then what was found belongs to the next version, not this one
            # (and would be wrong here if that creation were rolled back).
            if self.version is not None and current_version() == self.version:
                if len(self.found) >= MAX_ENTRIES:
                    self.found.clear()
                self.found[key] = found
        return found


_latest = Lookups(None)


def table() -> str:
    """The version's table, for a write statement that checks the version itself."""
    return CatalogVersion._meta.db_table


def latest() -> Lookups:
    """The lookups this process holds, without reading the version: for a write that checks
    `.version` itself (and starts over with lookups() when it has changed)."""
    return _latest if _latest.version is not None else lookups()


def lookups() -> Lookups:
    """Lookups valid for a callback that arrives now. One indexed read.

    Each version has its own Lookups object: a thread still holding the previous one keeps
    writing there, never into the current one.
    """
    global _latest
    version = current_version()
    if version is None:
        _latest = Lookups(None)  # nothing to compare with: nothing is kept
        return _latest
    if _latest.version != version:
        _latest = Lookups(version)
    return _latest
