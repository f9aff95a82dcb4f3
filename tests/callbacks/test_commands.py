from io import StringIO

import pytest
from django.core.management import call_command

from callbacks.models import Endpoint

pytestmark = pytest.mark.django_db


def callback_urls(*args) -> str:
    out = StringIO()
    call_command("callback_urls", *args, stdout=out)
    return out.getvalue()


def test_callback_urls_creates_an_endpoint_when_none_exists():
    output = callback_urls("--base-url", "https://crm.example.com/")
    endpoint = Endpoint.objects.get()
    for kind in ("form", "poll", "info"):
        assert f"https://crm.example.com/callbacks/{endpoint.token}/{kind}/" in output
    assert len(endpoint.token) >= 32  # 192 random bits, URL-safe


def test_callback_urls_lists_enabled_endpoints_only():
    shown = Endpoint.objects.create(name="Main")
    hidden = Endpoint.objects.create(name="Old", enabled=False)
    output = callback_urls()
    assert shown.token in output and hidden.token not in output
    assert Endpoint.objects.count() == 2
