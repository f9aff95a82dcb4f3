"""Callbacks the database could not take, kept on local disk until it can.

A callback is answered 200 only once its raw request is durable: in the database, or here.
Each spooled callback is one file, written under a temporary name, fsynced, then renamed
into place (and the folder fsynced), so a crash leaves either the whole record or none.

Draining is exactly once: a record carries a UUID that is stored with its event, in the
same transaction, in a unique column (CallbackEvent.spool_id); the file is removed after
the commit. A process that dies between the two leaves a file whose id is already stored,
and the next drain just removes it. One drain at a time per spool (a file lock).
"""

import base64
import fcntl
import json
import logging
import os
import shutil
import threading
import time
import uuid
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError, connections
from django.utils import timezone

from callbacks.models import CallbackEvent, Endpoint
from callbacks.processing import process, reject

logger = logging.getLogger(__name__)

SUFFIX = ".json"
# Records that cannot be stored even with the database up (their endpoint is gone, or the
# database refuses them): set aside for a person, never retried in a loop, never deleted.
HELD = "held"


def spool_dir() -> Path:
    return Path(settings.CALLBACK_SPOOL_DIR)


class SpoolFull(OSError):
    """The spool's disk is down to its reserve: the sender is asked to retry instead."""


def write(event: CallbackEvent, token: str, unreadable: str = "") -> Path:
    """Make the raw callback durable on local disk. Raises OSError when it cannot.

    `unreadable`: why its body could not be read whole; it is then stored as rejected.
    """
    folder = spool_dir()
    (folder / "tmp").mkdir(parents=True, exist_ok=True)
    # A long outage must not fill the disk the server (and often the database) needs: past
    # the reserve the sender keeps the callback and retries (503), which loses nothing.
    if shutil.disk_usage(folder).free < settings.CALLBACK_SPOOL_MIN_FREE_MB * 1024 * 1024:
        raise SpoolFull(f"less than {settings.CALLBACK_SPOOL_MIN_FREE_MB} MB free for the spool")
    spool_id = uuid.uuid4()
    now = timezone.now()
    record = {
        "spool_id": str(spool_id),
        "token": token,
        "kind": event.kind,
        "method": event.method,
        "query_string": event.query_string,
        "body": event.body,
        "body_raw": None if event.body_raw is None else base64.b64encode(event.body_raw).decode(),
        "content_type": event.content_type,
        "remote_addr": event.remote_addr,
        "received_at": event.received_at.isoformat(),
        "spooled_at": now.isoformat(),
        "unreadable": unreadable,
    }
    # Named by arrival time, so a drain stores callbacks in the order they came.
    name = f"{event.received_at.timestamp():017.6f}-{spool_id}{SUFFIX}"
    tmp, final = folder / "tmp" / name, folder / name
    with open(tmp, "x", encoding="utf-8") as f:
        json.dump(record, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, final)
    _fsync_dir(folder)
    _note_spooled()
    return final


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def pending() -> list[Path]:
    """The spooled records waiting, oldest first."""
    try:
        return sorted(p for p in spool_dir().iterdir() if p.name.endswith(SUFFIX))
    except FileNotFoundError:
        return []


def has_pending() -> bool:
    try:
        with os.scandir(spool_dir()) as entries:
            return any(entry.name.endswith(SUFFIX) for entry in entries)
    except FileNotFoundError:
        return False


def event_from(record: dict) -> CallbackEvent:
    body_raw = record["body_raw"]
    received_at = datetime.fromisoformat(record["received_at"])
    # The token as it was when the callback arrived: a rotated one may have expired since.
    endpoint = Endpoint.objects.for_token(record["token"], at=received_at)
    if endpoint is None:
        raise Endpoint.DoesNotExist
    return CallbackEvent(
        endpoint=endpoint,
        kind=record["kind"],
        method=record["method"],
        query_string=record["query_string"],
        body=record["body"],
        body_raw=None if body_raw is None else base64.b64decode(body_raw),
        content_type=record["content_type"],
        remote_addr=record["remote_addr"],
        received_at=received_at,
        spool_id=uuid.UUID(record["spool_id"]),
        spooled_at=datetime.fromisoformat(record["spooled_at"]),
    )


@contextmanager
def _drain_lock():
    """True inside when this process holds the spool's drain lock, False if another does."""
    folder = spool_dir()
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".drain.lock", "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def drain() -> dict[str, int] | None:
    """Store every spooled callback once; None when another process is draining.

    Stops at the first sign that the database is unavailable again; what is left waits for
    the next drain. Returns counts: stored (by outcome), already stored, held.
    """
    counts: dict[str, int] = {}
    with _drain_lock() as locked:
        if not locked:
            return None
        for path in pending():
            try:
                outcome = _drain_one(path)
            except (OperationalError, InterfaceError):
                logger.warning("spool drain stopped: the database is unavailable", exc_info=True)
                break
            counts[outcome] = counts.get(outcome, 0) + 1
    return counts


def _drain_one(path: Path) -> str:
    record = json.loads(path.read_text(encoding="utf-8"))
    if CallbackEvent.objects.filter(spool_id=record["spool_id"]).exists():
        # Stored by a drain that died before removing the file.
        path.unlink()
        return "already stored"
    try:
        event = event_from(record)
        if record.get("unreadable"):
            reject(event, record["unreadable"])
        else:
            process(event)
    except Endpoint.DoesNotExist:
        return _hold(path, "no enabled endpoint had its token when it arrived")
    except (OperationalError, InterfaceError):
        raise
    except DatabaseError as e:
        return _hold(path, f"{type(e).__name__}: {e}")
    path.unlink()
    return event.outcome


def _hold(path: Path, reason: str) -> str:
    held = path.parent / HELD
    held.mkdir(exist_ok=True)
    os.replace(path, held / path.name)
    logger.error("spooled callback %s held in %s: %s", path.name, held, reason)
    return "held"


# Draining without anyone asking. A process that spooled something keeps a watcher thread
# that tries to drain every CHECK_EVERY seconds until the spool is empty, so a callback
# spooled on a stale connection just after the database came back does not wait for the
# next one. And after any callback reached the database, a process looks at the spool at
# most every CHECK_EVERY seconds, which finds what a dead process left.
CHECK_EVERY = 5.0
_lock = threading.Lock()
_next_check = 0.0
_drainer: threading.Thread | None = None
_watcher: threading.Thread | None = None


def _note_spooled() -> None:
    global _next_check, _watcher
    _next_check = 0.0
    with _lock:
        if _watcher is None or not _watcher.is_alive():
            _watcher = threading.Thread(target=_watch, name="spool-watch", daemon=True)
            _watcher.start()


def _watch() -> None:
    while True:
        time.sleep(CHECK_EVERY)
        _drain_in_thread()
        if not has_pending():
            return


def drain_soon() -> None:
    """Call once the database has taken a callback: drain the spool if anything waits."""
    global _next_check, _drainer
    now = time.monotonic()
    if now < _next_check:
        return
    with _lock:
        if now < _next_check or (_drainer is not None and _drainer.is_alive()):
            return
        _next_check = now + CHECK_EVERY
        if not has_pending():
            return
        _drainer = threading.Thread(target=_drain_in_thread, name="spool-drain", daemon=True)
        _drainer.start()


def _drain_in_thread() -> None:
    try:
        counts = drain()
        if counts:
            logger.info("spool drained: %s", counts)
    except Exception:
        logger.exception("spool drain failed")
    finally:
        # The thread's own database connection.
        connections.close_all()
