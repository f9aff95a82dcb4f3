import json
from datetime import datetime

from django.db import connections, models
from django.utils import timezone

from lib.sync import change_seq_field, changes_index
from lib.text import is_blank, non_blank

# The merge rules of upsert(), in SQL so the database applies them under the row's lock:
# a value given wins if the callback is the newest we know of, or fills a gap if it is older
# (one processed again later); a blank is never given (blank fields are dropped before, and
# an empty country or carrier changes nothing); last_seen_at only moves forward.
NEWER = "excluded.last_seen_at >= s.last_seen_at"
MERGE = {
    "postgresql": f"""
        fields = CASE WHEN {NEWER} THEN s.fields || excluded.fields
                      ELSE excluded.fields || s.fields END,
        last_seen_at = GREATEST(s.last_seen_at, excluded.last_seen_at)""",
    # JSON text in SQLite: json_patch() merges two objects of plain values as || does.
    "sqlite": f"""
        fields = CASE WHEN {NEWER} THEN json_patch(s.fields, excluded.fields)
                      ELSE json_patch(excluded.fields, s.fields) END,
        last_seen_at = max(s.last_seen_at, excluded.last_seen_at)""",
}
JSON_PARAM = {"postgresql": "%s::jsonb", "sqlite": "json(%s)"}
# Whether the upsert inserted the row, from the statement itself (the row's `created`):
# PostgreSQL's xmax is 0 on a row version no transaction updated; SQLite's RETURNING shows the
# row before its AFTER triggers (lib.sync), so a new row still has the 0 change_seq of VALUES.
CREATED = {"postgresql": "(s.xmax = 0)", "sqlite": "(change_seq = 0)"}


def given_or_kept(column: str) -> str:
    return f"""{column} = CASE WHEN excluded.{column} <> '' AND ({NEWER} OR s.{column} = '')
                     THEN excluded.{column} ELSE s.{column} END"""


class SubscriberManager(models.Manager):
    def upsert(
        self,
        mobile: str,
        *,
        country: str = "",
        carrier: str = "",
        fields: dict | None = None,
        seen_at: datetime | None = None,
    ) -> "Subscriber":
        """Create or update the subscriber for a normalised mobile number, in one statement.

        INSERT … ON CONFLICT DO UPDATE: the unique constraint on `mobile` decides who creates
        the row, and the loser's values are merged into it under the row's lock, so two
        callbacks for one number make one subscriber and neither's fields are lost. No
        savepoint, no second statement.
        """
        sql, params = self.upsert_sql(
            mobile, country=country, carrier=carrier, fields=fields, seen_at=seen_at
        )
        return self.raw(sql, params)[0]

    def upsert_sql(
        self,
        mobile: str,
        *,
        country: str = "",
        carrier: str = "",
        fields: dict | None = None,
        seen_at: datetime | None = None,
    ) -> tuple[str, list]:
        """upsert()'s statement and parameters, RETURNING the row (callbacks compose it) and
        `created`: whether this statement inserted it."""
        seen_at = seen_at or timezone.now()
        vendor, ops = connections[self.db].vendor, connections[self.db].ops
        # Only constants are formatted in; every value is a parameter.
        sql = f"""
            INSERT INTO {self.model._meta.db_table} AS s
                (mobile, country, carrier, fields, first_seen_at, last_seen_at, updated_at,
                 change_seq)
            VALUES (%s, %s, %s, {JSON_PARAM[vendor]}, %s, %s, %s, 0)
            ON CONFLICT (mobile) DO UPDATE SET
                {given_or_kept("country")},
                {given_or_kept("carrier")},
                {MERGE[vendor]},
                updated_at = excluded.updated_at
            RETURNING *, {CREATED[vendor]} AS created"""  # noqa: S608
        seen = ops.adapt_datetimefield_value(seen_at)
        now = ops.adapt_datetimefield_value(timezone.now())
        given = json.dumps(non_blank(fields or {}))
        return sql, [mobile, country or "", carrier or "", given, seen, seen, now]


class Subscriber(models.Model):
    mobile = models.CharField(max_length=16, unique=True, help_text="E.164, e.g. +12125551212")
    country = models.CharField(max_length=2, blank=True, help_text="ISO 3166 alpha-2")
    carrier = models.CharField(max_length=64, blank=True)
    fields = models.JSONField(
        default=dict, blank=True, help_text="Every custom field captured; the latest value wins."
    )
    first_seen_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)
    change_seq = change_seq_field()

    objects = SubscriberManager()

    class Meta:
        ordering = ("-last_seen_at",)
        indexes = [
            # The list filters read their few distinct values through these (lib.admin_lists).
            models.Index(fields=["carrier"], name="subscriber_carrier"),
            models.Index(fields=["country"], name="subscriber_country"),
            # The dashboard's new subscribers per day, and the "first seen" filter.
            models.Index(fields=["first_seen_at"], name="subscriber_first_seen"),
            changes_index("subscriber_changes"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(mobile__startswith="+"), name="subscriber_mobile_is_e164"
            ),
        ]

    def __str__(self) -> str:
        return self.mobile

    def set_fields(self, changes: dict) -> None:
        """Change custom fields as an integration asks, and save: a None or blank value removes
        the field, any other value replaces it, fields not named stay as they are."""
        merged = {**self.fields, **changes}
        self.fields = {name: value for name, value in merged.items() if not is_blank(value)}
        self.save(update_fields=["fields", "updated_at"])


# A subscriber as a spreadsheet row, in the admin's export and the API's CSV (which adds the id
# and updated_at around it), custom fields following: (header, .values_list() path).
SUBSCRIBER_COLUMNS = (
    ("mobile", "mobile"),
    ("country", "country"),
    ("carrier", "carrier"),
    ("first_seen_at", "first_seen_at"),
    ("last_seen_at", "last_seen_at"),
)


class CustomField(models.Model):
    """A custom field name subscribers have: kept by database triggers on the subscriber
    table and read through subscribers.custom_fields (never written by the application)."""

    name = models.TextField(primary_key=True)
    subscribers = models.BigIntegerField(help_text="Subscribers who have this field.")
    last_seen_at = models.DateTimeField(
        null=True, help_text="The latest last_seen_at of a subscriber when given the field."
    )

    def __str__(self) -> str:
        return self.name


class CustomFieldChange(models.Model):
    """A field a subscriber write added (+1), removed (-1) or changed (0): appended by the
    triggers, folded into CustomField when the summary is read."""

    name = models.TextField()
    subscribers = models.IntegerField()
    seen_at = models.DateTimeField(null=True)

    def __str__(self) -> str:
        return f"{self.name} {self.subscribers:+d}"


class Deletion(models.Model):
    """A row deleted from a table the API syncs, by anyone (admin, cascade, shell): written
    by a database trigger (lib.sync.track_deletions), read at /api/v1/deletions/."""

    resource = models.CharField(max_length=32, help_text='The API\'s name, e.g. "subscribers".')
    object_id = models.BigIntegerField()
    deleted_at = models.DateTimeField(default=timezone.now)
    change_seq = change_seq_field()

    class Meta:
        ordering = ("-deleted_at",)
        indexes = [changes_index("deletion_changes")]

    def __str__(self) -> str:
        return f"{self.resource} {self.object_id}"
