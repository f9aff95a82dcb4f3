"""The campaigns and poll choices callbacks look up, kept in each process between callbacks.

A callback needs its campaign and choice before it writes anything; finding them costs
two queries, while a marketer changes them a few times a day. So each process keeps what
it found, stamped with the catalog's version (CatalogVersion, rewritten by the database on
any change to campaigns or choices), and reads that one row before each callback: a change
made anywhere is seen by the next callback everywhere.
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


class Lookups:
    """Campaigns and choices as of one catalog version."""

    def __init__(self, version: int | None):
        self.version = version
        self.found: dict[tuple, Campaign | PollChoice] = {}

    def campaign(self, kind: str, shortcode: str, keyword: str) -> Campaign:
        key = ("campaign", kind, shortcode, keyword)
        return self._get(key, lambda: Campaign.objects.for_callback(kind, shortcode, keyword))

    def choice(self, campaign: Campaign, reply: str, label: str) -> PollChoice:
        key = ("choice", campaign.pk, reply)
        return self._get(key, lambda: campaign.choice_for(reply, label))

    def _get(self, key: tuple, find):
        found = self.found.get(key)
        if found is None:
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


def lookups() -> Lookups:
    """Lookups valid for a callback that arrives now. One indexed read.

    Each version has its own Lookups object: a thread still holding the previous one keeps
    writing there, never into the current one.
    """
    global _latest
    version = current_version()
    if version is None:
        return Lookups(None)  # nothing to compare with: nothing is kept
    if _latest.version != version:
        _latest = Lookups(version)
    return _latest
