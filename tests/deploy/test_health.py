"""/healthz and /readyz: what a load balancer asks before it sends a node traffic."""

import json
import os
import urllib.error
import urllib.request

import pytest
from django.test import Client, override_settings

from tests.server import free_port, gunicorn

PRODUCTION_LIKE = {"SECURE_SSL_REDIRECT": True, "ALLOWED_HOSTS": ["crm.example.com"]}


def get(client: Client, path: str):
    # A probe calls the node by its address, over plain HTTP.
    return client.get(path, HTTP_HOST="10.0.0.5:8000")


@override_settings(**PRODUCTION_LIKE)
def test_healthz_answers_a_probe_without_login_host_name_or_https():
    response = get(Client(), "/healthz")

    assert response.status_code == 200
    assert json.loads(response.content) == {"status": "ok"}
    assert response["Cache-Control"] == "no-store"
    assert not response.cookies
    # The same probe on any other page meets the host check.
    assert get(Client(), "/admin/login/").status_code == 400


def test_readyz_reports_the_database_and_its_migrations(db, tmp_path):
    # A node that has never spooled (no spool folder), whatever the checkout holds.
    with override_settings(**PRODUCTION_LIKE, CALLBACK_SPOOL_DIR=tmp_path / "no-spool"):
        response = get(Client(), "/readyz")

    assert response.status_code == 200
    assert json.loads(response.content) == {
        "status": "ok",
        "database": "ok",
        "migrations": "ok",
    }


def test_readyz_counts_the_callback_spool_backlog(db, tmp_path):
    for name in ("a.json", "b.json", "c.json", ".d.json.tmp"):
        (tmp_path / name).write_text("{}")

    with override_settings(CALLBACK_SPOOL_DIR=str(tmp_path)):
        response = Client().get("/readyz")

    assert response.status_code == 200
    assert json.loads(response.content)["spool_backlog"] == 3


def probe(base_url: str, path: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(base_url + path, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def production_env(database_url: str) -> dict:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_"))}
    return {
        **clean,
        # A spool nobody has written: what the node reports does not hang on the checkout's.
        "CALLBACK_SPOOL_DIR": "/nonexistent/spool",
        "DJANGO_SECRET_KEY": "x" * 50,
        "DJANGO_ALLOWED_HOSTS": "crm.example.com",
        "DATABASE_URL": database_url,
    }


@pytest.mark.slow
def test_a_node_whose_database_is_down_is_alive_but_not_ready():
    closed_port = free_port()
    env = production_env(f"postgres://postgres@127.0.0.1:{closed_port}/crm")
    with gunicorn(env, "--workers", "1") as (_proc, base_url):
        assert probe(base_url, "/healthz") == (200, {"status": "ok"})
        assert probe(base_url, "/readyz") == (
            503,
            {"status": "unavailable", "database": "unreachable"},
        )


@pytest.mark.slow
def test_a_node_on_an_unmigrated_database_is_not_ready(tmp_path):
    env = production_env(f"sqlite:///{tmp_path / 'empty.sqlite3'}")
    with gunicorn(env, "--workers", "1") as (_proc, base_url):
        status, body = probe(base_url, "/readyz")

    assert status == 503
    assert body["database"] == "ok"
    assert body["migrations"].endswith(" not applied")
    assert int(body["migrations"].split()[0]) > 10
