import base64
import secrets
import uuid
from datetime import timedelta

from django.db import models
from django.utils import timezone


class EventKind(models.TextChoices):
    # A subscriber voted in a poll.
    POLL_RESPONSE = "poll_response.created", "New poll response"
    # A subscriber texted a Text-4-Info keyword.
    INFO_REQUEST = "info_request.created", "New info request"
    # A web form or sticky session captured a subscriber's details.
    FORM_SUBMISSION = "form_submission.created", "New form submission"
    # A callback came from a number we had never seen: a new subscriber.
    SUBSCRIBER_CREATED = "subscriber.created", "New subscriber"
    # A callback came from a subscriber we knew (what we know of them may have changed).
    SUBSCRIBER_CHANGED = "subscriber.changed", "Subscriber changed"


def new_secret() -> str:
    # Standard Webhooks: "whsec_" and 24 random bytes, base64.
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


class Subscription(models.Model):
    """An integration's URL and the events it wants, signed with its own secret."""

    target_url = models.URLField(max_length=500)
    kinds = models.JSONField(default=list, help_text="Event kinds, e.g. poll_response.created.")
    secret = models.CharField(
        max_length=100, default=new_secret, help_text="Give it to the receiver to check signatures."
    )
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ("target_url",)

    def __str__(self) -> str:
        return self.target_url


# Attempts before a delivery is given up (about 1.5 days of backoff); the admin redelivers.
MAX_ATTEMPTS = 12


def backoff(attempts: int) -> timedelta:
    """Wait after the n-th failed attempt: 10 s, 20 s, 40 s… up to 6 hours."""
    return timedelta(seconds=min(10 * 2 ** (attempts - 1), 6 * 3600))


class Delivery(models.Model):
    """One event for one subscription: the durable outbox the worker sends from, and the
    delivery log the admin shows. Written in the callback's own transaction."""

    subscription = models.ForeignKey(
        Subscription, on_delete=models.CASCADE, related_name="deliveries"
    )
    message_id = models.CharField(max_length=40, unique=True, editable=False)
    kind = models.CharField(max_length=40, choices=EventKind.choices)
    body = models.TextField(help_text="The JSON sent, as signed.")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    # Due for an attempt at this time; null once delivered or given up.
    next_attempt_at = models.DateTimeField(null=True, blank=True, default=timezone.now)
    attempts = models.PositiveIntegerField(default=0)
    delivered_at = models.DateTimeField(null=True, blank=True)
    last_status = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ("-created_at", "-id")
        verbose_name_plural = "deliveries"
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                name="delivery_due",
                condition=models.Q(next_attempt_at__isnull=False),
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} to {self.subscription}"

    def save(self, *args, **kwargs):
        if not self.message_id:
            self.message_id = self.new_message_id()
        super().save(*args, **kwargs)

    @staticmethod
    def new_message_id() -> str:
        # Standard Webhooks' webhook-id: the same on every attempt, so receivers deduplicate.
        return f"msg_{uuid.uuid4().hex}"
