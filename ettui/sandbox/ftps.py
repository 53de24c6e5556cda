"""The sandbox's legacy drop: a small asyncio FTP server over explicit TLS, read-only.

It serves the same drop folder as the SFTP server, the way the vendor's
"secure FTP site" is described (spec §5.1-5.2): explicit TLS (``AUTH TLS``)
before the login, ``PBSZ 0``/``PROT P`` required before any data, passive mode
only (``EPSV``/``PASV``, on 127.0.0.1), and, like vsftpd's
``require_ssl_reuse=YES``, every data connection must resume the TLS session
(``522`` otherwise). ``LIST``/``NLST``, ``MLSD``/``MLST``, ``SIZE``, ``MDTM``,
``REST`` + ``RETR`` are served; every write-like command is refused.

Written here rather than taken from a library: pyftpdlib (pyOpenSSL) cannot
demand session reuse, and a few hundred lines on asyncio streams keep the
sandbox free of a server dependency. It is an independent peer: nothing from
ettui's client layers is imported.

The self-signed certificate (ECDSA P-256, SAN 127.0.0.1/localhost) is kept
in the sandbox root like the SSH host key, so its fingerprint is stable.
The drop's fault knobs apply here too: ``Faults.sftp_drop_after_bytes`` cuts a
data connection (and the session) after that many file bytes.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import hashlib
import hmac
import ipaddress
import os
import ssl
import stat as stat_mod
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from ettui.sandbox.faults import Faults
from ettui.sandbox.sftp import DropLimits

CERT_NAME = "ftps_cert.pem"
KEY_NAME = "ftps_key.pem"
IDLE_SECONDS = 600.0
"""The vendor closes idle connections after 10 minutes (the default of ``DropLimits.idle_close_seconds``)."""
DATA_ACCEPT_SECONDS = 30.0
CHUNK = 256 * 1024
_REFUSED = {"STOR", "STOU", "APPE", "DELE", "RNFR", "RNTO", "MKD", "XMKD", "RMD", "XRMD", "SITE", "ALLO", "MFMT"}
_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def load_cert(root: Path) -> tuple[Path, Path, str]:
    """The sandbox's certificate and key (created on first use): (cert, key, ``SHA256:...`` fingerprint)."""
    cert_path, key_path = root / CERT_NAME, root / KEY_NAME
    if not (cert_path.exists() and key_path.exists()):
        _make_cert(cert_path, key_path)
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    der = x509.load_pem_x509_certificate(cert_path.read_bytes()).public_bytes(serialization.Encoding.DER)
    return cert_path, key_path, "SHA256:" + base64.b64encode(hashlib.sha256(der).digest()).decode().rstrip("=")


