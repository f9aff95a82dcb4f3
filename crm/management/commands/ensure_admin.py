import os
import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

PASSWORD_FILE = Path(settings.BASE_DIR) / ".admin-password"


class Command(BaseCommand):
    help = "Make sure the admin login exists (password from DJANGO_SUPERUSER_PASSWORD)."

    def handle(self, *args, **options):
        User = get_user_model()
        user = User.objects.filter(username="admin").first()
        password = os.environ.get("DJANGO_SUPERUSER_PASSWORD", "")
        if user and not password:
            hint = f"password in {PASSWORD_FILE.name}" if PASSWORD_FILE.exists() else ""
            self.stdout.write(f"Admin login: admin {hint}".rstrip())
            return
        if not password and PASSWORD_FILE.exists():
            # One local password for every local database (`make run`, `make demo`).
            password = PASSWORD_FILE.read_text().strip()
        if not password:
            password = secrets.token_urlsafe(12)
            PASSWORD_FILE.write_text(password + "\n")
            PASSWORD_FILE.chmod(0o600)
        if user is None:
            User.objects.create_superuser("admin", password=password)
        else:
            user.set_password(password)
            user.save(update_fields=["password"])
        self.stdout.write(f"Admin login: admin / {password}")
