from django.core.management.base import BaseCommand
from django.db import transaction

from callbacks.models import CallbackEvent, Outcome
from callbacks.parsing import InvalidCallback


class Command(BaseCommand):
    help = "Process failed callbacks again from their stored raw request."

    def handle(self, *args, **options):
        counts = {Outcome.PROCESSED: 0, Outcome.FAILED: 0, Outcome.REJECTED: 0}
        for event in CallbackEvent.objects.failed().order_by("received_at", "id").iterator():
            with transaction.atomic():
                try:
                    callback = event.parsed()
                except InvalidCallback as e:
                    event.outcome, event.reason = Outcome.REJECTED, str(e)
                    event.save(update_fields=["outcome", "reason"])
                else:
                    event.process(callback)
            counts[event.outcome] += 1
        self.stdout.write(", ".join(f"{n} {outcome}" for outcome, n in counts.items()))
