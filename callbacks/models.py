import logging
import secrets
from io import BytesIO

from django.core.exceptions import TooManyFieldsSent, TooManyFilesSent
from django.db import models, transaction
from django.http import QueryDict
from django.http.multipartparser import MultiPartParser, MultiPartParserError
from django.utils import timezone

from campaigns.models import Kind

logger = logging.getLogger(__name__)
FORM_ENCODED = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"


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
        from django.urls import reverse

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
    query_string = models.TextField(blank=True, help_text="Exactly as received.")
    body = models.TextField(blank=True, help_text="The POST body, as received.")
    content_type = models.CharField(max_length=200, blank=True)
    remote_addr = models.GenericIPAddressField(null=True, blank=True)
    received_at = models.DateTimeField(default=timezone.now, db_index=True)
    outcome = models.CharField(max_length=10, choices=Outcome.choices, db_index=True)
    reason = models.TextField(blank=True)

    objects = CallbackEventQuerySet.as_manager()

    class Meta:
        ordering = ("-received_at", "-id")
        indexes = [models.Index(fields=["kind", "received_at"])]

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

    def params(self) -> list[tuple[str, str]]:
        """The parameters as sent: the query string's, then a form or multipart body's.

        Raises InvalidCallback when they cannot be read at all.
        """
        from callbacks.parsing import InvalidCallback

        try:
            return self._read_params()
        except (TooManyFieldsSent, TooManyFilesSent):
            raise InvalidCallback("too many parameters") from None
        except MultiPartParserError as e:
            raise InvalidCallback(f"malformed multipart body: {e}") from None

    def _read_params(self) -> list[tuple[str, str]]:
        pairs = list(QueryDict(self.query_string).items())
        if self.method != "POST":
            return pairs
        if self.content_type.startswith(FORM_ENCODED):
            pairs += QueryDict(self.body).items()
        elif self.content_type.startswith(MULTIPART):
            body = self.body.encode()
            meta = {"CONTENT_TYPE": self.content_type, "CONTENT_LENGTH": len(body)}
            fields, _files = MultiPartParser(meta, BytesIO(body), [], "utf-8").parse()
            pairs += fields.items()
        return pairs

    def parsed(self):
        """The stored request as a Callback; raises InvalidCallback with the reason."""
        from callbacks.parsing import parse

        return parse(self.kind, self.params())

    def handle(self):
        """Parse and record this request, and save it with its outcome whatever happens.

        Returns the row it produced, or None when it was rejected or failed. Run it in a
        transaction: the savepoint inside undoes half-written rows, never this event.
        """
        from callbacks.parsing import InvalidCallback
        from campaigns.services import record

        try:
            callback = self.parsed()
        except InvalidCallback as e:
            return self.reject(str(e))
        except Exception as e:
            return self.fail(e)
        self.outcome, self.reason = Outcome.PROCESSED, ""
        self.save()
        try:
            with transaction.atomic():
                return record(self, callback)
        except Exception as e:
            return self.fail(e)

    def reject(self, reason: str) -> None:
        self.outcome, self.reason = Outcome.REJECTED, reason
        self.save()

    def fail(self, error: Exception) -> None:
        # We keep the raw request, so it can be processed again (reprocess_callbacks).
        logger.exception("callback %s failed", self.pk)
        self.outcome, self.reason = Outcome.FAILED, f"{type(error).__name__}: {error}"[:2000]
        self.save()
