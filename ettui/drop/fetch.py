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
import tempfile
import zipfile
import zlib
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ettui import paths
from ettui.aio import cancelling
from ettui.drop.client import is_own_file, local_error
from ettui.drop.progress import ProgressCallback
from ettui.drop.transport import (
    DropConnectionLost,
    DropTransport,
    DropUnreachable,
    LocalWriteError,
    RemoteEntry,
)
from ettui.drop.zipcheck import StreamingZipCheck
from ettui.errors import DropError

ClientSource = Callable[[], Awaitable[DropTransport]] | DropTransport
"""A connected-or-connectable transport (SFTP or FTPS), or an async factory returning one (e.g. ``SessionDrop.connect``)."""

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
    lock_dir: Path,
    progress: ProgressCallback | None = None,
    retries: int = 5,
    backoff_cap: float = 30.0,
    sleep: Sleep = asyncio.sleep,
) -> FetchResult:
    """Download ``remote_path`` into ``dest_dir``, resumably, then verify and rename.

    ``client_factory`` is a drop transport (``DropTransport``) or an async callable returning one;
    a client that is not connected is connected here, and after a break it is
    closed so the next attempt reconnects. The client is never closed at the end
    (its owner decides). ``lock_dir`` holds the lock file that keeps a second
    downloader of the same destination file out (``paths.download_locks_dir()``
    for every ettui process of a user: they must share it).
    """
    name = _local_name(remote_path)
    dest_dir = Path(dest_dir)
    final = dest_dir / name
    part = dest_dir / f"{name}.part"
    sidecar = dest_dir / f"{name}.part.json"
    try:
        _make_private_dirs(dest_dir)
    except OSError as exc:
        raise local_error(exc, final) from None
    key = hashlib.sha1(str(final.resolve()).encode()).hexdigest()
    try:
        lock = paths.ensure_private_dir(lock_dir) / f"{key}.lock"
    except OSError as exc:
        raise local_error(exc, lock_dir) from None
    with _exclusive(lock, name):
        return await _fetch(client_factory, remote_path, final, part, sidecar, progress, retries, backoff_cap, sleep)


@contextlib.contextmanager
def _exclusive(lock_path: Path, name: str) -> Iterator[None]:
    """One downloader per ``.part``: a second ettui (the UI and a CLI, say) would interleave writes."""
    try:
        fh = os.fdopen(os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600), "r+b")
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
    is_zip = name.lower().endswith(".zip")
    digest = _Sha256(is_zip)
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
            if digest.length != offset:
                # The .part is an exact prefix: hash it once, then keep hashing as bytes arrive.
                digest = await asyncio.to_thread(_hash_prefix, part, offset, is_zip)
            if offset < entry.size:
                await client.download(remote_path, part, offset=offset, progress=progress, digest=digest, size=entry.size)
                if cancelling():
                    raise asyncio.CancelledError  # a cancel the transport lost (see below): the fetch stops all the same
            have = _size(part) or 0
            if have != entry.size:
                # The remote file changed length under us; stat again and start over.
                _forget(sidecar)
                changed = True
                raise DropConnectionLost(f"{remote_path} changed size during the download ({have} of {entry.size} bytes).")
        except _TRANSIENT as exc:
            if cancelling():
                # A cancel the transport reported as a broken connection (Python 3.11's
                # wait_for returns the awaited read's error when it fails as the cancel
                # arrives): still a cancel; retrying would outlive whoever cancelled.
                raise asyncio.CancelledError from None
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

        if digest.length != entry.size:
            digest = await asyncio.to_thread(_hash_prefix, part, entry.size, is_zip)
        try:
            # The zip check and the flush to disk run side by side: both wait on the disk or a core.
            await asyncio.gather(asyncio.to_thread(_verify, part, name, digest.zip_check), asyncio.to_thread(_fsync_file, part))
        except _Corrupt as bad:
            if resumed and not fresh_retry_used:
                fresh_retry_used, resumed = True, False
                _forget(sidecar)
                _remove(part)
                digest = _Sha256(is_zip)
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
        return FetchResult(final, digest.hexdigest(), entry.size)


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
    """Size of the ``.part`` if it is a file ettui may resume; a planted link or foreign file is removed."""
    try:
        st = path.lstat()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise local_error(exc, path) from None
    if not is_own_file(st):
        _remove(path)  # the name only: a link's target is never touched
        return None
    return st.st_size


