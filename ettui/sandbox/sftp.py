"""The sandbox's secure drop: an asyncssh SFTP server over the drop folder.

Read-only and chrooted: clients may list, stat and read; every write, remove,
rename, mkdir, setstat or link is refused (nothing is ever written into the
remote drop). ``..`` and absolute paths are confined to the drop by asyncssh's
chroot mapping; on top of that every mapped path is resolved with
``realpath`` and refused when it lands outside the drop, so a symlink planted
inside the drop cannot lead out of it (asyncssh alone would follow it).

Password and public-key logins (an authorized_keys file) are accepted for one
user. The ed25519 host key is kept in the sandbox root so its fingerprint is
the same across restarts. ``Faults.sftp_drop_after_bytes`` aborts a
connection after it has served that many file bytes, to test resumed
downloads.
"""

from __future__ import annotations

import asyncio
import hmac
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import NoReturn

import asyncssh
from asyncssh.constants import (
    ACE4_APPEND_DATA,
    ACE4_WRITE_DATA,
    FXF_ACCESS_DISPOSITION,
    FXF_APPEND,
    FXF_CREAT,
    FXF_EXCL,
    FXF_OPEN_EXISTING,
    FXF_TRUNC,
    FXF_WRITE,
)

from ettui.sandbox.faults import Faults

HOST_KEY_NAME = "ssh_host_ed25519_key"
_WRITE_FLAGS = FXF_WRITE | FXF_APPEND | FXF_CREAT | FXF_TRUNC | FXF_EXCL


