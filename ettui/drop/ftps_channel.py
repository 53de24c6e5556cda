"""FTPS below the client: the passive, session-reusing ``FTP_TLS``, and what crosses its data connections.

``FtpsClient`` (``ftps.py``) owns the control connection: connecting, the
certificate, the login, the worker thread and turning failures into
sentences. This module has what runs in that thread on an open, logged-in
connection: a folder's listing (``MLSD``, else ``LIST`` with ``SIZE``/``MDTM``
per file: vsftpd 3.0.3 has no ``MLSD``), one path's facts, and copying a
``RETR`` (from a ``REST`` offset) into the ``.part``; plus the socket helpers
both sides use. Nothing here writes, renames or deletes on the server.
"""

from __future__ import annotations

import contextlib
import ftplib
import posixpath
import socket
import ssl
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ettui.drop import localfile as _local
from ettui.drop.progress import ProgressCallback, ProgressMeter
from ettui.drop.transport import Digest, DropConnectionLost, RemoteEntry, RemoteFileMissing
from ettui.drop.waits import stalled

EPOCH = datetime.fromtimestamp(0, tz=UTC)
"""The time of an entry the server gives none for."""


class ReusingFTP(ftplib.FTP_TLS):
    """``FTP_TLS`` that offers the control connection's TLS session on each data connection, passive only.

    Servers such as vsftpd (``require_ssl_reuse=YES``, its default) refuse data
    connections that do not reuse it, and ``ftplib.FTP_TLS`` does not by itself.
    """

    epsv_refused = False

    def makepasv(self) -> tuple[str, int]:
        if not self.epsv_refused:
            try:
                return self.host, ftplib.parse229(self.sendcmd("EPSV"), tls(self).getpeername())[1]
            except ftplib.error_perm:
                self.epsv_refused = True  # an old server: PASV from now on
        _host, port = ftplib.parse227(self.sendcmd("PASV"))
        return self.host, port  # never the address in the reply (it could point anywhere)

    def ntransfercmd(self, cmd: str, rest: int | str | None = None) -> tuple[socket.socket, int | None]:
        conn, size = ftplib.FTP.ntransfercmd(self, cmd, rest)
        if self._prot_p:  # type: ignore[attr-defined]
            conn = self.context.wrap_socket(conn, server_hostname=self.host, session=tls(self).session)
        return conn, size


# -- listing ---------------------------------------------------------------------


def list_folder(ftp: ReusingFTP, folder: str, *, mlst: bool) -> list[RemoteEntry]:
    """The entries of ``folder`` (no ``.``/``..``), by ``MLSD`` when the server has it (``mlst``), else ``LIST``."""
    base = folder.rstrip("/")
    _require_folder(ftp, folder)
    if mlst:
        return [
            _mlsd_entry(f"{base}/{name}", facts)
            for name, facts in ftp.mlsd(folder, facts=["type", "size", "modify"])
            if name not in (".", "..") and facts.get("type", "file") in ("file", "dir")
        ]
    lines: list[str] = []
    ftp.retrlines(f"LIST {folder}", lines.append)
    entries: list[RemoteEntry] = []
    for line in lines:
        parts = line.split(None, 8)
        if len(parts) < 9 or parts[8] in (".", ".."):
            continue  # "total 12" and the like
        name, kind = parts[8], line[:1]
        if kind == "l":
            name = name.split(" -> ", 1)[0]
        path = f"{base}/{name}"
        if kind == "d":
            entries.append(RemoteEntry(name, path, 0, _mdtm(ftp, path) or EPOCH, True))
        elif kind in ("-", "l"):
            entries.append(_file_entry(ftp, path))
    return entries


def stat_path(ftp: ReusingFTP, path: str, *, mlst: bool, host: str) -> RemoteEntry:
    """Size, mtime and type of one path (``MLST``, else ``SIZE``/``MDTM``); ``RemoteFileMissing`` when absent."""
    if mlst:
        reply = ftp.sendcmd(f"MLST {path}")
        facts_line = reply.splitlines()[1].strip() if len(reply.splitlines()) > 1 else ""
        facts = dict(f.split("=", 1) for f in facts_line.split(" ", 1)[0].split(";") if "=" in f)
        return _mlsd_entry(path, {k.lower(): v for k, v in facts.items()})
    try:
        return _file_entry(ftp, path)
    except ftplib.error_perm:
        try:
            _require_folder(ftp, path)  # SIZE fails on folders: is it one?
        except ftplib.error_perm:
            raise RemoteFileMissing(
                f"The file {path} is not on the drop at {host} (expired after its retention, or never there)."
            ) from None
        return RemoteEntry(posixpath.basename(path.rstrip("/")), path, 0, _mdtm(ftp, path) or EPOCH, True)


def _require_folder(ftp: ReusingFTP, folder: str) -> None:
    """``LIST`` of a missing folder is an empty listing on many servers: ask with ``CWD`` first."""
    here = ftp.pwd()
    ftp.cwd(folder)
    ftp.cwd(here)


