"""The SFTP drop client: connect with strict host keys, list, stat, download.

One ``DropClient`` wraps one asyncssh connection and its SFTP session. It only
ever *reads* from the remote side: no call here writes, renames or removes a
remote file, so a bug can never damage the vendor's drop.

Host keys are checked against a known_hosts file (plain and ``|1|`` hashed
entries, both handled by asyncssh's parser). asyncssh calls
``validate_host_public_key`` only for a key the file does not already trust;
that hook is where we capture the server's key, so an unknown key becomes a
:class:`~ettui.errors.HostKeyUnknown` carrying the fingerprint the UI shows for
trust-on-first-use, and a key that differs from a listed one becomes a hard
:class:`~ettui.errors.HostKeyChanged`.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import logging
import math
import os
import socket
import stat as stat_mod
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO, TypeVar, cast

from ettui.drop._asyncssh_import import asyncssh
from ettui.drop._fast_start import skip_none_auth, start_sftp
from ettui.drop.budget import ConnectionBudget, Slot
from ettui.drop.hostkeys import (
    HostKeyCheck,
    fingerprint,
    key_line,
    known_hosts_name,
    load_known_hosts,
    trust_host_key,
)
from ettui.drop.progress import ProgressCallback, ProgressMeter
from ettui.drop.segments import (
    SegmentPlan,
    SegmentWorker,
    append_segment,
    leftover_segments,
    plan_segments,
    remove_segments,
    segment_file,
)
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
from ettui.errors import DropError, HostKeyChanged, HostKeyUnknown
from ettui.safetext import clean

T = TypeVar("T")

__all__ = [
    "GCM_FIRST",
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
    "plan_transfer",
    "trust_host_key",
]

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

BLOCK_SIZE = 256 * 1024
"""Bytes per SFTP read request; OpenSSH's sftp-server serves up to 256 KiB."""

MAX_REQUESTS = 32
"""SFTP reads kept in flight: 32 x 255 KiB = 8 MiB, enough for ~160 MB/s over a 50 ms
round trip. More bought nothing on 127.0.0.1 and pushes the in-flight data out of cache."""

WINDOW = 64 * 1024 * 1024
"""SSH channel window we advertise: the most data in flight on a long, fast path.

Only requested bytes ever travel (the requests in flight bound the memory), so
a window larger than loopback needs costs nothing there, and it lets
:func:`plan_transfer` raise the requests in flight to the bandwidth-delay
product of a far drop (OpenSSH's ~2 MB caps it at ~42 MB/s at 50 ms)."""

TARGET_RATE = 250e6
"""Bytes per second the pipelining aims to sustain (about what one Python stream decrypts)."""

MAX_IN_FLIGHT = 48 * 1024 * 1024
"""Upper bound on requested-but-unread bytes, whatever the round trip."""

SYNC_EVERY = 32 * 1024 * 1024
"""Bytes between background ``fdatasync`` calls during a download."""

_REFUSED = REFUSED_LOGINS
"""Logins the drop refused in this process (shared with the FTPS client)."""

MAX_LISTING = 100_000
"""Most names ettui reads from one drop folder (the vendor's drop holds tens)."""

RATE_LOG = logging.getLogger("ettui.drop.rate")
"""Where a finished download says its rate and what limited it (``ettui fetch`` prints it on stderr)."""

REPORT_FROM = 8 * 1024 * 1024
"""Downloads smaller than this say nothing about their rate (start-up dominates)."""



@dataclass(frozen=True)
class TransferPlan:
    """How one download is pipelined: bytes per SFTP read and reads in flight."""

    block: int
    requests: int
    rtt: float
    """The round trip it was sized for, in seconds."""

    @property
    def in_flight(self) -> int:
        return self.block * self.requests

    def ceiling(self) -> float:
        """The most bytes per second this plan allows at its round trip (what limits a slow path)."""
        return self.in_flight / self.rtt if self.rtt > 0 else math.inf

    def describe(self, rate: float) -> str:
        """One line: the rate reached, and what limited it (the round trip, or this end's CPU/the link)."""
        ceiling = self.ceiling()
        window = f"{self.rtt * 1000:.0f} ms x {self.in_flight / 2**20:.0f} MiB in flight"
        if rate >= 0.8 * ceiling:
            why = f"limited by the round trip: {window} (at most {ceiling / 1e6:.0f} MB/s)"
        else:
            why = f"limited by this computer's CPU or the link, not the round trip ({window} allows {_mb(ceiling)})"
        return f"{rate / 1e6:.1f} MB/s, {why}"


