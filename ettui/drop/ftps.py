"""The FTPS drop client: explicit TLS, passive mode, TLS session reuse, read-only.

The legacy bulk-async drop is "FTP with SSL, explicit encryption, port 21,
passive only" (spec §5.1-5.2). This client speaks exactly that with the
standard library's ``ftplib`` in a worker thread:

* ``AUTH TLS`` on the control connection before the password is sent, then
  ``PBSZ 0`` / ``PROT P`` so every data connection is encrypted too;
* passive only: ``EPSV``, falling back to ``PASV`` when the server refuses it
  (the address in a ``PASV`` reply is ignored, the control host is used);
* the control connection's TLS session is **reused** on every data connection.
  Servers such as vsftpd (``require_ssl_reuse=YES``, its default) refuse data
  connections that do not, and ``ftplib.FTP_TLS`` does not do it by itself.
  Why ``ftplib`` and not an asyncio FTP client: asyncio's TLS (``start_tls``,
  ``open_connection(ssl=...)``) cannot be handed an ``ssl.SSLSession``, so no
  asyncio client can offer the control session on a data connection; a
  blocking ``SSLSocket`` can (``wrap_socket(session=...)``), with TLS 1.2 and
  1.3 alike (by the time the first data connection opens, the control
  connection has read the server's 1.3 session ticket);
* sizes and times from ``MLST``/``MLSD`` where the server offers them, else
  ``LIST`` for names and types and ``SIZE``/``MDTM`` per file (vsftpd 3.0.3
  has no ``MLSD``); downloads resume with ``REST``.

What runs on an open connection (listing, one path's facts, the ``RETR`` into
the ``.part``) and the session-reusing ``FTP_TLS`` are in ``ftps_channel.py``;
this module owns the control connection: connect, certificate, login, the one
worker thread, and turning failures into sentences.

Every socket wait is bounded: ``connect_timeout`` to connect and log in,
``read_timeout`` for each control reply, ``stall_timeout`` for each read of a
data connection. Nothing here ever writes, renames or deletes on the server.

The certificate is trusted when (in this order) it matches ``pinned``
(``ftps_fingerprint``), or the fingerprint remembered for this host in
``known_certs``, or ``accept_fingerprint``; with none of those it must verify
against the system CAs (or ``ca_file``) for the host name. A certificate that
fails verification raises ``CertificateUnknown`` with its fingerprint (trust
on first use); one that differs from the pinned or remembered one raises
``CertificateChanged``.
"""

from __future__ import annotations

import asyncio
import ftplib
import hashlib
import socket
import ssl
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import TypeVar

from ettui.drop.budget import ConnectionBudget, Slot
from ettui.drop.certs import cert_fingerprint, describe_cert, known_cert, normalise_fingerprint
from ettui.drop.ftps_channel import (
    ReusingFTP,
    abort,
    is_tls_eof,
    list_folder,
    quietly_close,
    reply_text,
    retrieve,
    stat_path,
    tls,
)
from ettui.drop.progress import ProgressCallback
from ettui.drop.transport import (
    REFUSED_LOGINS,
    Digest,
    DropConnectionLost,
    DropUnreachable,
    LoginRefused,
    RemoteEntry,
    RemoteFileMissing,
)
from ettui.errors import CertificateChanged, CertificateUnknown, DropError
from ettui.model import Progress

__all__ = ["BLOCK_SIZE", "FtpsClient"]

BLOCK_SIZE = 256 * 1024
"""Bytes per ``recv`` of a data connection."""

RELOGIN_PAUSE = 0.5
"""Seconds before the one retry of a login whose reply was unreadable (never after a 530)."""

T = TypeVar("T")


