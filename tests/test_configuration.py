"""The README's configuration table is the list of variables the code reads, no more, no less."""

import ast
import re

import pytest
from django.core.exceptions import ImproperlyConfigured

from crm.settings import cache_config
from tests.server import ROOT

# Every module that reads the environment for the product's configuration.
SOURCES = ("crm/settings.py", "crm/envfile.py", "gunicorn.conf.py")
# Functions that take a variable's name as their first argument: os.getenv, the settings'
# typed env_* helpers (env_bool, env_int, env_country…), gunicorn.conf.py's number().
HELPERS = {"number", "getenv"}


def is_os_environ(node: ast.AST) -> bool:
    return ast.unparse(node) == "os.environ"


def variables_read(source: str) -> set[str]:
    """Names of environment variables a module reads: os.environ.get/[], getenv, env_*()."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Subscript) and is_os_environ(node.value):
            key = node.slice
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            reads = called in HELPERS or called.startswith("env_")
            reads = reads or (called == "get" and is_os_environ(func.value))
            if not reads:
                continue
            key = node.args[0]
        else:
            continue
        if isinstance(key, ast.Constant) and isinstance(key.value, str):
            names.add(key.value)
    return names


def documented() -> set[str]:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `([A-Z0-9_]+)` \|", section, flags=re.MULTILINE))


def test_the_reader_finds_every_way_settings_read_the_environment():
    source = (
        "import os\n"
        "A = os.environ.get('A', '')\nB = os.environ['B']\nC = env_int('C', 1)\n"
        "D = env_bool('D')\nE = env_list('E')\nF = os.getenv('F')\n"
        "def env_int(name, default):\n    return os.environ.get(name, '')\n"
    )
    assert variables_read(source) == {"A", "B", "C", "D", "E", "F"}


def test_every_variable_read_is_in_the_readme_and_every_one_listed_is_read():
    read = set().union(*(variables_read((ROOT / path).read_text()) for path in SOURCES))

    assert len(read) > 20
    assert read - documented() == set(), "read but not in the README's table"
    assert documented() - read == set(), "in the README's table but read nowhere"


@pytest.mark.parametrize(
    "url,backend",
    [
        ("", "django.core.cache.backends.locmem.LocMemCache"),
        ("redis://127.0.0.1:6379/5", "django.core.cache.backends.redis.RedisCache"),
    ],
)
def test_cache_url_picks_the_cache_every_node_shares(url, backend):
    assert cache_config(url)["BACKEND"] == backend


def test_a_cache_url_of_another_kind_is_an_error_not_a_guess():
    with pytest.raises(ImproperlyConfigured, match="CACHE_URL must be"):
        cache_config("memcached://127.0.0.1:11211")
