"""The SFTP drop client: connect with strict host keys, list, stat, download.

One ``DropClient`` wraps one asyncssh connection and its SFTP session. It only
ever *reads* from the remote side: no call here writes, renames or removes a
remote file, so a bug can never damage the vendor's drop.

By concern: ``sftp_login`` (the settings and the TCP dial, no asyncssh),
``sftp_connect`` (host keys, the one login attempt),
``sftp_listing`` (folders), ``sftp_download`` (the pipelined transfer and its
sizing), ``localfile`` (the ``.part`` file), ``waits`` (bounded waits). This
module holds the connection's life (budget slot, idle reopen, close) and the
``stat`` whose ``open`` travels with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from ettui.drop.budget import ConnectionBudget, Slot
from ettui.drop.localfile import is_own_file, local_error
from ettui.drop.progress import ProgressCallback, ProgressMeter
from ettui.drop.sftp_download import BLOCK_SIZE, MAX_IN_FLIGHT, MAX_REQUESTS, WINDOW, TransferPlan, plan_transfer
from ettui.drop.sftp_download import download as _download
from ettui.drop.sftp_login import SshLogin, dial
from ettui.drop.transport import (
    REFUSED_LOGINS,
    Digest,
    DropConnectionLost,
    DropStalled,
    DropUnreachable,
    LocalWriteError,
    LoginRefused,
    RemoteEntry,
    RemoteFileMissing,
    allow_login_again,
)
from ettui.drop.waits import bounded
from ettui.errors import DropError

if TYPE_CHECKING:
    from ettui.drop._asyncssh_import import asyncssh
    from ettui.drop.hostkeys import fingerprint, trust_host_key
    from ettui.drop.sftp_connect import is_connection_error
else:

    def __getattr__(name: str) -> object:
        # Re-exported lazily: importing this module must not import asyncssh (see ``connect``).
        if name in ("fingerprint", "trust_host_key"):
            from ettui.drop import _asyncssh_import, hostkeys  # noqa: F401 - asyncssh through its quick import

            return getattr(hostkeys, name)
        if name == "is_connection_error":
            from ettui.drop import sftp_connect

            return sftp_connect.is_connection_error
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


T = TypeVar("T")

GCM_FIRST: tuple[str, ...] = (
    "aes128-gcm@openssh.com",
    "aes256-gcm@openssh.com",
    "chacha20-poly1305@openssh.com",
    "aes128-ctr",
    "aes192-ctr",
    "aes256-ctr",
)
"""Cipher preference: AES-GCM first.

