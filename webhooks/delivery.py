"""Sending the outbox: signed the Standard Webhooks way, retried with exponential backoff.

A worker claims due deliveries in a short transaction (a lease), then sends them outside any
transaction, so no database transaction stays open while a receiver is slow.
"""

import base64
import hashlib
import hmac
import urllib.error
import urllib.request
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from webhooks.models import MAX_ATTEMPTS, Delivery, backoff

# A claimed delivery is not claimed again before this, even if its worker died.
LEASE = timedelta(minutes=5)


def signature(secret: str, message_id: str, timestamp: int, body: str) -> str:
    """webhook-signature: "v1," + base64 HMAC-SHA256 of "id.timestamp.body" with the
    secret's key (the base64 after "whsec_")."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{message_id}.{timestamp}.{body}".encode()
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def claim_due(now: datetime, batch: int) -> list[Delivery]:
    with transaction.atomic():
        due = Delivery.objects.select_for_update(skip_locked=True).filter(next_attempt_at__lte=now)
        ids = list(due.order_by("next_attempt_at").values_list("pk", flat=True)[:batch])
        Delivery.objects.filter(pk__in=ids).update(next_attempt_at=now + LEASE)
    return list(Delivery.objects.filter(pk__in=ids).select_related("subscription"))


def send(delivery: Delivery, timeout: float) -> tuple[int | None, str]:
    """POST the event; (HTTP status or None, error text)."""
    timestamp = int(timezone.now().timestamp())
    request = urllib.request.Request(  # noqa: S310 (URLField: http or https only)
        delivery.subscription.target_url,
        data=delivery.body.encode(),
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": "Sumotext-CRM-Webhooks/1",
            "webhook-id": delivery.message_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": signature(
                delivery.subscription.secret, delivery.message_id, timestamp, delivery.body
            ),
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310
            return answer.status, ""
    except urllib.error.HTTPError as e:
        return e.code, f"HTTP {e.code}"
    except (urllib.error.URLError, TimeoutError, OSError) as e:
        return None, f"{type(e).__name__}: {e}"[:500]


def deliver_due(now: datetime | None = None, batch: int = 50, timeout: float = 10.0) -> dict:
    """Send every delivery due at `now`; return {"delivered": n, "failed": n}."""
    now = now or timezone.now()
    counts = {"delivered": 0, "failed": 0}
    for delivery in claim_due(now, batch):
        status, error = send(delivery, timeout)
        delivery.attempts += 1
        delivery.last_status, delivery.last_error = status, error
        if status is not None and 200 <= status < 300:
            delivery.delivered_at, delivery.next_attempt_at = timezone.now(), None
            counts["delivered"] += 1
        else:
            given_up = delivery.attempts >= MAX_ATTEMPTS
            delivery.next_attempt_at = None if given_up else now + backoff(delivery.attempts)
            counts["failed"] += 1
        delivery.save(
            update_fields=[
                "attempts",
                "last_status",
                "last_error",
                "delivered_at",
                "next_attempt_at",
            ]
        )
    return counts


def redeliver(deliveries) -> int:
    """Send these again at once (the admin's action), whatever became of them."""
    return deliveries.update(next_attempt_at=timezone.now(), delivered_at=None)
