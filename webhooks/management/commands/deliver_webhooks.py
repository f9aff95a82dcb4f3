import time

from django.core.management.base import BaseCommand

from webhooks.delivery import deliver_due


class Command(BaseCommand):
    help = "Send due webhook deliveries, retrying failed ones with exponential backoff."

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="Send what is due, then stop.")
        parser.add_argument("--interval", type=float, default=2.0, help="Seconds between polls.")
        parser.add_argument("--timeout", type=float, default=10.0, help="Seconds per request.")

    def handle(self, *args, once: bool, interval: float, timeout: float, **options):
        while True:
            counts = deliver_due(timeout=timeout)
            if once:
                return f"{counts['delivered']} delivered, {counts['failed']} failed"
            if not any(counts.values()):
                time.sleep(interval)