Measured in ``bench/download.py``: asyncssh's default puts chacha20-poly1305
first, which runs in pure-Python glue around the cipher and roughly halves
throughput against AES-GCM (hardware AES via ``cryptography``)."""

MAX_PKTSIZE = 256 * 1024
"""Channel packet size we accept: fewer, bigger packets cost less Python per byte."""

__all__ = [
    "BLOCK_SIZE",
    "GCM_FIRST",
    "MAX_IN_FLIGHT",
    "MAX_PKTSIZE",
    "MAX_REQUESTS",
    "WINDOW",
    "Digest",
    "DropClient",
    "DropConnectionLost",
    "DropStalled",
    "DropUnreachable",
    "LocalWriteError",
    "LoginRefused",
    "ProgressMeter",
    "RemoteEntry",
    "RemoteFileMissing",
    "TransferPlan",
    "allow_login_again",
    "fingerprint",
    "is_connection_error",
    "is_own_file",
    "local_error",
    "plan_transfer",
    "trust_host_key",
]


class DropClient:
    """An SFTP session on the drop. Read-only by construction.

    Authenticates by ``password``, else ``key_file``, else the ssh-agent (and the
    user's default keys). ``accept_fingerprint`` lets one connection proceed with
    an unknown host key whose fingerprint matches (the "connect once" choice).
    """

    def __init__(
        self,
        host: str,
        port: int,
        username: str,
        *,
        password: str | None = None,
        key_file: str | None = None,
        known_hosts: Path,
        accept_fingerprint: str | None = None,
        connect_timeout: float = 10.0,
        encryption_algs: Sequence[str] | None = GCM_FIRST,
        block_size: int = BLOCK_SIZE,
        max_requests: int = MAX_REQUESTS,
        window: int = WINDOW,
        max_pktsize: int = MAX_PKTSIZE,
        stall_timeout: float | None = 60.0,
        idle_reopen: float | None = 540.0,
        keepalive_interval: float = 0.0,
        max_connections: int | None = None,
        budget: ConnectionBudget | None = None,
        max_segments: int = 1,
    ) -> None:
        self.host = host
        self.port = port
        self.username = username
        self._password = password
        self._key_file = key_file
        self.known_hosts = Path(known_hosts)
        self.accept_fingerprint = accept_fingerprint
        self.connect_timeout = connect_timeout
        self.encryption_algs = encryption_algs
        """Cipher preference; ``None`` keeps asyncssh's default order."""
        self.block_size = block_size
        self.max_requests = max_requests
        self.window = window
        self.max_pktsize = max_pktsize
        self.stall_timeout = stall_timeout
        """Seconds without a byte (or a reply) before the connection counts as dead; None: wait forever."""
        if budget is None and max_connections is not None:
            budget = ConnectionBudget(host, username, max_connections)
        self.budget = budget
        """The cross-process connection budget of this account; a slot is held while connected."""
        self.max_segments = max_segments
        """Connections one download may use on a slow path (1, the default: never split; see ``segments``).

        Off by default: on this 2-core machine the whole command measured no
        gain from 2 (the fork, a second login and the append eat what the
        second stream adds; docs/benchmarks.md)."""
        self.last_split: tuple[int, str] | None = None
        """Where the last download split and how its worker ended (for tests and the benchmark)."""
        self.idle_reopen = idle_reopen
        """Seconds of idleness after which the connection is replaced before use (the drop closes at 600)."""
        self.keepalive_interval = keepalive_interval
        """SSH keepalive requests every this many seconds while connected (0: none)."""
        self._last_used = time.monotonic()
        self._slot: Slot | None = None
        self._background: set[asyncio.Future[None]] = set()
        self.last_plan: TransferPlan | None = None
        """How the last download was sized (for the progress line and the benchmark)."""
        self._conn: asyncssh.SSHClientConnection | None = None
        self.last_cipher: str | None = None
        """The cipher of the last closed connection (the benchmark reports it)."""
        self._sftp: asyncssh.SFTPClient | None = None
        self._limits: asyncio.Future[None] | None = None
        self._spare: tuple[str, asyncio.Future[asyncssh.SFTPClientFile]] | None = None
        """An open of the path last stat'ed, sent with the stat (path, the open)."""
        self._spare_rtt: float | None = None

    @property
    def where(self) -> str:
        """``user@host:port`` for messages."""
        return f"{self.username}@{self.host}:{self.port}"

    @property
    def connected(self) -> bool:
        """True while the SSH connection is up (a broken one reads False)."""
        conn = self._conn
        return conn is not None and not conn.is_closed()

    @property
    def connection(self) -> asyncssh.SSHClientConnection | None:
        """The SSH connection now in use (None before connecting and after closing); a new one after a reconnect."""
        return self._conn

    @property
    def cipher(self) -> str | None:
        """The negotiated cipher, for the benchmark and diagnostics."""
        return None if self._conn is None else self._conn.get_extra_info("send_cipher")

    # -- lifecycle -----------------------------------------------------------

    def _login(self) -> SshLogin:
        return SshLogin(
            host=self.host, port=self.port, username=self.username, password=self._password, key_file=self._key_file,
            known_hosts=self.known_hosts, accept_fingerprint=self.accept_fingerprint,
            connect_timeout=self.connect_timeout, encryption_algs=self.encryption_algs, window=self.window,
            max_pktsize=self.max_pktsize, keepalive_interval=self.keepalive_interval,
        )

    async def connect(self) -> None:
        """Connect and start SFTP; reconnects if the previous connection broke.

        Raises ``HostKeyUnknown``, ``HostKeyChanged``, or ``DropError`` with one
        sentence for a refused login, a refused connection or a timeout.
        """
        if self.connected and self._sftp is not None:
            return
        await self.close()
        refused = REFUSED_LOGINS.get(self._login().credential_key())
        if refused is not None:
            # Never a second try with credentials the drop refused: the vendor
            # locks the user for 30 minutes after repeated failures.
            raise LoginRefused(refused)
        if self.budget is not None:
            self._slot = await self.budget.acquire()
        try:
            await self._connect()
        except BaseException:
            self._release_slot()
            raise

    async def _connect(self) -> None:
        # The TCP connection (and the server's start) runs in a thread while
        # this process imports asyncssh, the largest import of a fetch.
        # run_in_executor, not to_thread: the dial must start now, not when this coroutine next yields.
        dialing = asyncio.get_running_loop().run_in_executor(None, dial, self.host, self.port, self.connect_timeout)
        try:
            from ettui.drop._asyncssh_import import asyncssh
            from ettui.drop._fast_start import start_sftp
            from ettui.drop.sftp_connect import open_ssh, reason

            conn = await open_ssh(self._login(), dialing)
        except BaseException:
            dialing.add_done_callback(_close_unused)
            raise
        try:
            # The server's limits arrive with the next replies: nothing waits for them here.
            self._sftp, limits = await bounded(start_sftp(conn), self.stall_timeout, "starting SFTP",
                                               host=self.host, port=self.port, on_stall=conn.abort)
        except (OSError, asyncssh.Error) as exc:
            conn.close()
            raise DropUnreachable(f"The drop at {self.host}:{self.port} did not start an SFTP session: {reason(exc)}.") from None
        limits.add_done_callback(_retrieve)
        self._limits = limits
        self._conn = conn
        self._last_used = time.monotonic()

    def _release_slot(self) -> None:
        slot, self._slot = self._slot, None
        if slot is not None:
            slot.release()

    async def close(self) -> None:
        """Close the SFTP session and the connection; safe to call twice."""
        self._drop_spare()
        sftp, conn = self._sftp, self._conn
        self._sftp = self._conn = None
        self._limits = None
        if conn is not None:
            self.last_cipher = conn.get_extra_info("send_cipher")
        if sftp is not None:
            sftp.exit()
        if conn is not None:
            from ettui.drop._asyncssh_import import asyncssh

            conn.close()
            try:
                # A dead peer never acknowledges: do not wait for it.
                await asyncio.wait_for(conn.wait_closed(), 2.0)
            except (OSError, asyncssh.Error, TimeoutError):
                conn.abort()
        self._release_slot()

    async def __aenter__(self) -> DropClient:
        await self.connect()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def bounded(self, step: Awaitable[T], what: str) -> T:
        """Await one request, treating ``stall_timeout`` seconds of silence as a dead connection."""
        return await bounded(step, self.stall_timeout, what, host=self.host, port=self.port, on_stall=self._abort)

    def _abort(self) -> None:
        if self._conn is not None:
            self._conn.abort()

    async def _ready(self) -> asyncssh.SFTPClient:
        """The SFTP session, reopened transparently after an idle close.

        The vendor closes connections idle for 10 minutes. One idle longer than
        ``idle_reopen`` is replaced before use (the server may be closing it right
        now); one the server already closed is reopened. Only a connection that
        was open once is reopened: a first connect is the caller's.
        """
        idle = time.monotonic() - self._last_used
        if self._sftp is not None and (not self.connected or (self.idle_reopen is not None and idle > self.idle_reopen)):
            await self.close()
            await self.connect()
        if self._sftp is None or not self.connected:
            raise DropConnectionLost(f"The connection to the drop at {self.host}:{self.port} is not open.")
        self._last_used = time.monotonic()
        return self._sftp

    def is_transient(self, exc: BaseException) -> bool:
        """A broken SSH connection (see ``is_connection_error``) is worth a new connection."""
        from ettui.drop.sftp_connect import is_connection_error

        return is_connection_error(exc)

    def background(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` without waiting for it (its errors are retrieved and dropped)."""
        task = asyncio.ensure_future(work)
        self._background.add(task)
        task.add_done_callback(_forget_task(self._background))

    # -- reading -------------------------------------------------------------

    async def list(self, folder: str) -> list[RemoteEntry]:
        """The entries of a remote folder (without ``.`` and ``..``), sorted by name."""
        from ettui.drop.sftp_listing import list_folder

        return await list_folder(self, await self._ready(), folder)

    async def stat(self, path: str) -> RemoteEntry:
        """Size, mtime and type of one remote path (following links)."""
        from ettui.drop.sftp_listing import entry

        sftp = await self._ready()
        self._drop_spare()
        # The open a download of this path needs travels with the stat, so the
        # download's first reads leave one round trip sooner. Read-only, and
        # closed again if no download follows (a folder's open just fails).
        sent = time.monotonic()
        opening = asyncio.ensure_future(sftp.open(path, "rb", block_size=0))
        opening.add_done_callback(_retrieve)
        self._spare = (path, opening)
        try:
            attrs = await self.bounded(sftp.stat(path), f"reading the size of {path}")
        except DropError:
            raise
        except BaseException as exc:
            raise self.remote_error(exc, path, what="file") from None
        self._spare_rtt = time.monotonic() - sent
        return entry(path, attrs)

    def _take_spare(self, path: str) -> tuple[asyncio.Future[asyncssh.SFTPClientFile], float] | None:
        """The open sent with the last ``stat`` of ``path`` and that stat's round trip, if it answered."""
        spare, self._spare = self._spare, None
        rtt, self._spare_rtt = self._spare_rtt, None
        if spare is None:
            return None
        if spare[0] == path and rtt is not None:
            return spare[1], rtt
        self._close_handle_later(spare[1])  # another path, or its stat failed: do not trust what came with it
        return None

    def _drop_spare(self) -> None:
        spare, self._spare = self._spare, None
        if spare is not None:
            self._close_handle_later(spare[1])

    def _close_handle_later(self, opening: asyncio.Future[asyncssh.SFTPClientFile]) -> None:
        async def close() -> None:
            with contextlib.suppress(BaseException):
                handle = await opening
                await handle.close()

        if not self.connected:
            opening.cancel()
            return
        self.background(close())

    async def download(
        self,
        remote_path: str,
        local_part: Path,
        *,
        offset: int = 0,
        progress: ProgressCallback | None = None,
        digest: Digest | None = None,
        size: int | None = None,
        segment_of: int | None = None,
    ) -> None:
        """Copy ``remote_path`` from ``offset`` to its end into ``local_part`` at the same offset.

        On a slow path a large remainder is split: a forked worker fetches the
        tail over its own connection (see ``segments``) and it is appended, in
        order and through ``digest``, when the head is done. ``segment_of``
        (the worker's own call): ``local_part`` holds the remote file from
        that offset on, and nothing splits further.

        Reads are pipelined (as many in flight as the measured round trip needs,
        see :func:`plan_transfer`) and their results are written strictly in
        order, so after any break the local file is an exact prefix of the
        remote one and its size is the resume offset. ``digest`` (if given) is
        fed every byte as it is written, in file order. Local write failures
        raise ``LocalWriteError``; a broken connection ``DropConnectionLost``;
        no byte for ``stall_timeout`` seconds ``DropStalled``. ``size`` (the
        caller's fresh ``stat``) saves the round trip of asking for it again.
        """
        from ettui.drop._asyncssh_import import asyncssh

        sftp = await self._ready()
        try:
            started = time.monotonic()
            spare = self._take_spare(remote_path)
            # block_size=0: each read() is exactly one SFTP request; sftp_download does the pipelining.
            opening = spare[0] if spare is not None else asyncio.ensure_future(sftp.open(remote_path, "rb", block_size=0))
            remote = await self.bounded(opening, f"opening {remote_path}")
            # The round trip: the stat's when the open travelled with it, else this open's.
            rtt = spare[1] if spare is not None else time.monotonic() - started
            if self._limits is not None:
                with contextlib.suppress(asyncssh.SFTPError):  # no limits: the default block size stands
                    await self.bounded(asyncio.shield(self._limits), "reading the server's limits")
            if size is None:
                size = (await self.bounded(remote.stat(), f"reading the size of {remote_path}")).size or 0
        except DropError:
            raise
        except BaseException as exc:
            raise self.remote_error(exc, remote_path, what="file") from None
        plan = plan_transfer(rtt, sftp.limits.max_read_len, block_size=self.block_size,
                             min_requests=self.max_requests, window=self.window)
        self.last_plan = plan
        try:
            await _download(self, remote, remote_path, local_part, offset=offset, total=size, plan=plan,
                            progress=progress, digest=digest, segment_of=segment_of)
        finally:
            # The close is sent, not waited for: the reply would cost a round trip
            # after the last byte, and a later request on this session (or its
            # close) orders after it anyway.
            self.background(remote.close())

    def worker_options(self) -> dict[str, object]:
        """What a segment worker needs to open a connection like this one (its own budget slot)."""
        return dict(
            host=self.host, port=self.port, username=self.username, password=self._password, key_file=self._key_file,
            known_hosts=self.known_hosts, accept_fingerprint=self.accept_fingerprint, connect_timeout=self.connect_timeout,
            encryption_algs=self.encryption_algs, block_size=self.block_size, max_requests=self.max_requests,
            window=self.window, max_pktsize=self.max_pktsize, stall_timeout=self.stall_timeout, budget=self.budget,
            max_segments=1,
        )

    def adopt_slot(self, slot: Slot) -> None:
        """Hold ``slot`` (taken by the caller, e.g. without waiting) instead of asking the budget for one."""
        self.budget = None
        self._slot = slot

    def remote_error(self, exc: BaseException, path: str, *, what: str) -> BaseException:
        """Turn an asyncssh/OS error into one sentence; connection breaks become ``DropConnectionLost``."""
        from ettui.drop._asyncssh_import import asyncssh
        from ettui.drop.sftp_connect import is_connection_error, reason

        if isinstance(exc, asyncssh.SFTPNoSuchFile):
            return RemoteFileMissing(
                f"The {what} {path} is not on the drop at {self.host} (expired after its retention, or never there)."
            )
        if isinstance(exc, asyncssh.SFTPPermissionDenied):
            return DropError(f"The drop at {self.host} denied access to the {what} {path}; check the account's permissions.")
        if is_connection_error(exc) or not self.connected:
            # With the connection gone, asyncssh may still report a plain SFTPError ("Connection not open").
            return DropConnectionLost(f"The connection to the drop at {self.host}:{self.port} broke: {reason(exc)}.")
        if isinstance(exc, asyncssh.SFTPError):
            return DropError(f"The drop at {self.host} refused the {what} {path}: {reason(exc)}.")
        return exc


def _retrieve(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()  # an unused speculative open may fail (a folder, a missing file): not an error


def _close_unused(dialing: asyncio.Future[Any]) -> None:
    """A socket dialled for a connection that failed before asyncssh took it: close it (asyncssh closes its own)."""
    if not dialing.cancelled() and dialing.exception() is None:
        dialing.result().close()


def _forget_task(tasks: set[asyncio.Future[None]]) -> Callable[[asyncio.Future[None]], None]:
    def done(task: asyncio.Future[None]) -> None:
        tasks.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved: a handle closed on a dead connection is not an error

    return done