def load_host_key(root: Path) -> asyncssh.SSHKey:
    """The sandbox's ed25519 host key, created (mode 0600) on first use."""
    path = root / HOST_KEY_NAME
    if path.exists():
        return asyncssh.read_private_key(str(path))
    key = asyncssh.generate_private_key("ssh-ed25519", comment="ettui-sandbox")
    root.mkdir(parents=True, exist_ok=True)
    temp = path.with_suffix(".tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key.export_private_key())
    os.replace(temp, path)
    (root / (HOST_KEY_NAME + ".pub")).write_bytes(key.export_public_key())
    return key


def fingerprint(key: asyncssh.SSHKey) -> str:
    """``SHA256:...`` exactly as OpenSSH prints it."""
    return key.get_fingerprint("sha256")


@dataclass
class DropLimits:
    """The vendor's limits on its drop (spec §6), each a knob; changeable while running."""

    max_connections: int = 10
    """Authenticated connections one user may hold at once; the next is disconnected (0: no limit)."""
    lockout_failures: int = 3
    """Bad passwords in a row that lock the user out (0: never)."""
    lockout_seconds: float = 30 * 60
    """How long a locked user is refused, on the sandbox clock."""
    idle_close_seconds: float = 10 * 60
    """Real seconds without traffic after which the server closes a connection (0: never)."""
    connections: dict[str, int] = field(default_factory=dict)
    """Open authenticated connections per user (what the limit counts)."""
    failures: dict[str, int] = field(default_factory=dict)
    locked_until: dict[str, datetime] = field(default_factory=dict)
    refused_connections: int = 0
    """How many connections were turned away for the limit (tests read it)."""


class _DropLogin(asyncssh.SSHServer):
    """Password and (optional) authorized-keys login for the one drop user, within the drop's limits."""

    def __init__(
        self,
        username: str,
        password: str,
        authorized_keys: Path | None,
        limits: DropLimits,
        now: Callable[[], datetime],
    ) -> None:
        self._username = username
        self._password = password
        self._authorized_keys = authorized_keys
        self._limits = limits
        self._now = now
        self._conn: asyncssh.SSHServerConnection | None = None
        self._counted: str | None = None

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self._conn = conn
        self._watch_idle(conn)

    def _watch_idle(self, conn: asyncssh.SSHServerConnection) -> None:
        """Close the connection after ``idle_close_seconds`` without a byte from the client.

        The installed asyncssh has no server idle timeout, so the protocol's
        ``data_received`` is wrapped to note the time of each arrival.
        """
        loop = asyncio.get_running_loop()
        last = [loop.time()]
        received = conn.data_received

        def data_received(data: bytes) -> None:
            last[0] = loop.time()
            received(data)

        conn.data_received = data_received  # type: ignore[method-assign,assignment]

        async def watch() -> None:
            while not conn.is_closed():
                idle = self._limits.idle_close_seconds
                if not idle:
                    await asyncio.sleep(1.0)
                    continue
                left = last[0] + idle - loop.time()
                if left <= 0:
                    conn.disconnect(asyncssh.DISC_BY_APPLICATION, f"Idle for {idle:g} seconds")
                    return
                await asyncio.sleep(left)

        self._idle_task = loop.create_task(watch())

    def connection_lost(self, exc: Exception | None) -> None:
        task = getattr(self, "_idle_task", None)
        if task is not None:
            task.cancel()
        user, self._counted = self._counted, None
        if user is not None:
            self._limits.connections[user] = max(0, self._limits.connections.get(user, 1) - 1)

    def _locked(self, username: str) -> bool:
        until = self._limits.locked_until.get(username)
        if until is None:
            return False
        if self._now() >= until:
            del self._limits.locked_until[username]
            return False
        return True

    def auth_completed(self) -> None:
        conn, limits = self._conn, self._limits
        if conn is None:
            return
        user = conn.get_extra_info("username") or ""
        if limits.max_connections and limits.connections.get(user, 0) >= limits.max_connections:
            limits.refused_connections += 1
            conn.disconnect(
                asyncssh.DISC_TOO_MANY_CONNECTIONS,
                f"Too many connections: at most {limits.max_connections} per user",
            )
            return
        limits.connections[user] = limits.connections.get(user, 0) + 1
        self._counted = user

    def begin_auth(self, username: str) -> bool:
        if self._locked(username):
            return True  # no keys offered to a locked user: validate_public_key refuses
        # Read the keys file per login so a test (or a user) can change it while running.
        if (self._conn is not None and self._authorized_keys is not None
                and self._authorized_keys.exists() and username == self._username):
            self._conn.set_authorized_keys(str(self._authorized_keys))
        return True

    def password_auth_supported(self) -> bool:
        return True

    def validate_password(self, username: str, password: str) -> bool:
        if self._locked(username):
            return False  # a locked user is refused whatever the password, and the lock is not extended
        user_ok = hmac.compare_digest(username.encode(), self._username.encode())
        password_ok = hmac.compare_digest(password.encode(), self._password.encode())
        limits = self._limits
        if user_ok and password_ok:
            limits.failures.pop(username, None)
            return True
        failures = limits.failures.get(username, 0) + 1
        limits.failures[username] = failures
        if limits.lockout_failures and failures >= limits.lockout_failures:
            limits.failures.pop(username, None)
            limits.locked_until[username] = self._now() + timedelta(seconds=limits.lockout_seconds)
        return False

    def public_key_auth_supported(self) -> bool:
        return self._authorized_keys is not None


class DropSFTPServer(asyncssh.SFTPServer):
    """A read-only, chrooted view of the drop with a dropped-connection fault."""

    def __init__(self, chan: asyncssh.SSHServerChannel[bytes], drop_dir: Path, faults: Faults) -> None:
        super().__init__(chan, chroot=os.fsencode(drop_dir))
        self._root = os.fsencode(os.path.realpath(drop_dir))
        self._faults = faults
        self._served = 0

    # ---------------------------------------------------------- confinement

    def map_path(self, path: bytes) -> bytes:
        local = super().map_path(path)
        real = os.path.realpath(local)
        if real != self._root and not real.startswith(self._root + b"/"):
            # A symlink inside the drop that points outside it.
            raise asyncssh.SFTPPermissionDenied("Path leads outside the drop")
        return local

    # ---------------------------------------------------------- read-only

    def open(self, path: bytes, pflags: int, attrs: asyncssh.SFTPAttrs) -> object:
        if pflags & _WRITE_FLAGS:
            raise asyncssh.SFTPPermissionDenied("The drop is read-only")
        return super().open(path, pflags, attrs)

    def open56(self, path: bytes, desired_access: int, flags: int, attrs: asyncssh.SFTPAttrs) -> object:
        if desired_access & (ACE4_WRITE_DATA | ACE4_APPEND_DATA) or \
                (flags & FXF_ACCESS_DISPOSITION) != FXF_OPEN_EXISTING:
            raise asyncssh.SFTPPermissionDenied("The drop is read-only")
        return super().open56(path, desired_access, flags, attrs)

    def _refuse(self, *_args: object, **_kwargs: object) -> NoReturn:
        raise asyncssh.SFTPPermissionDenied("The drop is read-only")

    write = _refuse
    remove = _refuse
    rename = _refuse
    posix_rename = _refuse
    mkdir = _refuse
    rmdir = _refuse
    setstat = _refuse
    lsetstat = _refuse
    fsetstat = _refuse
    symlink = _refuse
    link = _refuse

    # ---------------------------------------------------------- fault

    def read(self, file_obj: object, offset: int, size: int) -> bytes:
        limit = self._faults.sftp_drop_after_bytes
        if limit is not None:
            left = limit - self._served
            if left <= 0:
                self._drop_connection()
                raise asyncssh.SFTPConnectionLost("Connection dropped by fault injection")
            size = min(size, left)
        data = super().read(file_obj, offset, size)
        assert isinstance(data, bytes)
        self._served += len(data)
        return data

    def _drop_connection(self) -> None:
        if self._faults.sftp_drop_once:
            self._faults.sftp_drop_after_bytes = None
        self.connection.abort()


async def start_sftp_server(
    *,
    host: str,
    port: int,
    drop_dir: Path,
    host_key: asyncssh.SSHKey,
    username: str,
    password: str,
    authorized_keys: Path | None,
    faults: Faults,
    limits: DropLimits | None = None,
    now: Callable[[], datetime] | None = None,
) -> asyncssh.SSHAcceptor:
    """Listen on ``host:port`` (0: any free port) and serve the drop over SFTP only.

    ``limits`` are the vendor's (10 connections per user, lockout after 3 bad
    passwords for 30 minutes on ``now``'s clock, idle close after 10 minutes).
    """
    limits = limits or DropLimits()
    clock = now or (lambda: datetime.now().astimezone())
    return await asyncssh.listen(
        host,
        port,
        server_host_keys=[host_key],
        server_factory=lambda: _DropLogin(username, password, authorized_keys, limits, clock),
        sftp_factory=lambda chan: DropSFTPServer(chan, drop_dir, faults),
        allow_scp=False,
        login_timeout=60,
        keepalive_interval=0,
    )


def bound_port(acceptor: asyncssh.SSHAcceptor) -> int:
    """The port the server actually listens on (when asked for port 0)."""
    return int(acceptor.sockets[0].getsockname()[1])


__all__ = ["DropLimits", "DropSFTPServer", "bound_port", "fingerprint", "load_host_key", "start_sftp_server"]
