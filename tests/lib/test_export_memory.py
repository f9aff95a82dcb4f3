"""A server process stays small while it streams a big export: memory bounded by the chunk it
holds, not by the table (and nothing big loaded at start, such as every country's geocoder)."""

import os
import urllib.request
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client

from campaigns.models import PollResponse
from tests.conftest import database_url
from tests.server import gunicorn

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

RESPONSES = 100_000  # as Python tuples, all of them would take ~70 MB
LIMIT_MB = 200  # issue 9: the server under 200 MB while it exports
GROWTH_MB = 30  # what streaming may add to the worker, whatever the table's size


def memory_mb(pid: int, field: str) -> float:
    """VmRSS (resident now) or VmHWM (the most it has ever been resident) of a process."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise LookupError(field)


@pytest.fixture
def admin_cookie() -> str:
    user = User.objects.create_user("exporter", is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}"


def test_a_worker_streams_a_big_export_in_little_memory(admin_cookie):
    call_command("generate_demo_data", responses=RESPONSES, subscribers=20_000, callbacks=0)
    assert PollResponse.objects.count() == RESPONSES
    env = {**os.environ, "DATABASE_URL": database_url(), "DJANGO_LOCAL": "1"}
    env["DJANGO_ALLOWED_HOSTS"] = "127.0.0.1"
    # One worker, as production runs them (threads), so the process measured is the one serving.
    with gunicorn(env, "--workers", "1", "--timeout", "300") as (server, base_url):
        headers = {"Cookie": admin_cookie}
        with urllib.request.urlopen(urllib.request.Request(f"{base_url}/admin/", headers=headers)):
            pass  # the worker has served a page: everything a request imports is loaded
        worker = int(Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split()[0])
        before = memory_mb(worker, "VmRSS")

        request = urllib.request.Request(
            f"{base_url}/admin/campaigns/pollresponse/export.csv", headers=headers
        )
        lines = 0
        with urllib.request.urlopen(request, timeout=300) as response:
            while chunk := response.read(1 << 16):
                lines += chunk.count(b"\n")
        peak = memory_mb(worker, "VmHWM")

    assert lines == RESPONSES + 1  # the header, then every vote (no cell spans lines here)
    assert peak < LIMIT_MB, f"worker peaked at {peak:.0f} MB"
    assert peak - before < GROWTH_MB, f"{before:.0f} MB before, {peak:.0f} MB at the peak"
