"""The local side of a download: the ``.part`` file, written in order (and hashed) off the event loop.

Module functions, so tests can inject ENOSPC/EACCES by replacing ``_write``
(both transports write through it).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import queue
import stat as stat_mod
import threading
from pathlib import Path
from typing import BinaryIO

from ettui.drop.transport import Digest, LocalWriteError

__all__ = ["Sink", "_close_local", "_open_local", "_write", "flush_quietly", "is_own_file", "local_error"]


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


def _write(local: BinaryIO, data: bytes | memoryview, path: Path) -> None:
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


def flush_quietly(local: BinaryIO) -> None:
    """``fdatasync`` what was written so far: durability early, off the loop (an error shows again at the final fsync)."""
    with contextlib.suppress(OSError, ValueError):
        os.fdatasync(local.fileno())


def local_error(exc: OSError, path: Path) -> LocalWriteError:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return LocalWriteError(f"The disk holding {path.parent} is full; free some space and fetch again to resume.")
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return LocalWriteError(f"ettui may not write to {path.parent}; choose another destination or fix its permissions.")
    return LocalWriteError(f"Writing {path} failed: {exc.strerror or exc}.")


class Sink:
    """Writes and hashes downloaded blocks in its own thread, strictly in order.

    Both the file write and ``hashlib`` release the GIL, so this work runs on
    the second core while the event loop decrypts the next packets (together
    about a third of the loop's time per byte when done inline). One thread
    keeps the order, so the ``.part`` stays an exact prefix and the digest
    matches it; at most ``depth`` blocks wait, so memory stays bounded. The
    first write error is raised by the next ``put`` or by ``drain``.

    A block is handed over with a queue put, nothing more: the event loop
    hears from the thread only when it waits for it (``depth`` blocks
    behind, or at ``drain``), not once per block as a future per block would
    make it (a wake-up of the loop and a cross-thread call each time).
    """

    def __init__(self, local: BinaryIO, path: Path, digest: Digest | None, depth: int = 8) -> None:
        self._local, self._path, self._digest = local, path, digest
        self._depth = depth
        self._loop = asyncio.get_running_loop()
        self._blocks: queue.SimpleQueue[bytes | memoryview | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._given = self._stored = 0
        self._error: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._wake_at = 0
        self._thread = threading.Thread(target=self._run, name="ettui-write", daemon=True)
        self._thread.start()

    def _store(self, data: bytes | memoryview) -> None:
        _write(self._local, data, self._path)
        if self._digest is not None:
            self._digest.update(data)

    def _run(self) -> None:
        while (data := self._blocks.get()) is not None:
            if self._error is None:
                try:
                    self._store(data)
                except BaseException as exc:
                    self._error = exc
            with self._lock:
                self._stored += 1
                waiter = self._waiter
                if waiter is not None and (self._stored >= self._wake_at or self._error is not None):
                    self._waiter = None
                    self._loop.call_soon_threadsafe(_wake, waiter)

    async def _stored_up_to(self, count: int) -> None:
        """Wait until the thread has taken ``count`` blocks (or failed)."""
        with self._lock:
            if self._stored >= count or self._error is not None:
                return
            waiter = self._waiter = self._loop.create_future()
            self._wake_at = count
        await waiter

    def _raise_error(self) -> None:
        if self._error is not None:
            raise self._error

    async def put(self, data: bytes | memoryview) -> None:
        self._raise_error()
        if not data:
            return
        with self._lock:
            self._given += 1
            behind = self._given - self._stored
        self._blocks.put(data)
        if behind > self._depth:
            await self._stored_up_to(self._given - self._depth // 2)  # then let it run ahead again
            self._raise_error()

    async def drain(self) -> None:
        await self._stored_up_to(self._given)
        self._raise_error()

    async def close(self) -> None:
        """Wait for what was queued (the .part keeps every byte handed over), then stop the thread."""
        try:
            await self._stored_up_to(self._given)
        finally:
            self._blocks.put(None)
            self._thread.join(1.0)  # nothing left to do (or a few blocks, if cancelled): it ends at once


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)
