"""A throwaway PostgreSQL server for the team-mode tests, on 127.0.0.1.

``postgres_server(tmp)`` runs ``initdb`` into a temp folder and ``pg_ctl start``
on a free port, as a non-root user (PostgreSQL refuses to run as root: when the
tests run as root, the server runs as the ``postgres`` system user, which the
OS package creates). ``postgres_unavailable()`` says why it cannot run here;
the tests then skip with that reason. ``.ci/run`` installs the OS package.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

SUPERUSER = "ettui"
PASSWORD = "team-secret"


def _bin_dir() -> Path | None:
    found = shutil.which("initdb")
    if found:
        return Path(os.path.realpath(found)).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(candidates[-1]).parent if candidates else None


def _run_as() -> list[str]:
    """The prefix that runs a command as a non-root user (empty when not root)."""
    if os.geteuid() != 0:
        return []
    return ["runuser", "-u", "postgres", "--"]


def postgres_unavailable() -> str | None:
    if _bin_dir() is None:
        return "PostgreSQL is not installed (no initdb; Debian's postgresql package)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no postgres user to run the server as"
        if shutil.which("runuser") is None:
            return "running as root and runuser is missing"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PostgresServer:
    """A running server: its data folder, port, and a URL without the password."""

    data: Path
    port: int
    bin_dir: Path

    @property
    def url(self) -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/postgres"

    @property
    def password(self) -> str:
        return PASSWORD

    def create_database(self, name: str) -> str:
        """A fresh database; returns its URL (no password in it)."""
        import psycopg

        with psycopg.connect(self.url, password=PASSWORD, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{name}"

    def drop_database(self, name: str) -> None:
        """Drop a database, ending any session a test left open on it."""
        import psycopg

        with psycopg.connect(self.url, password=PASSWORD, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def _ctl(self, *args: str, check: bool = True) -> None:
        subprocess.run(
            [*_run_as(), str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-w", "-t", "60", *args],
            check=check, capture_output=True, timeout=90,
        )

    def stop(self, mode: str = "fast") -> None:
        self._ctl("stop", "-m", mode, check=False)

    def start(self) -> None:
        self._ctl("start", "-l", str(self.data / "server.log"), "-o",
                  f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1 -c fsync=off")


@contextlib.contextmanager
def postgres_server(tmp: Path) -> Iterator[PostgresServer]:
    """initdb + start; stop and remove on exit."""
    bin_dir = _bin_dir()
    assert bin_dir is not None, postgres_unavailable()
    tmp.mkdir(parents=True, exist_ok=True)
    data = tmp / "pgdata"
    pwfile = tmp / "pwfile"
    pwfile.write_text(PASSWORD + "\n")
    if os.geteuid() == 0:
        entry = pwd.getpwnam("postgres")
        for path in (tmp, pwfile):
            os.chown(path, entry.pw_uid, entry.pw_gid)
        # The server user must be able to reach the temp folder.
        parent = tmp.parent
        while parent != parent.parent:
            mode = parent.stat().st_mode
            if not mode & 0o001:
                os.chmod(parent, mode | 0o001)
            parent = parent.parent
    subprocess.run(
        [*_run_as(), str(bin_dir / "initdb"), "-D", str(data), "-U", SUPERUSER, "-A", "scram-sha-256",
         f"--pwfile={pwfile}", "-E", "UTF8", "--no-locale"],
        check=True, capture_output=True, timeout=120,
    )
    server = PostgresServer(data=data, port=_free_port(), bin_dir=bin_dir)
    server.start()
    try:
        yield server
    finally:
        server.stop("immediate")
        shutil.rmtree(tmp, ignore_errors=True)
