"""The drop-transport interface: what ``fetch`` and ``Session`` need from a drop.

Two transports implement it: SFTP (:class:`ettui.drop.client.DropClient`,
asyncssh) and FTPS (:class:`ettui.drop.ftps.FtpsClient`, explicit TLS). Both
are read-only by construction. Every transport raises the same errors (defined
in :mod:`ettui.errors`, re-exported here), so callers catch one family whatever
the protocol:

* ``DropConnectionLost``: the connection broke mid-operation (retry with a new one);
* ``DropUnreachable``: the drop could not be reached at all;
* ``RemoteFileMissing``: the file or folder is not on the drop;
* ``LocalWriteError``: the local copy could not be written;
* :class:`~ettui.errors.ServerIdentityUnknown` / ``ServerIdentityChanged``
  from ``connect``: the server's host key or certificate is not trusted.

Whether an exception is worth a retry is the transport's call
(``is_transient``): a TLS or certificate failure is an ``OSError`` too, yet
retrying it only repeats the refusal.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol, runtime_checkable

from ettui.drop.progress import ProgressCallback
from ettui.errors import DropConnectionLost, DropStalled, DropUnreachable, LocalWriteError, LoginRefused, RemoteFileMissing

__all__ = [
    "REFUSED_LOGINS",
    "Digest",
    "DropConnectionLost",
    "DropStalled",
    "DropTransport",
    "DropUnreachable",
    "LocalWriteError",
    "LoginRefused",
    "RemoteEntry",
    "RemoteFileMissing",
    "allow_login_again",
]


class Digest(Protocol):
    """What ``download`` feeds the bytes to, in file order (``hashlib.sha256()`` is one).

    It must not keep ``data`` (a view of a buffer that holds later bytes once ``update`` returns).
    """

    def update(self, data: bytes | memoryview, /) -> None: ...


REFUSED_LOGINS: dict[tuple[str, int, str, str], str] = {}
"""Logins a drop refused in this process (host, port, user, credential hash) and the sentence said.

Shared by every transport: a refused password is never offered again by any
client of this process (the vendor locks the user for 30 minutes after
repeated failures) until :func:`allow_login_again`.
"""


def allow_login_again(host: str, port: int, username: str) -> None:
    """Forget refused logins to ``username@host:port`` in this process: the operator's explicit "try again".

    Until this is called (or the credentials change), a client never offers
    credentials the drop refused, so a UI retrying in the background cannot
    walk the account into the vendor's 30-minute lockout.
    """
    for key in [k for k in REFUSED_LOGINS if k[:3] == (host, port, username)]:
        del REFUSED_LOGINS[key]


@dataclass(frozen=True)
class RemoteEntry:
    """One entry of a remote folder, as the drop reports it."""

    name: str
    path: str
    size: int
    mtime: datetime
    """Modification time, timezone-aware UTC."""
    is_dir: bool


@runtime_checkable
class DropTransport(Protocol):
    """One read-only session on a drop, over whichever protocol the profile names.

    ``connect`` is idempotent and reconnects after a break; it checks the
    server's identity (SSH host key, TLS certificate) and raises
    :class:`~ettui.errors.ServerIdentityUnknown` for one never seen (trust on
    first use: set ``accept_fingerprint`` to that fingerprint and connect
    again) or :class:`~ettui.errors.ServerIdentityChanged` for one that differs
    from the trusted one (never accepted).
    """

    host: str
    port: int
    accept_fingerprint: str | None
    """An unknown identity with exactly this ``SHA256:...`` fingerprint is accepted for this client."""

    @property
    def where(self) -> str:
        """``user@host:port`` for messages."""
        ...

    @property
    def connected(self) -> bool:
        """True while the connection is up (a broken one reads False)."""
        ...

    async def connect(self) -> None:
        """Connect, check the server's identity and log in; a no-op when connected."""
        ...

    async def list(self, folder: str) -> list[RemoteEntry]:
        """The files and folders in ``folder`` (no ``.``/``..``), sorted by name."""
        ...

    async def stat(self, path: str) -> RemoteEntry:
        """Size, mtime and type of one remote path; ``RemoteFileMissing`` when absent."""
        ...

    async def download(
        self,
        remote_path: str,
        local_part: Path,
        *,
        offset: int = 0,
        progress: ProgressCallback | None = None,
        digest: Digest | None = None,
        size: int | None = None,
    ) -> None:
        """Copy ``remote_path`` from ``offset`` to its end into ``local_part`` at the same offset.

        After any break ``local_part`` is an exact prefix of the remote file, so
        its size is the next resume offset. ``digest`` is fed every byte written,
        in file order (the caller fed it the existing prefix); ``size`` is the
        remote size when the caller already knows it (saves a round trip).
        """
        ...

    async def close(self) -> None:
        """Close the connection; safe to call twice."""
        ...

    def is_transient(self, exc: BaseException) -> bool:
        """True when ``exc`` is a broken connection a new connection may cure."""
        ...
