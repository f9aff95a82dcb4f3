"""gunicorn's settings for every run of the product: `make run`, the tests, production.

    gunicorn -c gunicorn.conf.py crm.wsgi

Every default can be changed from the environment (README, "Configuration"); options on
the command line win over both.
"""

import os

from gunicorn.glogging import Logger

from crm.envfile import load_env_file
from lib.logs import redact

load_env_file()


def number(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    if not value.isdigit():
        raise SystemExit(f"{name} must be a whole number, not {value!r}")
    return int(value)


bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
# Two processes per core for the CPU; four threads each to overlap the database waits
# (the commit, a subscriber's row lock). Behind nginx no thread ever waits on a slow client.
# bench/ingest.py's main table runs this configuration, and compares it with sync workers and
# other thread counts (docs/benchmarks-ingest.md); none measured faster for callbacks, and a
# sync worker would cut off a long streamed export at the timeout below.
workers = number("WEB_CONCURRENCY", 2 * (os.cpu_count() or 1))
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "gthread")
threads = number("GUNICORN_THREADS", 4)
# With threads, the timeout watches each worker process (a hung one is replaced), not each
# request: a streamed CSV export of a million rows may take minutes and is not cut off.
timeout = number("GUNICORN_TIMEOUT", 30)
graceful_timeout = number("GUNICORN_GRACEFUL_TIMEOUT", 30)
# nginx keeps connections to gunicorn open (upstream keepalive); a few seconds is plenty.
keepalive = number("GUNICORN_KEEPALIVE", 5)

# Text-4-Info sends the subscriber's message in the query string of a GET. 8190 bytes (the
# most gunicorn allows) holds an 8-part concatenated SMS at its widest: 8 x 153 = 1224 GSM-7
# characters, each percent-encoded as 2 UTF-8 bytes (é -> %C3%A9: 6 characters) = 7344, or
# 8 x 67 = 536 UCS-2 characters as 3 UTF-8 bytes (%E4%B8%AD: 9) = 4824, plus the path and
# the other parameters. tests/deploy/test_gunicorn_conf.py sends that request.
limit_request_line = 8190

# Django decides from TRUSTED_PROXY_COUNT whether X-Forwarded-Proto may be believed;
# gunicorn believes no one, so a client cannot claim HTTPS through it.
forwarded_allow_ips = ""
secure_scheme_headers = {}

accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-") or None
errorlog = os.environ.get("GUNICORN_ERROR_LOG", "-")
# Django's log lines (to stderr) follow gunicorn's into the error log when that is a file.
capture_output = True
# No query strings: they carry mobile numbers, messages and admin searches.
access_log_format = '%(h)s %(t)s "%(r)s" %(s)s %(b)s %(M)sms'


class RedactingLogger(Logger):
    """gunicorn's access log without callback tokens and without query strings."""

    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        path = redact(environ.get("PATH_INFO", ""))
        atoms["r"] = f"{atoms['m']} {path} {atoms['H']}"
        atoms["U"] = path
        atoms["q"] = ""
        return {
            key: redact(value) if isinstance(value, str) else value for key, value in atoms.items()
        }


logger_class = RedactingLogger
