from django.core.management.base import BaseCommand

from callbacks.models import CallbackEvent, Outcome
from callbacks.processing import process


class Command(BaseCommand):
    help = "Process failed callbacks again from their stored raw request."

    def handle(self, *args, **options):
        counts = dict.fromkeys(Outcome.values, 0)
        for event in CallbackEvent.objects.failed().order_by("received_at", "id").iterator():
            process(event)
            counts[event.outcome] += 1
        self.stdout.write(", ".join(f"{n} {outcome}" for outcome, n in counts.items()))
