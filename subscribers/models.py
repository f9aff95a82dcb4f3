import json
from datetime import datetime

from django.db import connections, models
from django.db.models import BooleanField, ExpressionWrapper, Q, QuerySet
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Coalesce
from django.utils import timezone

from lib.sync import change_seq_field, changes_index
from lib.text import is_blank, non_blank
from subscribers.phone import region_of

# The merge rules of upsert(), in SQL so the database applies them under the row's lock:
# a value given wins if the callback is the newest we know of, or fills a gap if it is older
# (one processed again later); a blank is never given (blank fields are dropped before, and
# an empty country or carrier changes nothing); last_seen_at only moves forward. A subscriber
# an import added has no last_seen_at until a callback comes: any callback is newer.
NEWER = "(s.last_seen_at IS NULL OR excluded.last_seen_at >= s.last_seen_at)"
MERGE = {
    "postgresql": f"""
        fields = CASE WHEN {NEWER} THEN s.fields || excluded.fields
                      ELSE excluded.fields || s.fields END,
        last_seen_at = GREATEST(s.last_seen_at, excluded.last_seen_at)""",
    # JSON text in SQLite: json_patch() merges two objects of plain values as || does.
    "sqlite": f"""
        fields = CASE WHEN {NEWER} THEN json_patch(s.fields, excluded.fields)
                      ELSE json_patch(excluded.fields, s.fields) END,
        last_seen_at = max(coalesce(s.last_seen_at, excluded.last_seen_at),
                           excluded.last_seen_at)""",
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
        source: str = "",
        returning: str = "*",
    ) -> tuple[str, list]:
        """upsert()'s statement and parameters, RETURNING the row (callbacks compose it) and
        `created`: whether this statement inserted it.

        With `source` (a CTE's name) the row is upserted once per row of the source, and not
        at all when it is empty: a larger statement can make the upsert depend on an earlier
        part of it. (WHERE true: SQLite would read ON CONFLICT as the SELECT's join.)"""
        vendor = connections[self.db].vendor
        # Only constants are formatted in; every value is a parameter.
        sql = f"""
            INSERT INTO {self.model._meta.db_table} AS s
                (mobile, country, carrier, fields, first_seen_at, last_seen_at, updated_at,
                 change_seq)
            {"SELECT" if source else "VALUES ("} %s, %s, %s, {JSON_PARAM[vendor]}, %s, %s, %s, 0
            {f"FROM {source} WHERE true" if source else ")"}
            ON CONFLICT (mobile) DO UPDATE SET
                {given_or_kept("country")},
                {given_or_kept("carrier")},
                {MERGE[vendor]},
                updated_at = excluded.updated_at
            RETURNING {returning}, {CREATED[vendor]} AS created"""  # noqa: S608
        values = self.upsert_params(
            mobile, country=country, carrier=carrier, fields=fields, seen_at=seen_at
        )
        return sql, values

    def upsert_params(
        self,
        mobile: str,
        *,
        country: str = "",
        carrier: str = "",
        fields: dict | None = None,
        seen_at: datetime | None = None,
    ) -> list:
        """upsert_sql()'s parameters alone (its text depends only on `source` and
        `returning`)."""
        ops = connections[self.db].ops
        seen = ops.adapt_datetimefield_value(seen_at or timezone.now())
        now = ops.adapt_datetimefield_value(timezone.now())
        given = json.dumps(non_blank(fields or {}))
        return [mobile, country or "", carrier or "", given, seen, seen, now]

    def record_import(
        self,
        mobile: str,
        *,
        country: str = "",
        carrier: str = "",
        fields: dict | None = None,
        imported_at: datetime | None = None,
    ) -> "Subscriber":
        """Create or update the subscriber a row of an imported file describes.

        The file is the newest word on what it gives: its country, carrier and fields replace
        the stored ones, and a blank cell never erases. An import says nothing about what the
        subscriber did, so first and last seen stay as callbacks left them; a subscriber the
        import adds is first seen at the import (when the CRM first had the number) and has no
        last seen until a callback comes. imported_at says when an import last touched them.
        """
        imported_at = imported_at or timezone.now()
        given = {
            "country": country or "",
            "carrier": carrier or "",
            "fields": non_blank(fields or {}),
            "imported_at": imported_at,
        }
        added = {
            **given,
            "country": given["country"] or region_of(mobile),
            "first_seen_at": imported_at,
            "last_seen_at": None,
        }
        subscriber, created = self.select_for_update().get_or_create(mobile=mobile, defaults=added)
        if not created:
            subscriber.country = given["country"] or subscriber.country
            subscriber.carrier = given["carrier"] or subscriber.carrier
            subscriber.fields = {**subscriber.fields, **given["fields"]}
            subscriber.imported_at = imported_at
            subscriber.save(
                update_fields=["country", "carrier", "fields", "imported_at", "updated_at"]
            )
        return subscriber


