import os
import subprocess
import sys

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection

from crm.settings import BASE_DIR, env_bool, env_int


def check(**env) -> subprocess.CompletedProcess:
    """Run `manage.py check` with exactly these settings variables."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_"))}
    return subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=BASE_DIR,
        env={**clean, "DJANGO_ENV_FILE": os.devnull, **env},
        capture_output=True,
        text=True,
    )


def test_production_refuses_to_start_without_a_secret_key():
    result = check()
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY is required" in result.stderr


def test_production_starts_with_a_secret_key_and_debug_off():
    result = check(DJANGO_SECRET_KEY="x" * 50, DJANGO_ALLOWED_HOSTS="crm.example.com")
    assert result.returncode == 0, result.stderr


def test_a_bad_debug_value_is_an_error_not_a_guess():
    result = check(DJANGO_LOCAL="1", DJANGO_DEBUG="maybe")
    assert result.returncode != 0
    assert "DJANGO_DEBUG must be true or false" in result.stderr


@pytest.mark.parametrize("value,expected", [("1", True), ("off", False), ("", False)])
def test_env_bool(monkeypatch, value, expected):
    monkeypatch.setenv("SOME_FLAG", value)
    assert env_bool("SOME_FLAG") is expected


def test_env_int_rejects_words(monkeypatch):
    monkeypatch.setenv("SOME_NUMBER", "ten")
    with pytest.raises(ImproperlyConfigured):
        env_int("SOME_NUMBER", 1)


def setting(name: str, **env) -> str:
    """The value of one setting as Django sees it with these environment variables."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_"))}
    code = "import django; django.setup(); from django.conf import settings; "
    code += f"print(settings.{name})"
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=BASE_DIR,
        env={**clean, "DJANGO_SETTINGS_MODULE": "crm.settings", "DJANGO_LOCAL": "1", **env},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_forwarded_proto_is_believed_only_behind_a_trusted_proxy():
    assert setting("SECURE_PROXY_SSL_HEADER") == "None"
    trusted = setting("SECURE_PROXY_SSL_HEADER", TRUSTED_PROXY_COUNT="1")
    assert trusted == "('HTTP_X_FORWARDED_PROTO', 'https')"


def test_the_cache_is_local_memory_unless_cache_url_names_redis():
    assert setting("CACHES['default']['BACKEND']").endswith("LocMemCache")
    url = "redis://127.0.0.1:6379/3"
    assert setting("CACHES['default']", CACHE_URL=url) == (
        f"{{'BACKEND': 'django.core.cache.backends.redis.RedisCache', 'LOCATION': '{url}'}}"
    )
    result = check(DJANGO_LOCAL="1", CACHE_URL="memcached://127.0.0.1:11211")
    assert result.returncode != 0
    assert "CACHE_URL must be a redis:// URL" in result.stderr


@pytest.mark.parametrize(
    "value,expected", [("US", "US"), ("usa", "US"), ("United Kingdom", "GB"), (" de ", "DE")]
)
def test_default_country_is_stored_as_its_alpha_2_code(value, expected):
    assert setting("DEFAULT_COUNTRY", DEFAULT_COUNTRY=value) == expected


@pytest.mark.parametrize("value", ["Narnia", "XX", "U"])
def test_a_default_country_that_is_no_country_stops_startup(value):
    result = check(DJANGO_LOCAL="1", DEFAULT_COUNTRY=value)
    assert result.returncode != 0
    assert "DEFAULT_COUNTRY must be a country" in result.stderr


def test_numbers_without_a_country_are_read_in_a_default_country_given_as_usa():
    code = (
        "import django; django.setup(); from subscribers.phone import normalise_mobile; "
        "print(normalise_mobile('2125551212'))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=BASE_DIR,
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "crm.settings",
            "DJANGO_LOCAL": "1",
            "DEFAULT_COUNTRY": "USA",
        },
        capture_output=True,
        text=True,
    )
    assert result.stdout.strip() == "+12125551212", result.stderr


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's JIT")
def test_postgresql_connections_run_without_jit(db):
    with connection.cursor() as cursor:
        cursor.execute("SHOW jit")
        assert cursor.fetchone()[0] == "off"
