"""The local side of a download: the ``.part`` file, written and hashed in order as the bytes arrive.

Module functions, so tests can inject ENOSPC/EACCES by replacing ``_write``
(both transports write through it).
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat as stat_mod
from pathlib import Path
from typing import BinaryIO

from ettui.drop.transport import Digest, LocalWriteError

__all__ = ["_close_local", "_open_local", "_write", "flush_quietly", "is_own_file", "local_error", "store"]


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


def store(local: BinaryIO, data: bytes | memoryview, path: Path, digest: Digest | None) -> None:
    """Append ``data`` to the ``.part`` and feed it to ``digest``, in the caller's thread.

    In the event loop's thread, on purpose: a writer thread (tried, with a
    queue) let the two share the work, but each of its write and hash calls
    handed the GIL back and forth with the loop's decrypts (~9,000 futex
    calls per 256 MiB); with the loop's own share small since the lean
    receive path, that cost more than the second core bought (whole
    ``fetch`` 1.17 s -> 1.08 s median, interleaved rounds; see
    docs/benchmarks.md), and the block is hashed while it is still in cache.
    """
    _write(local, data, path)
    if digest is not None:
        digest.update(data)


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
