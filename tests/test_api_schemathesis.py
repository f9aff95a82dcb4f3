"""Schemathesis, as an integrator's CI would run it, against the real server: every check
(server errors, status codes, content types, headers, response schemas, invalid requests
refused, valid ones accepted, undeclared methods, auth, use after delete...), every phase
including stateful links between operations. Any violation fails the test.

Runs on whichever database DATABASE_URL names (CI runs both, PostgreSQL included), bounded in
time: schemathesis stops generating after MAX_SECONDS.
"""

import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from django.contrib.auth.models import User
from rest_framework.authtoken.models import Token

from tests.helpers import receive, vote

pytestmark = pytest.mark.slow

MAX_SECONDS = 80
CONFIG = Path(__file__).with_name("schemathesis.toml")


def test_the_api_keeps_its_contract_under_fuzzing(server, tmp_path):
    token = Token.objects.create(user=User.objects.create_superuser("schemathesis")).key
    vote("2125551212", "A", carrier="Verizon", country="US")
    receive("info", lead="HOURS", mobile="+447911123456", msg="hours?")
    receive("form", shortcode="12345", key="JOIN", mobile="3055550123", Name="=1+2")
    auth = f"Authorization: Token {token}"
    schema = httpx.get(
        f"{server}/api/v1/schema/?format=json",
        headers={"Authorization": f"Token {token}"},
        timeout=60,
    )
    assert schema.status_code == 200
    (tmp_path / "schema.json").write_bytes(schema.content)
    run = subprocess.run(
        [
            str(Path(sys.executable).with_name("schemathesis")),
            "--config-file",
            str(CONFIG),
            "--no-color",
            "run",
            str(tmp_path / "schema.json"),
            "--url",
            server,
            "--header",
            auth,
            "--checks",
            "all",
            "--max-time",
            str(MAX_SECONDS),
            "--seed",
            "1",
            "--output-truncate",
            "true",
            "--request-timeout",
            "30",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stdout[-20000:] + run.stderr[-2000:]