def plan_transfer(
    rtt: float,
    server_max_read: int | None,
    *,
    block_size: int = BLOCK_SIZE,
    min_requests: int = MAX_REQUESTS,
    window: int = WINDOW,
    target_rate: float = TARGET_RATE,
) -> TransferPlan:
    """Size a download to the bandwidth-delay product of the path.

    The block is the server's own read limit (``limits@openssh.com``;
    OpenSSH serves 255 KiB) when it reports a usable one, else ``block_size``.
    Reads in flight cover ``target_rate x rtt`` bytes, at least ``min_requests``
    (what loopback needs) and at most what the channel ``window`` and
    ``MAX_IN_FLIGHT`` allow, so the server never waits for window space.
    """
    block = block_size
    if server_max_read and server_max_read > 16 * 1024:
        block = min(block, server_max_read)
    bdp = target_rate * max(rtt, 0.0)
    wanted = math.ceil(bdp / block)
    most = max(min_requests, min(window, MAX_IN_FLIGHT) // block)
    return TransferPlan(block=block, requests=max(min_requests, min(wanted, most)), rtt=rtt)

MAX_PKTSIZE = 256 * 1024
"""Channel packet size we accept: fewer, bigger packets cost less Python per byte."""


class _ClientHooks(HostKeyCheck):
    """The host-key check, plus: the first login request uses the configured method (no ``none`` probe)."""

    def __init__(self, known: asyncssh.SSHKnownHosts, accept_fingerprint: str | None, method: str | None) -> None:
        super().__init__(known, accept_fingerprint)
        self._method = method
        self._conn: asyncssh.SSHClientConnection | None = None

    def connection_made(self, conn: asyncssh.SSHClientConnection) -> None:
        self._conn = conn

    def begin_auth(self, username: str) -> None:
        if self._method is not None and self._conn is not None:
            skip_none_auth(self._conn, self._method)


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
        """The cross-process connection budget of this account; a slot is held while connected."""
        self._slot: Slot | None = None
        self._background: set[asyncio.Future[None]] = set()
        self.last_plan: TransferPlan | None = None
        """How the last download was sized (for the progress line and the benchmark)."""
        self._conn: asyncssh.SSHClientConnection | None = None
        self.last_cipher: str | None = None
        """The cipher of the last closed connection (the benchmark reports it)."""
        self._sftp: asyncssh.SFTPClient | None = None
        self._limits: asyncio.Future[None] | None = None
        self._spare: tuple[str, float, asyncio.Future[asyncssh.SFTPClientFile]] | None = None
        """An open of the path last stat'ed, sent with the stat (path, when sent, the open)."""
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
    def cipher(self) -> str | None:
        """The negotiated cipher, for the benchmark and diagnostics."""
        return None if self._conn is None else self._conn.get_extra_info("send_cipher")

    # -- lifecycle -----------------------------------------------------------

    async def connect(self) -> None:
        """Connect and start SFTP; reconnects if the previous connection broke.

        Raises ``HostKeyUnknown``, ``HostKeyChanged``, or ``DropError`` with one
        sentence for a refused login, a refused connection or a timeout.
        """
        if self.connected and self._sftp is not None:
            return
        await self.close()
        refused = _REFUSED.get(self._credential_key())
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

    def _credential_key(self) -> tuple[str, int, str, str]:
        secret = self._password if self._password is not None else f"key:{self._key_file}"
        return (self.host, self.port, self.username, hashlib.sha256(secret.encode()).hexdigest())

    def _release_slot(self) -> None:
        slot, self._slot = self._slot, None
        if slot is not None:
            slot.release()

    async def _connect(self) -> None:
        known = load_known_hosts(self.known_hosts)
        method = "password" if self._password is not None else "publickey" if self._key_file is not None else None
        check = _ClientHooks(known, self.accept_fingerprint, method)
        options: dict[str, object] = {}
        if self._password is not None:
            # A password login tries no keys first: the vendor locks the account
            # after repeated failures, and key attempts must not eat into that.
            # One method only: asyncssh would otherwise offer the same password to
            # keyboard-interactive too, and each offer counts as a failure.
            options.update(password=self._password, client_keys=None, agent_path=None, preferred_auth="password")
        elif self._key_file is not None:
            options.update(client_keys=[self._key_file], agent_path=None, preferred_auth="publickey")
        if self.encryption_algs is not None:
            options["encryption_algs"] = list(self.encryption_algs)
        try:
            conn = await asyncssh.connect(
                self.host,
                self.port,
                username=self.username or None,
                known_hosts=known,
                client_factory=lambda: check,
                connect_timeout=self.connect_timeout,
                login_timeout=self.connect_timeout,
                # Compression buys nothing on already-zipped output and costs CPU.
                compression_algs=None,
                window=self.window,
                max_pktsize=self.max_pktsize,
                keepalive_interval=self.keepalive_interval,
                **options,
            )
        except asyncssh.HostKeyNotVerifiable:
            raise self._host_key_error(check) from None
        except asyncssh.PermissionDenied:
            message = (
                f"The drop refused the login for {self.username}@{self.host}; ettui will not try it again, because "
                "repeated failed logins lock the user out for 30 minutes: fix the SFTP user name and password or key first."
            )
            _REFUSED[self._credential_key()] = message
            raise LoginRefused(message) from None
        except ConnectionRefusedError:
            raise DropUnreachable(
                f"Nothing accepted the connection at {self.host}:{self.port}; "
                "check the SFTP host and port and that the server is up."
            ) from None
        except TimeoutError:
            raise DropUnreachable(
                f"Connecting to the drop at {self.host}:{self.port} timed out after {self.connect_timeout:g} s; "
                "check the network and the SFTP host."
            ) from None
        except socket.gaierror:
            raise DropUnreachable(
                f"The SFTP host name {self.host} could not be resolved; check the profile's sftp_host."
            ) from None
        except asyncssh.KeyImportError as exc:
            raise DropError(f"The SSH key file {self._key_file} could not be loaded ({exc}).") from None
        except (OSError, asyncssh.Error) as exc:
            raise DropUnreachable(f"Could not connect to the drop at {self.host}:{self.port}: {_reason(exc)}.") from None
        try:
            # The server's limits arrive with the next replies: nothing waits for them here.
            self._sftp, limits = await self._bounded(start_sftp(conn), "starting SFTP")
            limits.add_done_callback(_retrieve)
            self._limits = limits
        except (OSError, asyncssh.Error) as exc:
            conn.close()
            raise DropUnreachable(f"The drop at {self.host}:{self.port} did not start an SFTP session: {_reason(exc)}.") from None
        self._conn = conn
        self._last_used = time.monotonic()

    def _host_key_error(self, check: HostKeyCheck) -> DropError:
        name = known_hosts_name(self.host, self.port)
        if check.offered is None:
            return DropError(f"The host key of {name} could not be verified; check {self.known_hosts}.")
        offered = fingerprint(check.offered)
        if check.listed:
            was = ", ".join(fingerprint(k) for k in check.listed)
            return HostKeyChanged(
                f"The host key of {name} has changed: known_hosts has {was} but the server now offers {offered}; "
                f"if the change is expected, remove the old entry from {self.known_hosts}."
            )
        return HostKeyUnknown(
            f"The host key of {name} is not known (fingerprint {offered}); accept it to connect.",
            host=self.host,
            port=self.port,
            fingerprint=offered,
            key_line=key_line(check.offered),
        )

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

    async def _bounded(self, step: Awaitable[T], what: str) -> T:
        """Await one request, treating ``stall_timeout`` seconds of silence as a dead connection."""
        if self.stall_timeout is None:
            return await step
        try:
            return await asyncio.wait_for(step, self.stall_timeout)
        except TimeoutError:
            if self._conn is not None:
                self._conn.abort()
            raise DropStalled(
                f"The drop at {self.host}:{self.port} sent nothing for {self.stall_timeout:g} s while {what}; "
                "the connection is treated as dead."
            ) from None

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
        sftp = self._session()
        self._last_used = time.monotonic()
        return sftp

    def is_transient(self, exc: BaseException) -> bool:
        """A broken SSH connection (see ``is_connection_error``) is worth a new connection."""
        return is_connection_error(exc)

    def _session(self) -> asyncssh.SFTPClient:
        if self._sftp is None or not self.connected:
            raise DropConnectionLost(f"The connection to the drop at {self.host}:{self.port} is not open.")
        return self._sftp

    # -- reading -------------------------------------------------------------

    async def list(self, folder: str) -> list[RemoteEntry]:
        """The entries of a remote folder (without ``.`` and ``..``), sorted by name."""
        sftp = await self._ready()
        base = folder.rstrip("/")
        entries: list[RemoteEntry] = []
        names = sftp.scandir(folder).__aiter__()
        try:
            while True:
                # Each reply within the stall timeout, and at most MAX_LISTING names:
                # a server that lists forever is cut short, and said so.
                try:
                    n = await self._bounded(names.__anext__(), f"listing {folder}")
                except StopAsyncIteration:
                    break
                # A str folder makes asyncssh decode the names: they are str, never bytes.
                name = cast(str, n.filename)
                if name in (".", ".."):
                    continue
                if len(entries) >= MAX_LISTING:
                    raise DropError(
                        f"The drop folder {clean(folder)} at {self.host}:{self.port} lists more than {MAX_LISTING:,} "
                        "entries; ettui stopped reading it (check drop_folder names the batch folder)."
                    )
                entries.append(_entry(f"{base}/{name}", n.attrs))
        except DropError:
            raise
        except BaseException as exc:
            raise self._remote_error(exc, folder, what="folder") from None
        finally:
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(names.aclose(), 1.0)  # type: ignore[attr-defined]
        return sorted(entries, key=lambda e: e.name)

    async def stat(self, path: str) -> RemoteEntry:
        """Size, mtime and type of one remote path (following links)."""
        sftp = await self._ready()
        self._drop_spare()
        # The open a download of this path needs travels with the stat, so the
        # download's first reads leave one round trip sooner. Read-only, and
        # closed again if no download follows (a folder's open just fails).
        sent = time.monotonic()
        opening = asyncio.ensure_future(sftp.open(path, "rb", block_size=0))
        opening.add_done_callback(_retrieve)
        self._spare = (path, sent, opening)
        try:
            attrs = await self._bounded(sftp.stat(path), f"reading the size of {path}")
        except DropError:
            raise
        except BaseException as exc:
            raise self._remote_error(exc, path, what="file") from None
        self._spare_rtt = time.monotonic() - sent
        return _entry(path, attrs)

    def _take_spare(self, path: str) -> asyncio.Future[asyncssh.SFTPClientFile] | None:
        spare, self._spare = self._spare, None
        if spare is not None and spare[0] == path:
            return spare[2]
        if spare is not None:
            self._close_handle_later(spare[2])
        return None

    def _drop_spare(self) -> None:
        spare, self._spare = self._spare, None
        if spare is not None:
            self._close_handle_later(spare[2])

    def _close_handle_later(self, opening: asyncio.Future[asyncssh.SFTPClientFile]) -> None:
        async def close() -> None:
            with contextlib.suppress(BaseException):
                handle = await opening
                await handle.close()

        if not self.connected:
            opening.cancel()
            return
        closing = asyncio.ensure_future(close())
        self._background.add(closing)
        closing.add_done_callback(_forget_task(self._background))

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
        sftp = await self._ready()
        try:
            started = time.monotonic()
            opening = self._take_spare(remote_path)
            spare_rtt, self._spare_rtt = self._spare_rtt, None
            if opening is not None and spare_rtt is None:
                self._close_handle_later(opening)  # its stat failed: do not trust what came with it
                opening = None
            if opening is None or spare_rtt is None:
                # block_size=0: each read() below is exactly one SFTP request; we do the pipelining.
                opening, spare_rtt = asyncio.ensure_future(sftp.open(remote_path, "rb", block_size=0)), None
            remote = await self._bounded(opening, f"opening {remote_path}")
            # The round trip: the stat's when the open travelled with it, else this open's.
            rtt = spare_rtt if spare_rtt is not None else time.monotonic() - started
            if self._limits is not None:
                with contextlib.suppress(asyncssh.SFTPError):  # no limits: the default block size stands
                    await self._bounded(asyncio.shield(self._limits), "reading the server's limits")
            if size is None:
                size = (await self._bounded(remote.stat(), f"reading the size of {remote_path}")).size or 0
            total = size
        except DropError:
            raise
        except BaseException as exc:
            raise self._remote_error(exc, remote_path, what="file") from None
        plan = plan_transfer(rtt, sftp.limits.max_read_len, block_size=self.block_size,
                             min_requests=self.max_requests, window=self.window)
        self.last_plan = plan
        began = time.monotonic()
        base = segment_of or 0
        split = None if segment_of is not None else self._plan_split(local_part, offset, total, rtt)
        worker: SegmentWorker | None = None
        end = total
        if split is not None:
            end = split.split
            if split.tail_from < total:
                # Forked before this download's writer thread exists.
                worker = SegmentWorker(self, remote_path, segment_file(local_part, split.split), split.split, split.tail_from)
        try:
            local = _open_local(local_part, offset - base)
            try:
                tail_seen = _segment_size(segment_file(local_part, split.split)) if split is not None else None
                done = await self._pipeline(remote, local, local_part, offset, end, plan, progress, digest, tail_seen)
            except (DropError, asyncio.CancelledError):
                raise
            except BaseException as exc:
                raise self._remote_error(exc, remote_path, what="file") from None
            finally:
                _close_local(local, local_part)
            if split is not None and done == end:
                outcome = await self._wait_for_worker(worker, local_part, split.split, total, done, progress)
                worker = None
                seg = segment_file(local_part, split.split)
                done += await asyncio.to_thread(append_segment, local_part, seg, split.split, digest)
                if done < total:
                    # The worker broke (or found no free connection): this stream fetches the rest.
                    done = await self._finish_tail(remote, local_part, done, total, plan, progress, digest)
                else:
                    ProgressMeter(total, done, progress).finish(done)
                self.last_split = (split.split, outcome)
        finally:
            if worker is not None:
                worker.stop()  # its segment file keeps what it wrote: the next fetch resumes it
            # The close is sent, not waited for: the reply would cost a round trip
            # after the last byte, and a later request on this session (or its
            # close) orders after it anyway.
            closing = asyncio.ensure_future(remote.close())
            self._background.add(closing)
            closing.add_done_callback(_forget_task(self._background))
        if done < total:
            raise DropConnectionLost(f"{remote_path} ended at {done:,} of {total:,} bytes; it changed during the download.")
        took = time.monotonic() - began
        if segment_of is None and done - offset >= REPORT_FROM and took > 0:
            streams = " over 2 connections" if split is not None else ""
            RATE_LOG.info("%s%s: %s", remote_path.rsplit("/", 1)[-1], streams, plan.describe((done - offset) / took))

    def _plan_split(self, local_part: Path, offset: int, total: int, rtt: float) -> SegmentPlan | None:
        """Whether to split (see ``segments``); segment files that cannot be resumed are removed."""
        leftovers = leftover_segments(local_part)
        if offset == 0:
            remove_segments(local_part)  # a fresh start: no earlier segment belongs to this file
            leftovers = {}
        sizes = {start: path.stat().st_size for start, path in leftovers.items() if is_own_file(path.lstat())}
        split = plan_segments(offset, total, rtt, sizes, enabled=self.max_segments > 1)
        for start, path in leftovers.items():
            if split is None or start != split.split:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
        return split

    async def _wait_for_worker(
        self, worker: SegmentWorker | None, local_part: Path, split: int, total: int, head: int, progress: ProgressCallback | None
    ) -> str:
        """The worker's outcome; meanwhile the progress counts the bytes its segment file holds."""
        if worker is None:
            return "done"
        waiting = asyncio.ensure_future(worker.wait())
        seen = _segment_size(segment_file(local_part, split))
        meter = ProgressMeter(total, head + seen(), progress)
        while not waiting.done():
            await asyncio.wait({waiting}, timeout=0.1)
            meter.update(head + seen())
        return waiting.result()

    async def _finish_tail(
        self,
        remote: asyncssh.SFTPClientFile,
        local_part: Path,
        done: int,
        total: int,
        plan: TransferPlan,
        progress: ProgressCallback | None,
        digest: Digest | None,
    ) -> int:
        local = _open_local(local_part, done)
        try:
            return await self._pipeline(remote, local, local_part, done, total, plan, progress, digest)
        finally:
            _close_local(local, local_part)

    def worker_options(self) -> dict[str, object]:
        """What a segment worker needs to open a connection like this one (its own budget slot)."""
        return dict(
            host=self.host, port=self.port, username=self.username, password=self._password, key_file=self._key_file,
            known_hosts=self.known_hosts, accept_fingerprint=self.accept_fingerprint, connect_timeout=self.connect_timeout,
            encryption_algs=self.encryption_algs, block_size=self.block_size, max_requests=self.max_requests,
            window=self.window, max_pktsize=self.max_pktsize, stall_timeout=self.stall_timeout, budget=self.budget,
            max_segments=1,
        )

    async def _pipeline(
        self,
        remote: asyncssh.SFTPClientFile,
        local: BinaryIO,
        local_part: Path,
        offset: int,
        end: int,
        plan: TransferPlan,
        progress: ProgressCallback | None,
        digest: Digest | None,
        also_done: Callable[[], int] | None = None,
    ) -> int:
        """Keep up to ``plan.requests`` reads outstanding; consume them in issue order. Returns bytes done.

        ``also_done`` adds bytes fetched elsewhere (a segment worker's) to the progress reported.

        Reads are topped up in batches of a quarter of the requests rather than
        one per reply: the server then wakes once per batch instead of once per
        request (each request is two SSH packets, as asyncssh adds an ignore
        packet), which cut sshd's CPU for 256 MiB from ~0.35 s to ~0.29 s here.
        Every ``SYNC_EVERY`` bytes a worker thread flushes what was written so
        far, so the final fsync (in ``fetch``) has little left to do.
        """
        meter = ProgressMeter(end, offset, progress)
        pending: deque[tuple[int, int, asyncio.Task[bytes]]] = deque()
        issued = done = offset
        block, most = plan.block, plan.requests
        low = most - max(1, most // 4)
        flushing: asyncio.Future[None] | None = None
        synced = offset
        sink = _Sink(local, local_part, digest)
        try:
            while pending or issued < end:
                if issued < end and len(pending) <= low:
                    while issued < end and len(pending) < most:
                        size = min(block, end - issued)
                        pending.append((issued, size, asyncio.ensure_future(remote.read(size, issued))))
                        issued += size
                at, size, task = pending.popleft()
                data = await self._bounded(task, f"downloading (at {at:,} bytes)")
                await sink.put(data)
                done = at + len(data)
                while len(data) and done < at + size:
                    # A short read (a server with a smaller read limit): fetch the rest of the block.
                    data = await self._bounded(remote.read(at + size - done, done), f"downloading (at {done:,} bytes)")
                    await sink.put(data)
                    done += len(data)
                if done < at + size:
                    break  # EOF early: the remote file shrank
                if done - synced >= SYNC_EVERY and (flushing is None or flushing.done()):
                    synced = done
                    flushing = asyncio.ensure_future(asyncio.to_thread(_flush_quietly, local))
                meter.update(done + also_done() if also_done is not None else done)
            await sink.drain()
        finally:
            # Never leave reads running (or their errors unretrieved) after a break.
            for _, _, task in pending:
                task.cancel()
            if pending:
                await asyncio.gather(*(t for _, _, t in pending), return_exceptions=True)
            await sink.close()
            if flushing is not None:
                await asyncio.gather(flushing, return_exceptions=True)
        meter.finish(done + also_done() if also_done is not None else done)
        return done

    def _remote_error(self, exc: BaseException, path: str, *, what: str) -> BaseException:
        """Turn an asyncssh/OS error into one sentence; connection breaks become ``DropConnectionLost``."""
        if isinstance(exc, asyncssh.SFTPNoSuchFile):
            return RemoteFileMissing(
                f"The {what} {path} is not on the drop at {self.host} (expired after its retention, or never there)."
            )
        if isinstance(exc, asyncssh.SFTPPermissionDenied):
            return DropError(f"The drop at {self.host} denied access to the {what} {path}; check the account's permissions.")
        if is_connection_error(exc) or not self.connected:
            # With the connection gone, asyncssh may still report a plain SFTPError ("Connection not open").
            return DropConnectionLost(f"The connection to the drop at {self.host}:{self.port} broke: {_reason(exc)}.")
        if isinstance(exc, asyncssh.SFTPError):
            return DropError(f"The drop at {self.host} refused the {what} {path}: {_reason(exc)}.")
        return exc


def is_connection_error(exc: BaseException) -> bool:
    """True for the many shapes a broken SSH connection takes in asyncssh.

    A dropped socket can surface as ``SFTPConnectionLost``, ``ConnectionLost``
    or any ``DisconnectError``, a plain ``OSError`` (``ECONNRESET``, ``EPIPE``),
    ``BrokenPipeError``, or an ``EOFError`` from a half-read packet.
    """
    return isinstance(
        exc,
        (
            DropConnectionLost,
            asyncssh.SFTPConnectionLost,
            asyncssh.DisconnectError,
            asyncssh.ChannelOpenError,
            ConnectionError,
            EOFError,
            OSError,
        ),
    )


def _mb(rate: float) -> str:
    return "any rate" if math.isinf(rate) else f"{rate / 1e6:.0f} MB/s"


def _reason(exc: BaseException) -> str:
    text = getattr(exc, "reason", None) or str(exc) or type(exc).__name__
    return str(text).rstrip(".")


def _entry(path: str, attrs: asyncssh.SFTPAttrs) -> RemoteEntry:
    is_dir = attrs.type == asyncssh.FILEXFER_TYPE_DIRECTORY or (
        attrs.permissions is not None and stat_mod.S_ISDIR(attrs.permissions)
    )
    mtime = datetime.fromtimestamp(attrs.mtime or 0, tz=UTC)
    if attrs.mtime_ns:
        mtime = mtime.replace(microsecond=attrs.mtime_ns // 1000)
    name = path.rstrip("/").rsplit("/", 1)[-1]
    return RemoteEntry(name=name, path=path, size=attrs.size or 0, mtime=mtime, is_dir=is_dir)


# -- local file I/O: module functions so tests can inject ENOSPC/EACCES --------


def _open_local(path: Path, offset: int) -> BinaryIO:
    """Open the ``.part`` file positioned at ``offset``, dropping anything beyond it.

    Never through a link and never a file someone else left: from zero, the
    name is unlinked and created afresh (``O_EXCL``, mode 0600); a resume opens
    with ``O_NOFOLLOW`` and insists on a regular, single-link file of ours.
    """
    flags = os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        if offset == 0:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)  # removes a planted link itself, never its target
            fd = os.open(path, flags | os.O_CREAT | os.O_EXCL, 0o600)
        else:
            fd = os.open(path, flags)
            if not is_own_file(os.fstat(fd)):
                os.close(fd)
                raise LocalWriteError(f"{path} is not a file ettui wrote (a link, or another user's); remove it and fetch again.")
            os.fchmod(fd, 0o600)
        local = os.fdopen(fd, "wb", buffering=0)
        if os.fstat(fd).st_size != offset:
            # Only when needed: on ext4 a truncate arms "auto_da_alloc", which makes
            # close() start writeback of the whole file and wait (25-80 ms for 256 MiB).
            local.truncate(offset)
        local.seek(offset)
        return local
    except OSError as exc:
        raise local_error(exc, path) from None


def is_own_file(st: os.stat_result) -> bool:
    """A regular file of this user with one name: not a link, a device, or a hard link planted to something else."""
    return stat_mod.S_ISREG(st.st_mode) and st.st_uid == os.geteuid() and st.st_nlink == 1


def _write(local: BinaryIO, data: bytes, path: Path) -> None:
    try:
        view = memoryview(data)
        while view:
            written = local.write(view)
            view = view[written or 0 :]
    except OSError as exc:
        raise local_error(exc, path) from None


def _segment_size(path: Path) -> Callable[[], int]:
    def size() -> int:
        try:
            return path.stat().st_size
        except OSError:
            return 0

    return size


def _retrieve(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()  # an unused speculative open may fail (a folder, a missing file): not an error


def _forget_task(tasks: set[asyncio.Future[None]]) -> Callable[[asyncio.Future[None]], None]:
    def done(task: asyncio.Future[None]) -> None:
        tasks.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved: a handle closed on a dead connection is not an error

    return done


class _Sink:
    """Writes and hashes downloaded blocks in one worker thread, strictly in order.

    Both the file write and ``hashlib`` release the GIL, so this work runs on
    the second core while the event loop decrypts the next packets (together
    about a third of the loop's time per byte when done inline). One thread
    keeps the order, so the ``.part`` stays an exact prefix and the digest
    matches it; at most ``depth`` blocks wait, so memory stays bounded. The
    first write error is raised by the next ``put`` or by ``drain``.
    """

    def __init__(self, local: BinaryIO, path: Path, digest: Digest | None, depth: int = 8) -> None:
        self._local, self._path, self._digest = local, path, digest
        self._depth = depth
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ettui-write")
        self._queued: deque[asyncio.Future[None]] = deque()

    def _store(self, data: bytes) -> None:
        _write(self._local, data, self._path)
        if self._digest is not None:
            self._digest.update(data)

    async def put(self, data: bytes) -> None:
        if not data:
            return
        loop = asyncio.get_running_loop()
        self._queued.append(loop.run_in_executor(self._executor, self._store, data))
        while self._queued and (len(self._queued) > self._depth or self._queued[0].done()):
            await self._queued.popleft()

    async def drain(self) -> None:
        while self._queued:
            await self._queued.popleft()

    async def close(self) -> None:
        """Wait for what was queued (the .part keeps every byte handed over), then stop the thread."""
        queued, self._queued = list(self._queued), deque()
        if queued:
            await asyncio.gather(*queued, return_exceptions=True)
        self._executor.shutdown(wait=False)


def _flush_quietly(local: BinaryIO) -> None:
    # Durability early, off the loop; an error here shows again at the final fsync.
    with contextlib.suppress(OSError, ValueError):
        os.fdatasync(local.fileno())


def _close_local(local: BinaryIO, path: Path) -> None:
    try:
        local.close()
    except OSError as exc:
        raise local_error(exc, path) from None


def local_error(exc: OSError, path: Path) -> LocalWriteError:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return LocalWriteError(f"The disk holding {path.parent} is full; free some space and fetch again to resume.")
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return LocalWriteError(f"ettui may not write to {path.parent}; choose another destination or fix its permissions.")
    return LocalWriteError(f"Writing {path} failed: {exc.strerror or exc}.")
