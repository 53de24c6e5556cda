"""Download orchestration: ``.part`` file, resume, retry, verify, atomic rename.

The contract: a file named ``<name>`` in the destination is always complete and
verified. Until then the bytes live in ``<name>.part`` beside a tiny sidecar,
``<name>.part.json``, that records which remote file (path, size, mtime) those
bytes came from. A later fetch resumes from the ``.part`` size only when the
remote file is provably the same; otherwise it starts again from zero.

Failure policy:

* a broken connection (or a drop that refuses/times out *after* we were
  connected once) is retried with capped exponential back-off; an attempt
  that moved bytes forward resets the count, so a flaky link that keeps
  progressing always finishes;
* an expired/vanished remote file, a full disk, a permission error: one
  sentence (``DropError``), ``.part`` and sidecar kept so the next fetch resumes;
* a zip that fails verification (truncated, bad CRC): if the download had been
  resumed, it is fetched once more from scratch (the splice is the suspect);
  otherwise ``.part`` is renamed ``<name>.corrupt`` and ``DropError`` raised.
  The ``.corrupt`` name keeps the evidence yet can never be mistaken for a good
  download, and the next fetch starts fresh instead of "resuming" a bad file.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import json
import os
import posixpath
import zipfile
import zlib
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ettui.drop.progress import ProgressCallback
from ettui.drop.client import local_error
from ettui.drop.transport import (
    DropConnectionLost,
    DropTransport,
    DropUnreachable,
    LocalWriteError,
    RemoteEntry,
)
from ettui import paths
from ettui.errors import DropError

ClientSource = Callable[[], Awaitable[DropTransport]] | DropTransport
"""A connected-or-connectable transport (SFTP or FTPS), or an async factory returning one (e.g. ``Session._drop_client``)."""

Sleep = Callable[[float], Awaitable[Any]]

_TRANSIENT = (DropConnectionLost, DropUnreachable)


@dataclass(frozen=True)
class FetchResult:
    """A complete, verified download."""

    path: Path
    sha256: str
    """Hex digest of the whole file."""
    size: int


async def fetch_file(
    client_factory: ClientSource,
    remote_path: str,
    dest_dir: Path,
    *,
    progress: ProgressCallback | None = None,
    retries: int = 5,
    backoff_cap: float = 30.0,
    sleep: Sleep = asyncio.sleep,
) -> FetchResult:
    """Download ``remote_path`` into ``dest_dir``, resumably, then verify and rename.

    ``client_factory`` is a drop transport (``DropTransport``) or an async callable returning one;
    a client that is not connected is connected here, and after a break it is
    closed so the next attempt reconnects. The client is never closed at the end
    (its owner decides).
    """
    name = _local_name(remote_path)
    dest_dir = Path(dest_dir)
    final = dest_dir / name
    part = dest_dir / f"{name}.part"
    sidecar = dest_dir / f"{name}.part.json"
    try:
        dest_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise local_error(exc, final) from None
    key = hashlib.sha1(str(final.resolve()).encode()).hexdigest()
    with _exclusive(paths.ensure_private_dir(paths.state_dir() / "locks") / f"{key}.lock", name):
        return await _fetch(client_factory, remote_path, final, part, sidecar, progress, retries, backoff_cap, sleep)


@contextlib.contextmanager
def _exclusive(lock_path: Path, name: str) -> Iterator[None]:
    """One downloader per ``.part``: a second ettui (the UI and a CLI, say) would interleave writes."""
    try:
        fh = open(lock_path, "a+b")
    except OSError as exc:
        raise local_error(exc, lock_path) from None
    try:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise DropError(f"Another ettui is already downloading {name} to the same folder; let it finish.") from None
        yield
    finally:
        # The lock file stays (in the state dir, not beside the download):
        # unlinking it would let a third process lock a new inode while a
        # second still holds the old one.
        fh.close()


async def _fetch(
    client_factory: ClientSource,
    remote_path: str,
    final: Path,
    part: Path,
    sidecar: Path,
    progress: ProgressCallback | None,
    retries: int,
    backoff_cap: float,
    sleep: Sleep,
) -> FetchResult:
    name = final.name
    dest_dir = final.parent
    failures = 0
    connected_once = False
    fresh_retry_used = False
    resumed = False
    while True:
        client: DropTransport | None = None
        before = _size(part)
        changed = False
        try:
            client = await _client(client_factory)
            connected_once = True
            entry = await client.stat(remote_path)
            if entry.is_dir:
                raise DropError(f"{remote_path} on the drop is a folder, not a file to download.")
            offset = _resume_offset(part, sidecar, remote_path, entry)
            resumed = resumed or offset > 0
            if offset < entry.size:
                await client.download(remote_path, part, offset=offset, progress=progress)
            have = _size(part) or 0
            if have != entry.size:
                # The remote file changed length under us; stat again and start over.
                _forget(sidecar)
                changed = True
                raise DropConnectionLost(f"{remote_path} changed size during the download ({have} of {entry.size} bytes).")
        except _TRANSIENT as exc:
            if isinstance(exc, DropUnreachable) and not connected_once:
                raise  # a wrong host or a server that is down: say so now, do not wait
            if client is not None:
                await client.close()
            if not changed and (_size(part) or 0) > (before or 0):
                failures = 0  # bytes moved: the link works, keep going
            failures += 1
            if failures > retries:
                have = _size(part) or 0
                raise DropError(
                    f"Downloading {name} failed {failures} times in a row ({exc.message}); "
                    f"fetch again to resume from {have:,} bytes."
                ) from None
            await sleep(min(backoff_cap, 2.0 ** (failures - 1)))
            continue

        try:
            digest = await asyncio.to_thread(_verify, part, name)
        except _Corrupt as bad:
            if resumed and not fresh_retry_used:
                fresh_retry_used, resumed = True, False
                _forget(sidecar)
                _remove(part)
                continue
            corrupt = dest_dir / f"{name}.corrupt"
            os.replace(part, corrupt)
            _forget(sidecar)
            raise DropError(
                f"{name} downloaded completely but is not a valid zip ({bad}); kept as {corrupt.name} — fetch again, "
                "and if it fails the same way the file on the drop is damaged."
            ) from None
        await asyncio.to_thread(_commit, part, final)
        _forget(sidecar)
        return FetchResult(final, digest, entry.size)


async def _client(source: ClientSource) -> DropTransport:
    client = source if isinstance(source, DropTransport) else await source()
    if not client.connected:
        await client.connect()
    return client


def _local_name(remote_path: str) -> str:
    """The file name to save under; refuses names that would leave the destination."""
    name = posixpath.basename(remote_path.rstrip("/"))
    if not name or name in (".", "..") or "\\" in name or "\0" in name or os.sep in name:
        raise DropError(f"{remote_path!r} does not name a file that can be saved locally.")
    return name


def _size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return None


def _resume_offset(part: Path, sidecar: Path, remote_path: str, entry: RemoteEntry) -> int:
    """Bytes of ``part`` that can be kept: all of them if the sidecar proves the same remote file."""
    have = _size(part)
    want = {"remote_path": remote_path, "size": entry.size, "mtime": entry.mtime.isoformat()}
    if have is not None and have <= entry.size:
        try:
            if json.loads(sidecar.read_text(encoding="utf-8")) == want:
                return have
        except (OSError, ValueError):
            pass  # no or unreadable sidecar: the .part's origin is unknown, start over
    try:
        tmp = sidecar.with_name(sidecar.name + ".tmp")
        tmp.write_text(json.dumps(want), encoding="utf-8")
        os.replace(tmp, sidecar)
    except OSError as exc:
        raise local_error(exc, part) from None
    return 0


class _Corrupt(Exception):
    """The downloaded bytes are not a valid zip."""


def _verify(part: Path, name: str) -> str:
    """SHA-256 of the file; for a zip also the CRC of every member (``testzip``)."""
    sha = hashlib.sha256()
    try:
        with open(part, "rb") as f:
            while chunk := f.read(1 << 20):
                sha.update(chunk)
    except OSError as exc:
        raise local_error(exc, part) from None
    if name.lower().endswith(".zip"):
        try:
            with zipfile.ZipFile(part) as archive:
                bad = archive.testzip()
        except (zipfile.BadZipFile, zlib.error, EOFError, ValueError, NotImplementedError) as exc:
            raise _Corrupt(str(exc) or type(exc).__name__) from None
        if bad is not None:
            raise _Corrupt(f"member {bad} fails its CRC check")
    return sha.hexdigest()


def _commit(part: Path, final: Path) -> None:
    """Flush, then rename atomically: ``final`` appears only when complete and durable."""
    try:
        fd = os.open(part, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(part, final)
        dir_fd = os.open(final.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError as exc:
        raise local_error(exc, final) from None


def _forget(sidecar: Path) -> None:
    _remove(sidecar)


def _remove(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass


__all__ = ["FetchResult", "fetch_file", "LocalWriteError"]