def _make_private_dirs(folder: Path) -> None:
    """Create ``folder`` and any missing parents as 0700 (they will hold subscriber data)."""
    missing: list[Path] = []
    at = folder
    while not at.exists():
        missing.append(at)
        if at.parent == at:
            break
        at = at.parent
    for level in reversed(missing):
        with contextlib.suppress(FileExistsError):
            level.mkdir(mode=0o700)
    if not folder.is_dir():
        raise NotADirectoryError(20, "Not a directory", str(folder))


class _Sha256:
    """SHA-256 fed in file order, counting the bytes it has seen; for a zip, its CRC check too."""

    def __init__(self, zip_check: bool = False) -> None:
        self._sha = hashlib.sha256()
        self.length = 0
        self.zip_check = StreamingZipCheck() if zip_check else None
        """Member CRCs checked as the bytes pass (see ``zipcheck``), so ``_verify`` need not read the file again."""

    def update(self, data: bytes | memoryview, /) -> None:
        self._sha.update(data)
        if self.zip_check is not None:
            self.zip_check.update(data)
        self.length += len(data)

    def hexdigest(self) -> str:
        return self._sha.hexdigest()


def _hash_prefix(part: Path, length: int, zip_check: bool = False) -> _Sha256:
    """The digest (and zip check) of the first ``length`` bytes of ``part`` (opened without following links)."""
    digest = _Sha256(zip_check)
    if length <= 0:
        return digest
    try:
        with os.fdopen(os.open(part, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC), "rb") as f:
            while digest.length < length and (chunk := f.read(min(1 << 20, length - digest.length))):
                digest.update(chunk)
    except OSError as exc:
        raise local_error(exc, part) from None
    return digest


def _read_sidecar(sidecar: Path) -> object:
    """The sidecar's JSON, if it is a regular file of ours (never a link, FIFO or device).

    ``O_NONBLOCK``: opening a FIFO someone planted in a shared download folder
    must not wait for a writer (it would hang the fetch and its event loop).
    """
    fd = os.open(sidecar, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as f:
        if not is_own_file(os.fstat(fd)):
            raise ValueError(f"{sidecar} is not a regular file of this user")
        return json.loads(f.read(64 * 1024).decode("utf-8"))


def _write_sidecar(sidecar: Path, record: dict[str, object]) -> None:
    """A private temp file, then rename: a planted ``.tmp`` or link is never written through."""
    fd, tmp = tempfile.mkstemp(dir=sidecar.parent, prefix=f".{sidecar.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(json.dumps(record))
        os.replace(tmp, sidecar)
    except BaseException:
        _remove(Path(tmp))
        raise


def _resume_offset(part: Path, sidecar: Path, remote_path: str, entry: RemoteEntry) -> int:
    """Bytes of ``part`` that can be kept: all of them if the sidecar proves the same remote file."""
    have = _size(part)
    want = {"remote_path": remote_path, "size": entry.size, "mtime": entry.mtime.isoformat()}
    if have is not None and have <= entry.size:
        try:
            if _read_sidecar(sidecar) == want:
                return have
        except (OSError, ValueError, RecursionError):
            pass  # no, unreadable or planted sidecar (deep JSON too): the .part's origin is unknown, start over
    try:
        _write_sidecar(sidecar, want)
    except OSError as exc:
        raise local_error(exc, part) from None
    return 0


class _Corrupt(Exception):
    """The downloaded bytes are not a valid zip."""


def _verify(part: Path, name: str, streamed: StreamingZipCheck | None = None) -> None:
    """For a zip, the CRC of every member: checked while downloading when it could be, else ``testzip``."""
    if not name.lower().endswith(".zip"):
        return
    try:
        checked = streamed.confirm(part) if streamed is not None else False
        if isinstance(checked, str):
            raise _Corrupt(checked)
        if checked:
            return
        with zipfile.ZipFile(part) as archive:
            bad = archive.testzip()
    except OSError as exc:
        raise local_error(exc, part) from None
    except (zipfile.BadZipFile, zlib.error, EOFError, ValueError, NotImplementedError) as exc:
        raise _Corrupt(str(exc) or type(exc).__name__) from None
    if bad is not None:
        raise _Corrupt(f"member {bad} fails its CRC check")


def _fsync_file(part: Path) -> None:
    try:
        fd = os.open(part, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        raise local_error(exc, part) from None


def _commit(part: Path, final: Path) -> None:
    """Rename atomically (``part`` is already flushed): ``final`` appears only when complete and durable."""
    try:
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
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


__all__ = ["FetchResult", "LocalWriteError", "fetch_file"]
