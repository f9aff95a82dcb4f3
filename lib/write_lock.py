"""SQLite's writers in turn, waiting in the kernel instead of in SQLite's busy handler.

SQLite has one writer at a time. A writer that finds the lock taken is retried by SQLite's
busy handler, which sleeps between tries in growing steps (1, 2, 5, 10 … up to 100 ms), so a
burst of writers wastes most of each handover asleep: throughput drops and the slowest wait
grows to hundreds of milliseconds. Taking an exclusive flock() on a file beside the database
first (and a thread lock, since flock() is per open file, not per thread) queues the writers
of every process on this machine in the kernel, which wakes the next one the moment the
previous lets go. Writers that do not take it (the admin, commands) still meet SQLite's own
lock, which alone keeps the data right; this only orders the ones that do.
"""

import fcntl
import os
import threading
from contextlib import contextmanager

_files: dict[str, int] = {}
_threads: dict[str, threading.Lock] = {}
_setup = threading.Lock()


def _lock_for(path: str) -> tuple[int, threading.Lock]:
    with _setup:
        if path not in _files:
            _files[path] = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
            _threads[path] = threading.Lock()
        return _files[path], _threads[path]


@contextmanager
def one_writer_at_a_time(connection):
    """Around a write transaction on `connection`: on a SQLite file, the writers that use it
    take turns; on any other database (or SQLite in memory) nothing happens. Nor inside a
    transaction already open: it may hold SQLite's lock while the turn is another's."""
    name = str(connection.settings_dict["NAME"])
    if (
        connection.vendor != "sqlite"
        or connection.in_atomic_block
        or ":memory:" in name
        or "mode=memory" in name
    ):
        yield
        return
    fd, in_process = _lock_for(f"{name}-writers.lock")
    with in_process:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
