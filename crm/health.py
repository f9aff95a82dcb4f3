"""/healthz and /readyz for load balancers and process supervisors.

Answered by a middleware placed first, before host checks, HTTPS redirects, sessions and
logins: a probe calls the node by its address over plain HTTP, and needs no data back.
"""

import json

from django.db import DatabaseError, connection
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpResponse

from callbacks import spool

# Migrations, once all applied, stay applied for the life of the process.
_migrated = False


def database_checks() -> dict:
    """Can we query the database, and is its schema the one this code expects?"""
    global _migrated
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError:
        return {"database": "unreachable"}
    if not _migrated:
        executor = MigrationExecutor(connection)
        pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
        if pending:
            return {"database": "ok", "migrations": f"{len(pending)} not applied"}
        _migrated = True
    return {"database": "ok", "migrations": "ok"}


def spool_backlog() -> int | None:
    """Callbacks waiting in the local spool for the database, if this node has a spool."""
    if not spool.spool_dir().is_dir():
        return None
    return len(spool.pending())


def readiness() -> tuple[bool, dict]:
    checks = database_checks()
    ready = checks == {"database": "ok", "migrations": "ok"}
    backlog = spool_backlog()
    if backlog is not None:
        # Reported, not failed on: a node with a backlog still takes callbacks (it spools).
        checks["spool_backlog"] = backlog
    return ready, checks


def answer(status: int, body: dict) -> HttpResponse:
    response = HttpResponse(json.dumps(body), status=status, content_type="application/json")
    response["Cache-Control"] = "no-store"
    return response


class HealthCheckMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path == "/healthz":
            return answer(200, {"status": "ok"})
        if request.path == "/readyz":
            ready, checks = readiness()
            return answer(
                200 if ready else 503, {"status": "ok" if ready else "unavailable", **checks}
            )
        return self.get_response(request)
