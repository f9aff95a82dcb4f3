import secrets

from django.db import models
from django.urls import reverse
from django.utils import timezone

from campaigns.models import Kind
from lib.sync import change_seq_field, changes_index


def new_token() -> str:
    # 192 random bits, URL-safe: the token is the endpoint's only secret.
    return secrets.token_urlsafe(24)


class Endpoint(models.Model):
    """A named source of callbacks: the platform account that calls our URLs."""

    name = models.CharField(max_length=100)
    token = models.CharField(max_length=64, unique=True, default=new_token, editable=False)
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ("name",)

    def __str__(self) -> str:
        return self.name

    def url_path(self, kind: str) -> str:
        return reverse("callbacks:receive", kwargs={"token": self.token, "kind": kind})


class Outcome(models.TextChoices):
    # The event was recorded: subscriber and response rows exist.
    PROCESSED = "processed", "Processed"
    # The input was invalid (no mobile, no keyword…); the sender got a 400 and the reason.
    REJECTED = "rejected", "Rejected"
    # Our processing raised; the raw request is kept so it can be processed again.
    FAILED = "failed", "Failed"


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
    body = models.TextField(blank=True, help_text="The POST body, as received.")
    content_type = models.CharField(max_length=200, blank=True)
    remote_addr = models.GenericIPAddressField(null=True, blank=True)
    received_at = models.DateTimeField(default=timezone.now, db_index=True)
    outcome = models.CharField(max_length=10, choices=Outcome.choices, db_index=True)
    reason = models.TextField(blank=True)
    change_seq = change_seq_field()

    objects = CallbackEventQuerySet.as_manager()

    class Meta:
        ordering = ("-received_at", "-id")
        indexes = [
            models.Index(fields=["kind", "received_at"]),
            changes_index("callbackevent_changes"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.outcome} at {self.received_at:%Y-%m-%d %H:%M:%S}"

    @property
    def record(self):
        """The row this callback produced, if any."""
        for name in ("pollresponse", "inforequest", "formsubmission"):
            row = getattr(self, name, None)
            if row is not None:
                return row
        return None
