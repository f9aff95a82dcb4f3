from datetime import UTC, datetime

from django.db import IntegrityError, connection, models, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from lib.sync import change_seq_field, changes_index
from lib.text import is_blank, non_blank


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
        """Create or update the subscriber for a normalised mobile number.

        Safe under concurrency: the unique constraint on `mobile` decides who creates the
        row, and the loser updates it under a row lock, so two callbacks for one new number
        make one subscriber and neither's fields are lost.
        """
        seen_at = seen_at or timezone.now()
        subscriber = self.select_for_update().filter(mobile=mobile).first()
        if subscriber is None:
            try:
                with transaction.atomic():
                    return self.create(
                        mobile=mobile,
                        country=country,
                        carrier=carrier,
                        fields=non_blank(fields or {}),
                        first_seen_at=seen_at,
                        last_seen_at=seen_at,
                    )
            except IntegrityError:
                subscriber = self.select_for_update().get(mobile=mobile)
        subscriber.absorb(country=country, carrier=carrier, fields=fields or {}, seen_at=seen_at)
        return subscriber


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
            changes_index("subscriber_changes"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(mobile__startswith="+"), name="subscriber_mobile_is_e164"
            ),
        ]

    def __str__(self) -> str:
        return self.mobile

    def absorb(self, *, country: str, carrier: str, fields: dict, seen_at: datetime) -> None:
        """Merge what a callback says about this subscriber and save it.

        The latest non-empty value wins; empty ones leave stored ones alone. A callback older
        than what we already know (one processed again later) only fills gaps.
        """
        newer = seen_at >= self.last_seen_at
        if country and (newer or not self.country):
            self.country = country
        if carrier and (newer or not self.carrier):
            self.carrier = carrier
        given = non_blank(fields)
        self.fields = {**self.fields, **given} if newer else {**given, **self.fields}
        self.last_seen_at = max(self.last_seen_at, seen_at)
        self.save(update_fields=["country", "carrier", "fields", "last_seen_at", "updated_at"])

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


def custom_field_summary() -> list[dict]:
    """Every custom field name subscribers have, with how many have it and the latest time
    one of them was seen. Reads the whole table: for integrations, not for page views."""
    table = Subscriber._meta.db_table
    if connection.vendor == "postgresql":
        sql = (
            f"SELECT key, count(*), max(last_seen_at) FROM {table}, "  # noqa: S608 (constant)
            "jsonb_object_keys(fields) AS key GROUP BY key ORDER BY key"
        )
    else:
        sql = (
            f"SELECT j.key, count(*), max(s.last_seen_at) FROM {table} s, "  # noqa: S608
            "json_each(s.fields) j GROUP BY j.key ORDER BY j.key"
        )
    with connection.cursor() as cursor:
        cursor.execute(sql)
        rows = cursor.fetchall()
    return [
        {"name": name, "subscribers": count, "last_seen_at": stored_time(last_seen)}
        for name, count, last_seen in rows
    ]


def stored_time(value: datetime | str) -> datetime:
    """A time as raw SQL returns it: SQLite gives its UTC text, PostgreSQL a datetime."""
    if isinstance(value, str):
        return parse_datetime(value).replace(tzinfo=UTC)
    return value


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
