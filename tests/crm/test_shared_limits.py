"""Limits count across processes: two gunicorn servers on one database, as two nodes behind a
load balancer, each request sent to the other server than the last."""

import json
import os
import random
import urllib.error
import urllib.parse
import urllib.request
from contextlib import ExitStack

import pytest
import redis

from tests.conftest import database_url
from tests.server import gunicorn

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

REDIS = "redis://127.0.0.1:6379"


def post_token(base_url: str, username: str, password: str) -> int:
    request = urllib.request.Request(
        f"{base_url}/api/v1/token/",
        json.dumps({"username": username, "password": password}).encode(),
        {"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as e:
        return e.code


def two_servers(stack: ExitStack, **env) -> list[str]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "DJANGO_LOCAL": "1",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        **env,
    }
    return [stack.enter_context(gunicorn(env, "--workers", "1"))[1] for _ in range(2)]


@pytest.fixture
def redis_url() -> str:
    """A Redis database of its own for this test, emptied before and after."""
    url = f"{REDIS}/{random.randint(1, 15)}"  # noqa: S311 (tests run side by side)
    db = redis.Redis.from_url(url)
    db.flushdb()
    yield url
    db.flushdb()


def guesses(servers: list[str], count: int) -> list[int]:
    return [post_token(servers[i % 2], f"user{i}", "guess") for i in range(count)]


def test_with_redis_the_token_throttle_counts_across_servers(redis_url):
    with ExitStack() as stack:
        # Axes would lock the address after five failures: here the throttle is measured.
        servers = two_servers(stack, CACHE_URL=redis_url, AXES_FAILURE_LIMIT="1000")
        assert guesses(servers, 11) == [403] * 10 + [429]


def test_in_local_memory_each_server_counts_alone():
    """Why CACHE_URL matters: without it, two servers let twice the guesses through."""
    with ExitStack() as stack:
        servers = two_servers(stack, AXES_FAILURE_LIMIT="1000")
        assert guesses(servers, 12) == [403] * 12


def test_login_lockouts_count_across_servers_without_redis():
    """django-axes keeps failures in the database, which every server shares."""
    with ExitStack() as stack:
        servers = two_servers(stack)
        answers = [post_token(servers[i % 2], "admin", f"guess{i}") for i in range(6)]
        assert answers == [403] * 4 + [429] * 2
