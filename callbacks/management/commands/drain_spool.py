from django.core.management.base import BaseCommand, CommandError

from callbacks import spool


class Command(BaseCommand):
    help = "Store the callbacks spooled while the database was unavailable (each exactly once)."

    def handle(self, *args, **options):
        counts = spool.drain()
        if counts is None:
            raise CommandError("Another process is draining the spool; try again later.")
        left = len(spool.pending())
        summary = ", ".join(f"{n} {what}" for what, n in sorted(counts.items())) or "nothing"
        self.stdout.write(f"Drained {summary}; {left} left in {spool.spool_dir()}.")
