"""A private PostgreSQL cluster for tests: temp folder, free loopback port, stopped afterwards.

Uses Debian's `postgresql` binaries (initdb / pg_ctl from /usr/lib/postgresql/<ver>/bin or the
PATH). initdb refuses to run as root, so as root the cluster belongs to the `postgres` user and
every server command runs through `runuser`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = ["PostgresServer", "find_bin", "postgres_server"]


def find_bin(name: str) -> Path | None:
    """The newest installed PostgreSQL's ``name`` binary, or None."""
    found = sorted(
        Path("/usr/lib/postgresql").glob(f"*/bin/{name}"),
        key=lambda p: int(p.parts[-3]) if p.parts[-3].isdigit() else 0,
    )
    if found:
        return found[-1]
    which = shutil.which(name)
    return Path(which) if which else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    """One running cluster; ``url(db)`` gives a psycopg 3 SQLAlchemy URL."""

    user = "nas"

    def __init__(self, root: Path) -> None:
        self.root, self.data, self.port = root, root / "data", _free_port()
        self.initdb, self.pg_ctl = find_bin("initdb"), find_bin("pg_ctl")
        if self.initdb is None or self.pg_ctl is None:
            raise FileNotFoundError("PostgreSQL server binaries (initdb, pg_ctl) not installed")
        self.prefix: list[str] = []
        if os.geteuid() == 0:  # initdb refuses root: the cluster belongs to `postgres`
            shutil.chown(root, "postgres", "postgres")
            self.prefix = ["runuser", "-u", "postgres", "--"]

    def _run(self, *cmd: str | Path) -> None:
        subprocess.run(
            [*self.prefix, *map(str, cmd)],
            check=True,
            capture_output=True,
            text=True,
            timeout=120,
            cwd=self.root,
        )

    def start(self) -> None:
        self._run(self.initdb, "-D", self.data, "-U", self.user, "-A", "trust", "-E", "UTF8")
        opts = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -c unix_socket_directories='' "
            "-c fsync=off -c synchronous_commit=off -c max_connections=200"
        )
        self._run(self.pg_ctl, "-D", self.data, "-l", self.root / "log", "-w", "-o", opts, "start")

    def stop(self) -> None:
        with contextlib.suppress(subprocess.SubprocessError):
            self._run(self.pg_ctl, "-D", self.data, "-m", "immediate", "-w", "stop")

    def url(self, db: str = "postgres") -> str:
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/{db}"

    def create_database(self, name: str) -> str:
        """A fresh, empty database; returns its URL."""
        import psycopg

        with psycopg.connect(
            host="127.0.0.1", port=self.port, user=self.user, dbname="postgres", autocommit=True
        ) as con:
            con.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


@contextlib.contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    """Start a private cluster in a temp folder (under /tmp, reachable by `postgres`)."""
    root = Path(tempfile.mkdtemp(prefix="nas-pg-"))
    try:
        server = PostgresServer(root)
        server.start()
        try:
            yield server
        finally:
            server.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)
