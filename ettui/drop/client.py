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
import errno
import os
import socket
import stat as stat_mod
from collections import deque
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from types import TracebackType
from typing import BinaryIO, cast

import asyncssh

from ettui.drop.hostkeys import (
    HostKeyCheck,
    fingerprint,
    key_line,
    known_hosts_name,
    load_known_hosts,
    trust_host_key,
)
from ettui.errors import DropError, HostKeyChanged, HostKeyUnknown
from ettui.drop.progress import ProgressCallback, ProgressMeter
from ettui.drop.transport import (
    DropConnectionLost,
    DropUnreachable,
    LocalWriteError,
    RemoteEntry,
    RemoteFileMissing,
)

__all__ = [
    "DropClient",
    "RemoteEntry",
    "DropConnectionLost",
    "DropUnreachable",
    "RemoteFileMissing",
    "LocalWriteError",
    "ProgressMeter",
    "GCM_FIRST",
    "trust_host_key",
    "fingerprint",
    "is_connection_error",
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

WINDOW = 16 * 1024 * 1024
"""SSH channel window: at least ``BLOCK_SIZE * MAX_REQUESTS`` so the server never stalls."""

MAX_PKTSIZE = 256 * 1024
"""Channel packet size we accept: fewer, bigger packets cost less Python per byte."""


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
        self._conn: asyncssh.SSHClientConnection | None = None
        self.last_cipher: str | None = None
        """The cipher of the last closed connection (the benchmark reports it)."""
        self._sftp: asyncssh.SFTPClient | None = None

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
        known = load_known_hosts(self.known_hosts)
        check = HostKeyCheck(known, self.accept_fingerprint)
        options: dict[str, object] = {}
        if self._password is not None:
            # A password login tries no keys first: the vendor locks the account
            # after repeated failures, and key attempts must not eat into that.
            options.update(password=self._password, client_keys=None, agent_path=None)
        elif self._key_file is not None:
            options.update(client_keys=[self._key_file], agent_path=None)
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
                **options,
            )
        except asyncssh.HostKeyNotVerifiable:
            raise self._host_key_error(check) from None
        except asyncssh.PermissionDenied:
            raise DropError(
                f"The drop refused the login for {self.username}@{self.host}; check the SFTP user name and password or key."
            ) from None
        except ConnectionRefusedError:
            raise DropUnreachable(
                f"Nothing accepted the connection at {self.host}:{self.port}; check the SFTP host and port and that the server is up."
            ) from None
        except (asyncio.TimeoutError, TimeoutError):
            raise DropUnreachable(
                f"Connecting to the drop at {self.host}:{self.port} timed out after {self.connect_timeout:g} s; check the network and the SFTP host."
            ) from None
        except socket.gaierror:
            raise DropError(f"The SFTP host name {self.host} could not be resolved; check the profile's sftp_host.") from None
        except asyncssh.KeyImportError as exc:
            raise DropError(f"The SSH key file {self._key_file} could not be loaded ({exc}).") from None
        except (OSError, asyncssh.Error) as exc:
            raise DropUnreachable(f"Could not connect to the drop at {self.host}:{self.port}: {_reason(exc)}.") from None
        try:
            self._sftp = await conn.start_sftp_client()
        except (OSError, asyncssh.Error) as exc:
            conn.close()
            raise DropUnreachable(f"The drop at {self.host}:{self.port} did not start an SFTP session: {_reason(exc)}.") from None
        self._conn = conn

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
        sftp, conn = self._sftp, self._conn
        self._sftp = self._conn = None
        if conn is not None:
            self.last_cipher = conn.get_extra_info("send_cipher")
        if sftp is not None:
            sftp.exit()
        if conn is not None:
            conn.close()
            try:
                await conn.wait_closed()
            except (OSError, asyncssh.Error):
                pass

    async def __aenter__(self) -> DropClient:
        await self.connect()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

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
        sftp = self._session()
        base = folder.rstrip("/")
        try:
            names = await sftp.readdir(folder)
        except BaseException as exc:
            raise self._remote_error(exc, folder, what="folder") from None
        # A str folder makes asyncssh decode the names: they are str, never bytes.
        entries = [
            _entry(f"{base}/{name}", n.attrs)
            for n in names
            if (name := cast(str, n.filename)) not in (".", "..")
        ]
        return sorted(entries, key=lambda e: e.name)

    async def stat(self, path: str) -> RemoteEntry:
        """Size, mtime and type of one remote path (following links)."""
        sftp = self._session()
        try:
            attrs = await sftp.stat(path)
        except BaseException as exc:
            raise self._remote_error(exc, path, what="file") from None
        return _entry(path, attrs)

    async def download(
        self,
        remote_path: str,
        local_part: Path,
        *,
        offset: int = 0,
        progress: ProgressCallback | None = None,
    ) -> None:
        """Copy ``remote_path`` from ``offset`` to its end into ``local_part`` at the same offset.

        ``max_requests`` reads are in flight at once (pipelined) and their
        results are written strictly in order, so after any break the local
        file is an exact prefix of the remote one and its size is the resume
        offset. Local write failures raise ``LocalWriteError``; a broken
        connection raises ``DropConnectionLost``.
        """
        sftp = self._session()
        try:
            # block_size=0: each read() below is exactly one SFTP request; we do the pipelining.
            remote = await sftp.open(remote_path, "rb", block_size=0)
            total = (await remote.stat()).size or 0
        except BaseException as exc:
            raise self._remote_error(exc, remote_path, what="file") from None
        block = self.block_size
        if sftp.limits.max_read_len and sftp.limits.max_read_len > 16 * 1024:
            block = min(block, sftp.limits.max_read_len)  # OpenSSH serves at most 255 KiB per read
        try:
            local = _open_local(local_part, offset)
            try:
                done = await self._pipeline(remote, local, local_part, offset, total, block, progress)
            except (DropError, asyncio.CancelledError):
                raise
            except BaseException as exc:
                raise self._remote_error(exc, remote_path, what="file") from None
            finally:
                _close_local(local, local_part)
        finally:
            try:
                await remote.close()
            except (OSError, asyncssh.Error):
                pass  # the connection is gone; the handle went with it
        if done < total:
            raise DropConnectionLost(f"{remote_path} ended at {done:,} of {total:,} bytes; it changed during the download.")

    async def _pipeline(
        self,
        remote: asyncssh.SFTPClientFile,
        local: BinaryIO,
        local_part: Path,
        offset: int,
        end: int,
        block: int,
        progress: ProgressCallback | None,
    ) -> int:
        """Keep up to ``max_requests`` reads outstanding; consume them in issue order. Returns bytes done.

        Reads are topped up in batches of a quarter of ``max_requests`` rather than
        one per reply: the server then wakes once per batch instead of once per
        request (each request is two SSH packets, as asyncssh adds an ignore
        packet), which cut sshd's CPU for 256 MiB from ~0.35 s to ~0.29 s here.
        """
        meter = ProgressMeter(end, offset, progress)
        pending: deque[tuple[int, int, asyncio.Task[bytes]]] = deque()
        issued = done = offset
        low = self.max_requests - max(1, self.max_requests // 4)
        try:
            while pending or issued < end:
                if issued < end and len(pending) <= low:
                    while issued < end and len(pending) < self.max_requests:
                        size = min(block, end - issued)
                        pending.append((issued, size, asyncio.ensure_future(remote.read(size, issued))))
                        issued += size
                at, size, task = pending.popleft()
                data = await task
                _write(local, data, local_part)
                done = at + len(data)
                while len(data) and done < at + size:
                    # A short read (a server with a smaller read limit): fetch the rest of the block.
                    data = await remote.read(at + size - done, done)
                    _write(local, data, local_part)
                    done += len(data)
                if done < at + size:
                    break  # EOF early: the remote file shrank
                meter.update(done)
        finally:
            # Never leave reads running (or their errors unretrieved) after a break.
            for _, _, task in pending:
                task.cancel()
            if pending:
                await asyncio.gather(*(t for _, _, t in pending), return_exceptions=True)
        meter.finish(done)
        return done

    def _remote_error(self, exc: BaseException, path: str, *, what: str) -> BaseException:
        """Turn an asyncssh/OS error into one sentence; connection breaks become ``DropConnectionLost``."""
        if isinstance(exc, asyncssh.SFTPNoSuchFile):
            return RemoteFileMissing(
                f"The {what} {path} is not on the drop at {self.host} (expired after its retention, or never there)."
            )
        if isinstance(exc, asyncssh.SFTPPermissionDenied):
            return DropError(f"The drop at {self.host} denied access to the {what} {path}; check the account's permissions.")
        if is_connection_error(exc):
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


def _reason(exc: BaseException) -> str:
    text = getattr(exc, "reason", None) or str(exc) or type(exc).__name__
    return str(text).rstrip(".")


def _entry(path: str, attrs: asyncssh.SFTPAttrs) -> RemoteEntry:
    is_dir = attrs.type == asyncssh.FILEXFER_TYPE_DIRECTORY or (
        attrs.permissions is not None and stat_mod.S_ISDIR(attrs.permissions)
    )
    mtime = datetime.fromtimestamp(attrs.mtime or 0, tz=timezone.utc)
    if attrs.mtime_ns:
        mtime = mtime.replace(microsecond=attrs.mtime_ns // 1000)
    name = path.rstrip("/").rsplit("/", 1)[-1]
    return RemoteEntry(name=name, path=path, size=attrs.size or 0, mtime=mtime, is_dir=is_dir)


# -- local file I/O: module functions so tests can inject ENOSPC/EACCES --------


def _open_local(path: Path, offset: int) -> BinaryIO:
    """Open the ``.part`` file positioned at ``offset``, dropping anything beyond it."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
        local = os.fdopen(fd, "wb", buffering=0)
        if os.fstat(fd).st_size != offset:
            # Only when needed: on ext4 a truncate arms "auto_da_alloc", which makes
            # close() start writeback of the whole file and wait (25-80 ms for 256 MiB).
            local.truncate(offset)
        local.seek(offset)
        return local
    except OSError as exc:
        raise local_error(exc, path) from None


def _write(local: BinaryIO, data: bytes, path: Path) -> None:
    try:
        view = memoryview(data)
        while view:
            written = local.write(view)
            view = view[written or 0 :]
    except OSError as exc:
        raise local_error(exc, path) from None


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