class Subscriber(models.Model):
    mobile = models.CharField(max_length=16, unique=True, help_text="E.164, e.g. +12125551212")
    country = models.CharField(max_length=2, blank=True, help_text="ISO 3166 alpha-2")
    carrier = models.CharField(max_length=64, blank=True)
    fields = models.JSONField(
        default=dict, blank=True, help_text="Every custom field captured; the latest value wins."
    )
    # When the CRM first had the number: its first callback, or the import that added it.
    first_seen_at = models.DateTimeField(default=timezone.now)
    # The subscriber's latest callback; none yet for one an import added.
    last_seen_at = models.DateTimeField(default=timezone.now, null=True, blank=True)
    # When an import last created or updated the subscriber (imports leave the seen times).
    imported_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)
    change_seq = change_seq_field()

    objects = SubscriberManager()

    class Meta:
        # Never seen (imported only) last, on every database. Migration crm/0007 indexes it
        # that way (subscriber_last_seen, 0007 and 0008): SQLite cannot say NULLS LAST in an index.
        ordering = (models.F("last_seen_at").desc(nulls_last=True),)
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


def with_field_starting(subscribers: QuerySet, name: str, prefix: str) -> QuerySet:
    """The subscribers whose custom field `name` starts with `prefix`, whatever its case
    ("Zip" and "100" find the zips 100xx). The field's name is matched exactly.

    On PostgreSQL, when few subscribers have such a value, the fields' JSON text is matched
    first, through its trigram index (subscriber_fields_trgm, which also serves the list's
    search): `"Zip": "100` appears in it where the field starts so; the test on the value
    itself then keeps the right rows.
    """
    starts = Q(field_value__istartswith=prefix)
    found = subscribers.alias(field_value=KeyTextTransform(name, "fields"))
    if connections[subscribers.db].vendor != "postgresql":
        return found.filter(starts)
    # jsonb writes its text as json.dumps does without ASCII escapes: "key": "value".
    key, start = json.dumps(name, ensure_ascii=False), json.dumps(prefix, ensure_ascii=False)
    indexed = Q(fields__icontains=f"{key}: {start[:-1]}")
    # The planner knows how many rows the indexed text matches, but guesses 0.5% for the test
    # on the value; COALESCE makes that guess 50%. Else, with 40% of the subscribers matching,
    # it took the few rows it expected for a sort (1 s) rather than walking the list's order.
    exact = Coalesce(ExpressionWrapper(starts, output_field=BooleanField()), False)
    if is_common(Subscriber.objects.using(subscribers.db).filter(indexed)):
        # Each row the index finds is cast from jsonb to text to be checked again, which the
        # planner counts as free: for 80,000 of 200,000 subscribers reading them all and
        # testing the value took 60 ms, and the index 145.
        return found.filter(exact)
    return found.filter(indexed, exact)


def is_common(subscribers: QuerySet) -> bool:
    """Whether PostgreSQL expects these subscribers to be a tenth of them or more (its plan's
    estimate, from the statistics ANALYZE keeps: no row is read)."""
    everyone = Subscriber.objects.using(subscribers.db)
    return planned_rows(subscribers) >= planned_rows(everyone) / 10


def planned_rows(subscribers: QuerySet) -> int:
    plan = subscribers.order_by().only("pk").explain(format="json")
    return json.loads(plan)[0]["Plan"]["Plan Rows"]


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