def _file_entry(ftp: ReusingFTP, path: str) -> RemoteEntry:
    size = ftp.size(path)
    return RemoteEntry(posixpath.basename(path), path, int(size or 0), _mdtm(ftp, path) or EPOCH, False)


def _parse_time(value: str) -> datetime | None:
    """``YYYYMMDDHHMMSS[.fff]`` (MDTM, MLSD ``modify``), always UTC."""
    digits, _, frac = value.strip().partition(".")
    try:
        when = datetime.strptime(digits[:14], "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        return None
    if frac.isdigit():
        when = when.replace(microsecond=int((frac + "000000")[:6]))
    return when


def _mdtm(ftp: ReusingFTP, path: str) -> datetime | None:
    try:
        reply = ftp.sendcmd(f"MDTM {path}")
    except ftplib.error_perm:
        return None
    return _parse_time(reply[4:]) if reply.startswith("213") else None


def _mlsd_entry(path: str, facts: dict[str, Any]) -> RemoteEntry:
    is_dir = str(facts.get("type", "file")).lower() in ("dir", "cdir", "pdir")
    when = _parse_time(str(facts.get("modify", ""))) or EPOCH
    size = int(facts.get("size", 0) or 0)
    return RemoteEntry(posixpath.basename(path.rstrip("/")), path, size, when, is_dir)


# -- the download's data connection ------------------------------------------------


def retrieve(
    ftp: ReusingFTP,
    remote_path: str,
    local_part: Path,
    offset: int,
    progress: ProgressCallback | None,
    digest: Digest | None,
    size: int | None,
    *,
    block_size: int,
    stall_timeout: float,
    where: str,
) -> None:
    """``RETR`` ``remote_path`` from ``offset`` into ``local_part`` at the same offset, in arrival order.

    ``digest`` is fed each chunk right after it is written (so hashing overlaps
    the next ``recv``); ``size`` (the caller's fresh ``stat``) saves a ``SIZE``.
    No byte for ``stall_timeout`` seconds is ``DropStalled``; an early end is
    ``DropConnectionLost`` (a clean TLS close would not come before the end).
    """
    ftp.voidcmd("TYPE I")  # LIST switched to ASCII, and REST needs binary
    total = int(ftp.size(remote_path) or 0) if size is None else size
    local = _local._open_local(local_part, offset)
    done = offset
    try:
        meter = ProgressMeter(total, offset, progress)
        conn, _ = ftp.ntransfercmd(f"RETR {remote_path}", rest=offset or None)
        try:
            conn.settimeout(stall_timeout)
            try:
                while chunk := conn.recv(block_size):
                    _local._write(local, chunk, local_part)
                    if digest is not None:
                        digest.update(chunk)
                    done += len(chunk)
                    meter.update(done)
            except TimeoutError:
                raise stalled(where, stall_timeout, f"downloading {remote_path} (at {done:,} bytes)") from None
            if done < total:
                raise DropConnectionLost(f"{remote_path} ended at {done:,} of {total:,} bytes; the transfer was cut.")
            if isinstance(conn, ssl.SSLSocket):
                conn.unwrap()  # a clean TLS close, or the server reports the transfer as failed
        finally:
            conn.close()
        ftp.voidresp()
        meter.finish(done)
    finally:
        _local._close_local(local, local_part)


# -- socket helpers ------------------------------------------------------------------


def tls(ftp: ftplib.FTP) -> ssl.SSLSocket:
    """The control connection's TLS socket (``DropConnectionLost`` when it is gone or plain)."""
    sock = ftp.sock
    if not isinstance(sock, ssl.SSLSocket):
        raise DropConnectionLost("The control connection is not (or no longer) TLS.")
    return sock


def is_tls_eof(exc: ssl.SSLError) -> bool:
    """A TLS stream cut short (the peer vanished), as opposed to a TLS refusal."""
    return isinstance(exc, (ssl.SSLEOFError, ssl.SSLZeroReturnError)) or "UNEXPECTED_EOF" in str(exc)


def reply_text(exc: BaseException) -> str:
    """An FTP error's reply (or the exception's name), for a sentence."""
    return (str(exc) or type(exc).__name__).strip().rstrip(".")


def quietly_close(ftp: ftplib.FTP, polite: bool = False) -> None:
    """Close, saying ``QUIT`` first (briefly) when ``polite``; never raises."""
    if polite and ftp.sock is not None:
        try:
            ftp.sock.settimeout(2.0)
            ftp.quit()
            return
        except (OSError, EOFError, ftplib.Error):
            pass
    with contextlib.suppress(OSError):
        ftp.close()


def abort(ftp: ftplib.FTP) -> None:
    """Shut the control socket from another thread so a blocked worker returns at once."""
    sock = ftp.sock
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