class _LoggedInThenLost(Exception):
    """The login was not refused, but the control connection broke before the session was ready."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(str(error))
        self.error = error


class FtpsClient:
    """An FTPS session on the drop (explicit TLS). Read-only by construction.

    Implements :class:`~ettui.drop.transport.DropTransport`. All FTP traffic runs
    in one worker thread at a time (``ftplib`` is blocking and not thread-safe);
    a refused login is never retried by this object (the vendor locks the user
    out after repeated failures).
    """

    def __init__(
        self,
        host: str,
        port: int,
        username: str,
        *,
        password: str,
        ca_file: str | None = None,
        pinned: str | None = None,
        known_certs: Path,
        accept_fingerprint: str | None = None,
        connect_timeout: float = 10.0,
        read_timeout: float = 60.0,
        stall_timeout: float = 60.0,
        block_size: int = BLOCK_SIZE,
        max_connections: int | None = None,
        budget: ConnectionBudget | None = None,
        idle_reopen: float | None = 540.0,
    ) -> None:
        self.host = host
        self.port = port
        self.username = username
        self._password = password
        self.ca_file = ca_file
        self.pinned = normalise_fingerprint(pinned) if pinned else None
        self.known_certs = Path(known_certs)
        self.accept_fingerprint = accept_fingerprint
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.stall_timeout = stall_timeout
        self.block_size = block_size
        self._ftp: ReusingFTP | None = None
        self._broken = False
        if budget is None and max_connections is not None:
            budget = ConnectionBudget(host, username, max_connections)
        self.budget = budget
        """The cross-process connection budget of this account (shared with SFTP); a slot is held while connected."""
        self._slot: Slot | None = None
        self.idle_reopen = idle_reopen
        """Seconds idle after which the connection is replaced before use (the vendor closes idle ones at 10 minutes)."""
        self._last_used = time.monotonic()
        self._opened_once = False
        self._lock = asyncio.Lock()
        self._mlst = False
        self.tls_version: str | None = None
        """The TLS version of the control connection (diagnostics)."""

    @property
    def where(self) -> str:
        return f"{self.username}@{self.host}:{self.port}"

    @property
    def connected(self) -> bool:
        return self._ftp is not None and not self._broken and self._ftp.sock is not None

    # -- lifecycle -----------------------------------------------------------

    async def connect(self) -> None:
        """Connect, check the certificate, log in over TLS, ``PROT P``; a no-op when connected."""
        if self.connected:
            return
        await self.close()
        refused = REFUSED_LOGINS.get(self._credential_key())
        if refused is not None:
            raise LoginRefused(refused)  # one wrong password is one attempt, never a second
        if self.budget is not None:
            self._slot = await self.budget.acquire()
        try:
            async with self._lock:
                try:
                    self._ftp = await asyncio.to_thread(self._open)
                except _LoggedInThenLost:
                    # The password was not refused (no 530) but the session broke around the
                    # login: a second login cannot count against the lockout. Only once, after
                    # a short pause.
                    await asyncio.sleep(RELOGIN_PAUSE)
                    try:
                        self._ftp = await asyncio.to_thread(self._open)
                    except _LoggedInThenLost as lost:
                        raise lost.error from None
                self._broken = False
                self._opened_once = True
                self._last_used = time.monotonic()
        except BaseException:
            self._release_slot()
            raise

    def _credential_key(self) -> tuple[str, int, str, str]:
        return (self.host, self.port, self.username, hashlib.sha256(("ftps:" + self._password).encode()).hexdigest())

    def _release_slot(self) -> None:
        slot, self._slot = self._slot, None
        if slot is not None:
            slot.release()

    def _open(self) -> ReusingFTP:
        remembered = known_cert(self.known_certs, self.host, self.port)
        expected = self.pinned or remembered or self.accept_fingerprint
        ftp = self._handshake(verify=expected is None)
        try:
            der = tls(ftp).getpeercert(binary_form=True) or b""
            offered = cert_fingerprint(der)
            if expected is not None and offered != expected:
                if self.pinned is None and remembered is None:
                    raise self._unknown(der)  # accept_fingerprint named another certificate
                source = "ftps_fingerprint pins" if self.pinned else f"{self.known_certs} remembers"
                raise CertificateChanged(
                    f"The certificate of {self.host}:{self.port} has changed: {source} {expected} but the server now offers "
                    f"{offered}; if the change is expected, update the pin or remove the old entry."
                )
            self.tls_version = tls(ftp).version()
            self._login(ftp)
        except BaseException:
            quietly_close(ftp)
            raise
        return ftp

    def _context(self, verify: bool) -> ssl.SSLContext:
        if not verify:
            # Identity is checked by fingerprint after the handshake (pinned or accepted).
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        else:
            ctx = ssl.create_default_context(cafile=self.ca_file)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        return ctx

    def _handshake(self, *, verify: bool) -> ReusingFTP:
        """TCP connect and ``AUTH TLS``; ``CertificateUnknown`` when verification fails."""
        ftp = ReusingFTP(context=self._context(verify), timeout=self.connect_timeout)
        try:
            ftp.connect(self.host, self.port, timeout=self.connect_timeout)
            ftp.auth()
        except ssl.SSLCertVerificationError as exc:
            quietly_close(ftp)
            if not verify:
                raise
            raise self._unknown(self._peek_cert(), reason=exc.verify_message) from None
        except BaseException as exc:
            quietly_close(ftp)
            raise self._connect_error(exc) from None
        return ftp

    def _peek_cert(self) -> bytes:
        """The server's certificate, read over a second, unverified handshake (no login)."""
        ftp = self._handshake(verify=False)
        try:
            return tls(ftp).getpeercert(binary_form=True) or b""
        finally:
            quietly_close(ftp)

    def _unknown(self, der: bytes, reason: str | None = None) -> CertificateUnknown:
        offered = cert_fingerprint(der)
        why = f" ({reason})" if reason else ""
        return CertificateUnknown(
            f"The certificate of {self.host}:{self.port} is not trusted{why}; its fingerprint is {offered}; "
            "accept it only if the drop's admin confirms it.",
            host=self.host,
            port=self.port,
            fingerprint=offered,
            description=describe_cert(der),
            save_line=f"{self.host}:{self.port} {offered}",
            save_to=str(self.known_certs),
        )

    def _login(self, ftp: ReusingFTP) -> None:
        try:
            ftp.login(self.username, self._password, secure=False)  # AUTH TLS is already done
        except ftplib.error_perm as exc:
            message = (
                f"The drop refused the login for {self.username}@{self.host} ({reply_text(exc)}); ettui will not try it again, "
                "because repeated failed logins lock the user out for 30 minutes: fix ftps_username and the FTPS password first."
            )
            REFUSED_LOGINS[self._credential_key()] = message
            raise LoginRefused(message) from None
        except ssl.SSLError as exc:
            if isinstance(exc, ssl.SSLCertVerificationError) or is_tls_eof(exc):
                raise self._connect_error(exc) from None
            # Unreadable TLS, not a refusal: a wrong password is always a readable 530.
            # (vsftpd writes its fatal errors, "500 OOPS: ...", in plain text even on a
            # TLS connection, e.g. when the post-login process cannot enter its chroot:
            # the password was accepted, the session died.) One fresh try is safe.
            raise _LoggedInThenLost(
                DropUnreachable(
                    f"The drop at {self.host}:{self.port} did not refuse the login but then answered outside TLS "
                    f"({exc.reason or exc}); the server failed to start the session (vsftpd sends such errors, "
                    "\"500 OOPS\", in plain text); its log says why."
                )
            ) from None
        except BaseException as exc:
            raise self._connect_error(exc) from None
        try:
            tls(ftp).settimeout(self.read_timeout)
            ftp.prot_p()
            ftp.voidcmd("TYPE I")
            features = ftp.sendcmd("FEAT")
        except ftplib.error_perm:
            features = ""
        except BaseException as exc:
            raise _LoggedInThenLost(self._connect_error(exc)) from None
        self._mlst = any(line.strip().upper().startswith("MLST") for line in features.splitlines()[1:])

    def _connect_error(self, exc: BaseException) -> BaseException:
        where = f"{self.host}:{self.port}"
        if isinstance(exc, DropError):
            return exc
        if isinstance(exc, ConnectionRefusedError):
            return DropUnreachable(
                f"Nothing accepted the connection at {where}; check ftps_host and ftps_port and that the server is up."
            )
        if isinstance(exc, (socket.timeout, TimeoutError)):
            return DropUnreachable(
                f"Connecting to the drop at {where} timed out after {self.connect_timeout:g} s; check the network and ftps_host."
            )
        if isinstance(exc, socket.gaierror):
            return DropUnreachable(f"The FTPS host name {self.host} could not be resolved; check the profile's ftps_host.")
        if isinstance(exc, ssl.SSLError) and not is_tls_eof(exc):
            return DropError(
                f"TLS with the drop at {where} failed ({exc.reason or exc}); the server may not offer explicit FTPS."
            )
        if isinstance(exc, ftplib.error_perm):
            return DropError(f"The drop at {where} refused FTPS ({reply_text(exc)}); it must accept AUTH TLS and PROT P.")
        if isinstance(exc, (OSError, EOFError, ftplib.Error)):
            return DropUnreachable(f"Could not connect to the drop at {where}: {reply_text(exc)}.")
        return exc

    async def close(self) -> None:
        """Say ``QUIT`` (briefly) and close; safe to call twice."""
        ftp, self._ftp = self._ftp, None
        try:
            if ftp is not None:
                await asyncio.to_thread(quietly_close, ftp, not self._broken)
        finally:
            self._release_slot()

    async def __aenter__(self) -> FtpsClient:
        await self.connect()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    def is_transient(self, exc: BaseException) -> bool:
        """Broken sockets and ``4xx`` replies are transient; TLS and certificate failures never are."""
        if isinstance(exc, (DropConnectionLost, DropUnreachable)):
            return True
        if isinstance(exc, DropError):
            return False
        if isinstance(exc, ssl.SSLError):
            return is_tls_eof(exc)  # a cut connection, not a refusal
        return isinstance(exc, (OSError, EOFError, ftplib.error_temp))

    # -- running FTP in the worker thread -------------------------------------

    async def _run(self, what: str, path: str, op: Callable[[ReusingFTP], T]) -> T:
        idle = time.monotonic() - self._last_used
        if self._opened_once and self.idle_reopen is not None and idle > self.idle_reopen:
            # The server closes connections idle for 10 minutes (and may be doing it
            # right now): replace this one before use rather than fail on it.
            await self.close()
            await self.connect()
        if not self.connected:
            raise DropConnectionLost(f"The connection to the drop at {self.host}:{self.port} is not open.")
        self._last_used = time.monotonic()
        ftp = self._ftp
        assert ftp is not None
        async with self._lock:
            try:
                return await asyncio.to_thread(op, ftp)
            except asyncio.CancelledError:
                self._broken = True
                abort(ftp)  # unblocks the worker thread; the connection is not reusable
                raise
            except BaseException as exc:
                raise self._remote_error(exc, path, what=what) from None
            finally:
                self._last_used = time.monotonic()

    def _remote_error(self, exc: BaseException, path: str, *, what: str) -> BaseException:
        if isinstance(exc, DropError):
            if isinstance(exc, DropConnectionLost):
                self._broken = True
            return exc
        if isinstance(exc, ftplib.error_perm) and str(exc)[:3] in ("550", "450", "553"):
            return RemoteFileMissing(
                f"The {what} {path} is not on the drop at {self.host} (expired after its retention, or never there)."
            )
        if self.is_transient(exc):
            self._broken = True
            return DropConnectionLost(f"The connection to the drop at {self.host}:{self.port} broke: {reply_text(exc)}.")
        if isinstance(exc, ssl.SSLError):
            self._broken = True
            return DropError(f"TLS with the drop at {self.host}:{self.port} failed ({exc.reason or exc}).")
        if isinstance(exc, ftplib.Error):
            return DropError(f"The drop at {self.host} refused the {what} {path}: {reply_text(exc)}.")
        return exc

    # -- reading -------------------------------------------------------------

    async def list(self, folder: str) -> list[RemoteEntry]:
        """The entries of a remote folder (without ``.`` and ``..``), sorted by name."""
        entries = await self._run("folder", folder, lambda ftp: list_folder(ftp, folder, mlst=self._mlst))
        return sorted(entries, key=lambda e: e.name)

    async def stat(self, path: str) -> RemoteEntry:
        """Size, mtime and type of one remote path."""
        return await self._run("file", path, lambda ftp: stat_path(ftp, path, mlst=self._mlst, host=self.host))

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
        """Copy ``remote_path`` from ``offset`` (``REST``) to its end into ``local_part`` at the same offset.

        Bytes are written in arrival order, so after a break ``local_part`` is an
        exact prefix of the remote file; ``digest`` is fed each chunk right after
        it is written (in the worker thread, so hashing overlaps the next
        ``recv``). ``size`` (the caller's fresh ``stat``) saves a ``SIZE``.
        Progress callbacks run on the event loop.
        """
        loop = asyncio.get_running_loop()
        report: ProgressCallback | None = None
        if progress is not None:
            callback = progress

            def report(p: Progress) -> None:
                loop.call_soon_threadsafe(callback, p)

        await self._run("file", remote_path, lambda ftp: retrieve(
            ftp, remote_path, local_part, offset, report, digest, size,
            block_size=self.block_size, stall_timeout=self.stall_timeout, where=f"{self.host}:{self.port}",
        ))
