from django.core.management.base import BaseCommand, CommandError

from campaigns import tallies
from campaigns.models import Campaign, Kind


class Command(BaseCommand):
    help = (
        "Recount the poll counters (votes, latest votes and voters per choice and quarter "
        "hour, and new voters) from the poll responses and their subscribers. "
        "The database keeps them as votes arrive; this is for repairs and bulk loads."
    )

    def add_arguments(self, parser):
        parser.add_argument("--campaign", type=int, help="Only this poll (its id).")

    def handle(self, *args, campaign=None, **options):
        if campaign is not None and not Campaign.objects.filter(pk=campaign, kind=Kind.POLL):
            raise CommandError(f"No poll with id {campaign}.")
        rows = tallies.rebuild(campaign)
        which = f"poll {campaign}" if campaign else "every poll"
        self.stdout.write(f"Recounted {which}: {rows} counter rows.")
