"""The product plus one URL that streams every poll response as CSV, for admin_pages.py.

It measures the shared streaming path (crm.exports.csv_response over a server-side cursor)
until the admin's own export exists; pass its URL with --export-url then.
"""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings")
application = get_wsgi_application()

from django.conf import settings  # noqa: E402

settings.ROOT_URLCONF = "bench.export_urls"