def _make_cert(cert_path: Path, key_path: Path) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ettui sandbox drop")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    key_path.parent.mkdir(parents=True, exist_ok=True)
    temp = key_path.with_suffix(".tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    os.replace(temp, key_path)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


class _Session:
    """One control connection."""

    def __init__(self, server: FtpsDropServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.server = server
        self.reader, self.writer = reader, writer
        self.tls = False
        self.user: str | None = None
        self.logged_in = False
        self.prot_p = False
        self.cwd = "/"
        self.rest = 0
        self.served = 0
        self.passive: asyncio.Server | None = None
        self.data: asyncio.Queue[asyncio.Transport] = asyncio.Queue()
        self.counted: str | None = None
        """The user this session counts against the connection limit (once logged in)."""

    async def reply(self, text: str) -> None:
        self.writer.write((text.replace("\n", "\r\n") + "\r\n").encode("utf-8", "surrogateescape"))
        await self.writer.drain()

    async def run(self) -> None:
        await self.reply("220 ettui sandbox drop (explicit FTPS only)")
        while True:
            idle = self.server.limits.idle_close_seconds
            try:
                line = await asyncio.wait_for(self.reader.readline(), idle or None)
            except TimeoutError:
                await self.reply(f"421 Timeout: idle for {idle:g} seconds.")
                return
            if not line:
                return
            text = line.decode("utf-8", "surrogateescape").rstrip("\r\n")
            verb, _, arg = text.partition(" ")
            verb = verb.upper()
            if verb == "QUIT":
                await self.reply("221 Goodbye.")
                return
            handler: Callable[[str], object] | None = getattr(self, f"cmd_{verb.lower()}", None)
            if verb in _REFUSED:
                await self.reply("550 The drop is read-only.")
            elif handler is None:
                await self.reply(f"502 {verb} not implemented.")
            elif not self.logged_in and verb not in ("AUTH", "USER", "PASS", "FEAT", "SYST", "NOOP", "PBSZ", "PROT", "OPTS"):
                await self.reply("530 Please log in with USER and PASS (after AUTH TLS).")
            else:
                result = handler(arg)
                if asyncio.iscoroutine(result):
                    await result

    async def close(self) -> None:
        if self.counted is not None:
            limits = self.server.limits
            limits.connections[self.counted] = max(0, limits.connections.get(self.counted, 1) - 1)
            self.counted = None
        if self.passive is not None:
            self.passive.close()
        with contextlib.suppress(Exception):
            self.writer.close()
            await asyncio.wait_for(self.writer.wait_closed(), 5)

    # -- login and TLS -------------------------------------------------------

    async def cmd_auth(self, arg: str) -> None:
        if arg.upper() not in ("TLS", "TLS-C", "SSL"):
            await self.reply("504 AUTH TLS only.")
            return
        if self.tls:
            await self.reply("503 Already on TLS.")
            return
        await self.reply("234 Proceed with negotiation.")
        await self.writer.start_tls(self.server.context)
        self.tls = True

    async def cmd_user(self, arg: str) -> None:
        if not self.tls:
            await self.reply("530 Non-anonymous sessions must use encryption (AUTH TLS).")
            return
        self.user, self.logged_in = arg, False
        await self.reply("331 Please specify the password.")

    async def cmd_pass(self, arg: str) -> None:
        srv, limits = self.server, self.server.limits
        user = self.user or ""
        if self._locked(user):
            srv.failed_logins += 1
            await self.reply("530 Login incorrect.")  # whatever the password; the lock is not extended
            return
        good = (
            self.tls
            and self.user is not None
            and hmac.compare_digest(self.user.encode(), srv.username.encode())
            and hmac.compare_digest(arg.encode(), srv.password.encode())
        )
        if not good:
            srv.failed_logins += 1
            failures = limits.failures.get(user, 0) + 1
            limits.failures[user] = failures
            if limits.lockout_failures and failures >= limits.lockout_failures:
                limits.failures.pop(user, None)
                limits.locked_until[user] = srv.now() + timedelta(seconds=limits.lockout_seconds)
            await self.reply("530 Login incorrect.")
            return
        limits.failures.pop(user, None)
        if limits.max_connections and limits.connections.get(user, 0) >= limits.max_connections:
            limits.refused_connections += 1
            await self.reply(f"421 Too many connections: at most {limits.max_connections} per user.")
            raise ConnectionAbortedError("connection limit")
        limits.connections[user] = limits.connections.get(user, 0) + 1
        self.counted = user
        self.logged_in = True
        await self.reply("230 Login successful.")

    def _locked(self, user: str) -> bool:
        limits = self.server.limits
        until = limits.locked_until.get(user)
        if until is None:
            return False
        if self.server.now() >= until:
            del limits.locked_until[user]
            return False
        return True

    async def cmd_pbsz(self, arg: str) -> None:
        await self.reply("200 PBSZ=0" if self.tls else "503 PBSZ needs AUTH TLS first.")

    async def cmd_prot(self, arg: str) -> None:
        if arg.upper() == "P" and self.tls:
            self.prot_p = True
            await self.reply("200 PROT now Private.")
        else:
            await self.reply("536 Only PROT P (after AUTH TLS) is allowed.")

    async def cmd_feat(self, arg: str) -> None:
        feats = ["AUTH TLS", "PBSZ", "PROT", "EPSV", "PASV", "REST STREAM", "SIZE", "MDTM", "MLST type*;size*;modify*;", "UTF8"]
        await self.reply("211-Features:\n" + "".join(f" {f}\n" for f in feats) + "211 End")

    async def cmd_opts(self, arg: str) -> None:
        await self.reply("200 OK.")

    async def cmd_syst(self, arg: str) -> None:
        await self.reply("215 UNIX Type: L8")

    async def cmd_noop(self, arg: str) -> None:
        await self.reply("200 NOOP ok.")

    async def cmd_type(self, arg: str) -> None:
        await self.reply("200 Type set." if arg.upper()[:1] in ("A", "I") else "504 Type not supported.")

    # -- navigation and facts ------------------------------------------------

    def _resolve(self, arg: str) -> tuple[str, Path] | None:
        """(virtual path, real path) inside the drop, or None when it would leave it."""
        virtual = os.path.normpath(os.path.join(self.cwd, arg or ".")).replace("\\", "/")
        if not virtual.startswith("/"):
            virtual = "/" + virtual
        root = self.server.drop_dir
        real = Path(os.path.realpath(root / virtual.lstrip("/")))
        if real != root and root not in real.parents:
            return None
        return virtual, real

    async def cmd_pwd(self, arg: str) -> None:
        await self.reply(f'257 "{self.cwd}" is the current directory.')

    async def cmd_cwd(self, arg: str) -> None:
        found = self._resolve(arg)
        if found is None or not found[1].is_dir():
            await self.reply("550 Failed to change directory.")
            return
        self.cwd = found[0]
        await self.reply("250 Directory successfully changed.")

    async def cmd_cdup(self, arg: str) -> None:
        await self.cmd_cwd("..")

    async def _file(self, arg: str) -> tuple[str, Path, os.stat_result] | None:
        found = self._resolve(arg)
        if found is None:
            return None
        try:
            st = found[1].stat()
        except OSError:
            return None
        return found[0], found[1], st

    async def cmd_size(self, arg: str) -> None:
        found = await self._file(arg)
        if found is None or not stat_mod.S_ISREG(found[2].st_mode):
            await self.reply("550 Could not get file size.")
            return
        await self.reply(f"213 {found[2].st_size}")

    async def cmd_mdtm(self, arg: str) -> None:
        found = await self._file(arg)
        if found is None or not stat_mod.S_ISREG(found[2].st_mode):
            await self.reply("550 Could not get file modification time.")
            return
        await self.reply(f"213 {_stamp(found[2].st_mtime)}")

    async def cmd_mlst(self, arg: str) -> None:
        found = await self._file(arg)
        if found is None:
            await self.reply("550 No such file or directory.")
            return
        await self.reply(f"250-Listing {found[0]}\n {_facts(found[2])} {found[0]}\n250 End")

    async def cmd_rest(self, arg: str) -> None:
        if not arg.isdigit():
            await self.reply("501 REST needs a byte offset.")
            return
        self.rest = int(arg)
        await self.reply(f"350 Restart position accepted ({self.rest}).")

    # -- passive data connections --------------------------------------------

    async def _open_passive(self) -> int:
        if self.passive is not None:
            self.passive.close()
        self.data = asyncio.Queue()
        queue = self.data
        loop = asyncio.get_running_loop()
        self.passive = await loop.create_server(lambda: _Held(queue), self.server.host, 0)
        return int(self.passive.sockets[0].getsockname()[1])

    async def cmd_epsv(self, arg: str) -> None:
        port = await self._open_passive()
        await self.reply(f"229 Entering Extended Passive Mode (|||{port}|)")

    async def cmd_pasv(self, arg: str) -> None:
        port = await self._open_passive()
        h = self.server.host.replace(".", ",")
        await self.reply(f"227 Entering Passive Mode ({h},{port >> 8},{port & 255}).")

    async def cmd_port(self, arg: str) -> None:
        await self.reply("500 Passive mode only (EPSV or PASV).")

    cmd_eprt = cmd_port

    async def _data_connection(self, preliminary: str) -> asyncio.StreamWriter | None:
        """Accept the passive connection, send the ``150`` reply, then TLS that must resume the session.

        The ``150`` comes before the data TLS handshake, as vsftpd does: clients
        (ftplib, curl) read it before they start TLS on the data connection.
        None after replying with the reason.
        """
        if self.passive is None:
            await self.reply("425 Use EPSV or PASV first.")
            return None
        if not self.prot_p:
            await self.reply("521 Data connections must be encrypted (PROT P).")
            return None
        try:
            raw = await asyncio.wait_for(self.data.get(), DATA_ACCEPT_SECONDS)
        except TimeoutError:
            await self.reply("425 No data connection was made.")
            return None
        finally:
            self.passive.close()
            self.passive = None
        await self.reply(preliminary)
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        protocol = asyncio.StreamReaderProtocol(reader)
        try:
            # The client's ClientHello may already be waiting: it was never read (``_Held``).
            tls = await asyncio.wait_for(
                loop.start_tls(raw, protocol, self.server.context, server_side=True), DATA_ACCEPT_SECONDS
            )
        except (TimeoutError, OSError, ssl.SSLError):
            raw.abort()
            await self.reply("522 SSL connection failed on the data connection.")
            return None
        if tls is None:
            raw.abort()
            await self.reply("522 SSL connection failed on the data connection.")
            return None
        protocol.connection_made(tls)
        writer = asyncio.StreamWriter(tls, protocol, reader, loop)
        ssl_object = writer.get_extra_info("ssl_object")
        if ssl_object is None or not ssl_object.session_reused:
            self.server.reuse_refusals += 1
            writer.transport.abort()
            await self.reply("522 SSL connection failed: session reuse required.")
            return None
        return writer

    async def _send_lines(self, lines: list[str]) -> None:
        writer = await self._data_connection("150 Here comes the directory listing.")
        if writer is None:
            return
        writer.write("".join(f"{line}\r\n" for line in lines).encode("utf-8", "surrogateescape"))
        await _finish(writer)
        await self.reply("226 Directory send OK.")

    def _listing(self, arg: str) -> list[tuple[str, os.stat_result]] | None:
        path = " ".join(a for a in arg.split() if not a.startswith("-"))  # ignore ls flags such as -a
        found = self._resolve(path)
        if found is None or not found[1].is_dir():
            return None
        rows = []
        for entry in sorted(found[1].iterdir()):
            with contextlib.suppress(OSError):
                rows.append((entry.name, entry.stat()))
        return rows

    async def cmd_list(self, arg: str) -> None:
        rows = self._listing(arg)
        if rows is None:
            await self.reply("550 No such directory.")
            return
        await self._send_lines([_ls_line(name, st) for name, st in rows])

    async def cmd_nlst(self, arg: str) -> None:
        rows = self._listing(arg)
        if rows is None:
            await self.reply("550 No such directory.")
            return
        await self._send_lines([name for name, _ in rows])

    async def cmd_mlsd(self, arg: str) -> None:
        rows = self._listing(arg)
        if rows is None:
            await self.reply("550 No such directory.")
            return
        await self._send_lines([f"{_facts(st)} {name}" for name, st in rows])

    async def cmd_retr(self, arg: str) -> None:
        offset, self.rest = self.rest, 0
        found = await self._file(arg)
        if found is None or not stat_mod.S_ISREG(found[2].st_mode):
            await self.reply("550 Failed to open file.")
            return
        writer = await self._data_connection(
            f"150 Opening BINARY mode data connection for {found[0]} ({found[2].st_size} bytes)."
        )
        if writer is None:
            return
        faults = self.server.faults
        # Disk reads off the loop: other sandbox clients keep being served during a RETR.
        source = await asyncio.to_thread(open, found[1], "rb")
        with source:
            source.seek(offset)
            while chunk := await asyncio.to_thread(source.read, CHUNK):
                limit = faults.sftp_drop_after_bytes
                if limit is not None and self.served + len(chunk) > limit:
                    writer.write(chunk[: max(0, limit - self.served)])
                    await writer.drain()
                    if faults.sftp_drop_once:
                        faults.sftp_drop_after_bytes = None
                    writer.transport.abort()  # cut mid-transfer, and the control connection with it
                    self.writer.transport.abort()
                    return
                self.served += len(chunk)
                writer.write(chunk)
                await writer.drain()
        await _finish(writer)
        await self.reply("226 Transfer complete.")


class _Held(asyncio.Protocol):
    """A passive data connection, accepted but not read: its TLS handshake starts after the ``150`` reply."""

    def __init__(self, queue: asyncio.Queue[asyncio.Transport]) -> None:
        self._queue = queue

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        transport.pause_reading()
        self._queue.put_nowait(transport)


class FtpsDropServer:
    """The listening FTPS drop; ``port`` is known after ``start``."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        drop_dir: Path,
        cert: Path,
        key: Path,
        username: str,
        password: str,
        faults: Faults,
        limits: DropLimits | None = None,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.host = host
        self.requested_port = port
        self.drop_dir = Path(os.path.realpath(drop_dir))
        self.username = username
        self.password = password
        self.faults = faults
        self.limits = limits or DropLimits()
        """The vendor's limits (connections per user, lockout, idle close); the sandbox shares one with its SFTP."""
        self.now: Callable[[], datetime] = now or (lambda: datetime.now(dt.UTC))
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.context.load_cert_chain(str(cert), str(key))
        self.context.minimum_version = ssl.TLSVersion.TLSv1_2
        self.port = 0
        self.failed_logins = 0
        self.reuse_refusals = 0
        """Data connections refused because they did not resume the TLS session (tests read it)."""
        self._server: asyncio.Server | None = None
        self._sessions: set[_Session] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self.host, self.requested_port)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session = _Session(self, reader, writer)
        self._sessions.add(session)
        try:
            await session.run()
        # ConnectionAbortedError is an OSError.
        except (TimeoutError, OSError, ssl.SSLError, asyncio.IncompleteReadError, UnicodeError):
            pass  # the client went away, idled out, or spoke no TLS
        finally:
            await session.close()
            self._sessions.discard(session)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            for session in list(self._sessions):
                session.writer.transport.abort()  # its run() then ends with a connection error
            await self._server.wait_closed()
            self._server = None


async def _finish(writer: asyncio.StreamWriter) -> None:
    """Close a data connection with a TLS close_notify (vsftpd-style clients check for it)."""
    with contextlib.suppress(Exception):
        await writer.drain()
        writer.close()
        await asyncio.wait_for(writer.wait_closed(), 10)


def _stamp(mtime: float) -> str:
    return dt.datetime.fromtimestamp(mtime, tz=dt.UTC).strftime("%Y%m%d%H%M%S")


def _facts(st: os.stat_result) -> str:
    kind = "dir" if stat_mod.S_ISDIR(st.st_mode) else "file"
    when = dt.datetime.fromtimestamp(st.st_mtime, tz=dt.UTC)
    return f"type={kind};size={st.st_size};modify={when:%Y%m%d%H%M%S}.{when.microsecond // 1000:03d};"


def _ls_line(name: str, st: os.stat_result) -> str:
    when = dt.datetime.fromtimestamp(st.st_mtime, tz=dt.UTC)
    mode = "dr-xr-xr-x" if stat_mod.S_ISDIR(st.st_mode) else "-r--r--r--"
    return f"{mode}    1 ettui    ettui    {st.st_size:>10} {_MONTHS[when.month - 1]} {when.day:2d} {when:%H:%M} {name}"
