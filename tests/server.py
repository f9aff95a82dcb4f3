"""The product under gunicorn in its own process, for the tests and the benchmarks alike.

Free of Django imports, so a benchmark can use it before Django is set up.
"""

import os
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def gunicorn(env: dict, *options: str):
    """Yield (process, base URL) of gunicorn serving crm.wsgi on a free loopback port.

    gunicorn.conf.py gives the settings; `options` (command-line flags) override them.
    """
    port = free_port()
    # A file, not a pipe: nobody reads a pipe while tests run, and once its 64 KiB are full
    # of request logs every worker blocks writing to it.
    log = tempfile.TemporaryFile()
    command = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "crm.wsgi"]
    proc = subprocess.Popen(
        [*command, "--bind", f"127.0.0.1:{port}", *options],
        cwd=ROOT,
        # No .env of a local `make run`, and no access log unless the caller asks for one.
        env={"GUNICORN_ACCESS_LOG": "", **env, "DJANGO_ENV_FILE": os.devnull},
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    raise RuntimeError(f"no server: {log.read().decode()}") from None
                time.sleep(0.1)
        yield proc, f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()
