"""A PostgreSQL server of the test's own, in a temporary folder, that a test may stop and start.

Built from the machine's initdb and pg_ctl (Debian: /usr/lib/postgresql/<version>/bin). initdb
refuses to run as root, so as root the server runs as the `postgres` OS user.
Free of Django imports, like tests/server.py.
"""

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from contextlib import contextmanager
from pathlib import Path

from tests.server import free_port


def binaries() -> Path | None:
    """The newest PostgreSQL's bin folder, or None when the machine has none."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4])
    )
    return Path(found[-1]).parent if found else None


class PostgresServer:
    def __init__(self, bin_dir: Path, folder: Path, as_user: str | None):
        self.bin_dir, self.folder, self.as_user = bin_dir, folder, as_user
        self.data = folder / "data"
        self.port = free_port()
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *command: str) -> None:
        prefix = ["runuser", "-u", self.as_user, "--"] if self.as_user else []
        subprocess.run(
            [*prefix, str(self.bin_dir / command[0]), *command[1:]],
            check=True,
            capture_output=True,
            timeout=60,
        )

    def init(self) -> None:
        self._run(
            "initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "-N"
        )

    def start(self) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        log = str(self.folder / "server.log")
        self._run("pg_ctl", "-D", str(self.data), "-l", log, "-o", options, "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        """fast: connections are cut, as when the database server goes down."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")


@contextmanager
def postgres_server():
    """Yield a started PostgresServer; None when PostgreSQL's binaries are not on the machine."""
    bin_dir = binaries()
    if bin_dir is None:
        yield None
        return
    as_user = "postgres" if os.geteuid() == 0 else None
    folder = Path(tempfile.mkdtemp(prefix="crm-pg-"))
    if as_user:
        account = pwd.getpwnam(as_user)
        os.chown(folder, account.pw_uid, account.pw_gid)
    server = PostgresServer(bin_dir, folder, as_user)
    try:
        server.init()
        server.start()
        yield server
    finally:
        try:
            server.stop("immediate")
        except subprocess.CalledProcessError:
            pass  # already stopped
        shutil.rmtree(folder, ignore_errors=True)
