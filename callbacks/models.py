import codecs
import secrets
from datetime import datetime

from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.http import parse_header_parameters

from campaigns.catalog import Lookups
from campaigns.models import Kind
from lib.sync import change_seq_field, changes_index


def new_token() -> str:
    # 192 random bits, URL-safe: the token is the endpoint's only secret.
    return secrets.token_urlsafe(24)


class EndpointQuerySet(models.QuerySet):
    def for_token(self, token: str, at: datetime | None = None) -> "Endpoint | None":
        """The enabled endpoint this token opens at a time (now by default): its current
        token, or the one it replaced until the time the rotation gave it."""
        current = Q(token=token)
        previous = Q(previous_token=token, previous_token_expires_at__gt=at or timezone.now())
        return self.filter(current | previous, enabled=True).first()


def endpoint_for(token: str, found: Lookups) -> "Endpoint | None":
    """Endpoint.objects.for_token(token) now, kept in the process's catalog lookups: every
    change to an endpoint gives the catalog a new version (migration 0008)."""
    endpoint = found.get(("endpoint", token), lambda: Endpoint.objects.for_token(token))
    if endpoint is not None and endpoint.token != token:
        # Found through the token it replaced, which opens it only until its time is up.
        if endpoint.previous_token_expires_at <= timezone.now():
            return None
    return endpoint


class Endpoint(models.Model):
    """A named source of callbacks: the platform account that calls our URLs."""

    name = models.CharField(max_length=100)
    token = models.CharField(max_length=64, unique=True, default=new_token, editable=False)
    # After a rotation the old token keeps working until the platform has the new URLs.
    previous_token = models.CharField(max_length=64, blank=True, db_index=True, editable=False)
    previous_token_expires_at = models.DateTimeField(null=True, blank=True, editable=False)
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = EndpointQuerySet.as_manager()

    class Meta:
        ordering = ("name",)

    def __str__(self) -> str:
        return self.name

    def url_path(self, kind: str) -> str:
        return reverse("callbacks:receive", kwargs={"token": self.token, "kind": kind})

    @property
    def masked_token(self) -> str:
        """Enough to tell tokens apart, not enough to call the URL."""
        return f"{self.token[:4]}{'•' * 8}"

    def rotate_token(self, old_works_until: datetime) -> None:
        """A new token; the current one keeps opening the endpoint until old_works_until
        (now or earlier: at once no more)."""
        self.previous_token = self.token
        self.previous_token_expires_at = old_works_until
        self.token = new_token()
        self.save(update_fields=["token", "previous_token", "previous_token_expires_at"])


class Outcome(models.TextChoices):
    # The event was recorded: subscriber and response rows exist.
    PROCESSED = "processed", "Processed"
    # The input was invalid (no mobile, no keyword…); the sender got a 400 and the reason.
    REJECTED = "rejected", "Rejected"
    # Our processing raised; the raw request is kept so it can be processed again.
    FAILED = "failed", "Failed"
    # The same callback arrived again within the duplicate window (a sender's retry): kept,
    # linked to the first, and counted nowhere.
    DUPLICATE = "duplicate", "Duplicate"


class CallbackFingerprint(models.Model):
    """The first callback with these parameters, until expires_at: later ones are retries.

    Claimed in the transaction that records the callback, in one statement (callbacks/dedupe.py),
    so the database, not a check-then-insert, decides which of two concurrent copies counts.
    """

    fingerprint = models.CharField(max_length=64, unique=True)
    event = models.ForeignKey("CallbackEvent", on_delete=models.CASCADE, related_name="+")
    # The claiming event's arrival and the end of its window: callbacks are not always
    # recorded in arrival order (a spool drain stores older ones after newer ones).
    received_at = models.DateTimeField()
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return self.fingerprint


def charset_of(content_type: str) -> str:
    """The charset a Content-Type declares, if Python knows it; UTF-8 otherwise."""
    _, params = parse_header_parameters(content_type or "")
    charset = params.get("charset", "").strip() or "utf-8"
    try:
        return codecs.lookup(charset).name
    except LookupError:
        return "utf-8"


class CallbackEventQuerySet(models.QuerySet):
    def failed(self):
        return self.filter(outcome=Outcome.FAILED)


class CallbackEvent(models.Model):
    """One request as it reached a valid endpoint, kept whatever became of it."""

    endpoint = models.ForeignKey(Endpoint, on_delete=models.PROTECT, related_name="events")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    method = models.CharField(max_length=10)
    # As received, decoded as UTF-8: bytes that are not UTF-8 (and NUL, which the database
    # refuses) are stored as U+FFFD.
    query_string = models.TextField(blank=True, help_text="As received.")
    body = models.TextField(
        blank=True, help_text="The POST body, decoded in its declared charset (UTF-8 if none)."
    )
    # Only when the text above lost something (undecodable bytes, NUL): the bytes as received.
    body_raw = models.BinaryField(null=True, blank=True, editable=False)
    content_type = models.CharField(max_length=200, blank=True)
    remote_addr = models.GenericIPAddressField(null=True, blank=True)
    received_at = models.DateTimeField(default=timezone.now, db_index=True)
    # Not indexed on its own: nearly every callback is processed. The others, the few an
    # operator looks for, have an index of their own (callbackevent_not_processed).
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    reason = models.TextField(blank=True)
    duplicate_of = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="duplicates",
        help_text="The first of these identical callbacks, for a duplicate.",
    )
    # A callback that reached us while the database could not take it waited in the local
    # spool (callbacks/spool.py); received_at stays its arrival time. The spool id makes a
    # drain exactly-once: a record already stored under its id is not stored again.
    spool_id = models.UUIDField(null=True, blank=True, unique=True, editable=False)
    spooled_at = models.DateTimeField(
        null=True, blank=True, help_text="When it was written to the local spool, if it was."
    )
    change_seq = change_seq_field()

    objects = CallbackEventQuerySet.as_manager()

    class Meta:
        ordering = ("-received_at", "-id")
        indexes = [
            models.Index(fields=["kind", "received_at"]),
            models.Index(
                fields=["received_at"],
                condition=~Q(outcome=Outcome.PROCESSED),
                name="callbackevent_not_processed",
            ),
            changes_index("callbackevent_changes"),
        ]

    def __str__(self) -> str:
        # As the pages show times: the configured zone, the one date format.
        at = date_format(timezone.localtime(self.received_at), "DATETIME_FORMAT")
        return f"{self.get_kind_display()} {self.get_outcome_display().lower()}, {at}"

    @property
    def raw_body(self) -> bytes:
        """The body's bytes: as received when decoding lost some, else the stored text's."""
        if self.body_raw is not None:
            return bytes(self.body_raw)
        return self.body.encode(charset_of(self.content_type), errors="replace")

    @property
    def record(self):
        """The row this callback produced, if any."""
        for name in ("pollresponse", "inforequest", "formsubmission"):
            row = getattr(self, name, None)
            if row is not None:
                return row
        return None
