from django.core.management.base import BaseCommand

from callbacks.models import Endpoint
from campaigns.models import Kind


class Command(BaseCommand):
    help = "Print the callback URLs to paste into Sumotext, creating an endpoint if none exists."

    def add_arguments(self, parser):
        parser.add_argument("--base-url", default="http://localhost:8000")

    def handle(self, *args, base_url, **options):
        endpoints = Endpoint.objects.filter(enabled=True)
        if not endpoints.exists():
            Endpoint.objects.create(name="Sumotext")
        for endpoint in endpoints:
            self.stdout.write(f"{endpoint.name}:")
            for kind in Kind:
                url = base_url.rstrip("/") + endpoint.url_path(kind)
                self.stdout.write(f"  {kind.label:<26} {url}")
