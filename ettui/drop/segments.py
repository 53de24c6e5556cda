"""Segmented download: the tail of a large file over a second connection, in a second process.

Where it helps, measured (``bench/download_parallel.py``, 2 cores under
load): at ~50 ms round trip two streams moved 155 MB/s against one stream's
121 (median); on loopback none (178 vs 184): one Python process decrypts on
one core, so only a second *process* adds CPU, and only a slow path leaves
CPU to add. So a download splits only when the round trip is at least
``MIN_RTT`` and what is left is at least ``MIN_BYTES``, and only for a
client made with ``max_segments=2``: in the whole ``ettui fetch`` command
the split measured no gain here (the fork, the second login and appending
the tail eat what the second stream adds), so it is off by default.

The ``.part`` stays an exact prefix of the remote file (its size is the
resume point, as everywhere else): the worker writes the tail ``[start, end)``
into its own file ``<name>.part.seg<start>``, which is itself an exact prefix
of that segment (its size is the segment's resume point, and the file name
records where it starts). When the head is complete, the segment's bytes are
appended to the ``.part`` in order, passing through the same digest (sha256
and the zip check), and the segment file is removed. If the worker breaks,
whatever it wrote is appended the same way and the main stream downloads
the rest. The worker takes its own slot of the connection budget, without
waiting: when none is free, nothing splits.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ettui.drop.localfile import _write, is_own_file, local_error

if TYPE_CHECKING:
    from ettui.drop.client import DropClient
    from ettui.drop.transport import Digest

MIN_RTT = 0.010
"""Split only on a path at least this slow (on loopback a second stream bought nothing)."""

MIN_BYTES = 64 * 1024 * 1024
"""Split only when at least this much is left (a worker's start-up costs ~0.3 s and a login)."""

WORKER_SHARE = 0.45
"""The most of what is left the worker takes (it starts later, and its bytes are hashed after the head's)."""

STREAM_RATE = 100e6
"""Bytes per second one stream is assumed to move, to size the worker's share (measured 65-130 here)."""

APPEND_RATE = 400e6
"""Bytes per second appending a segment (read back, sha256, zip CRC, write) runs at, after the head."""

START_TRIPS = 10
"""Round trips before a worker's first byte (login, SFTP, open), plus ``START_SECONDS`` to fork."""

START_SECONDS = 0.2

_SEG = re.compile(r"\.seg(\d+)$")


@dataclass(frozen=True)
class SegmentPlan:
    """The head ``[offset, split)`` for this process; the tail from ``split`` for the worker, resuming at ``tail_have``."""

    split: int
    tail_have: int

    @property
    def tail_from(self) -> int:
        return self.split + self.tail_have


def segment_file(part: Path, start: int) -> Path:
    return part.with_name(f"{part.name}.seg{start}")


def leftover_segments(part: Path) -> dict[int, Path]:
    """Segment files beside ``part``, by the offset they start at."""
    found: dict[int, Path] = {}
    with contextlib.suppress(OSError):
        for entry in part.parent.iterdir():
            if entry.name.startswith(part.name + ".seg") and (m := _SEG.search(entry.name)):
                found[int(m.group(1))] = entry
    return found


def remove_segments(part: Path) -> None:
    for path in leftover_segments(part).values():
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def plan_segments(offset: int, size: int, rtt: float, leftovers: dict[int, int], *, enabled: bool = True) -> SegmentPlan | None:
    """Where to split ``[offset, size)``, or None to download it in one stream.

    ``leftovers`` maps the start of each segment file already on disk to its
    size: the one that lies ahead of ``offset`` is resumed (same split), so a
    broken segmented download loses nothing; others are useless.
    """
    for start, have in sorted(leftovers.items()):
        if offset <= start < size and start + have <= size:
            return SegmentPlan(split=start, tail_have=have)
    left = size - offset
    if not enabled or rtt < MIN_RTT or left < MIN_BYTES:
        return None
    # Both should finish together: the head's download plus appending the tail
    # against the worker's late start plus the tail's download.
    late = START_TRIPS * rtt + START_SECONDS
    tail = (left / STREAM_RATE - late) / (2 / STREAM_RATE - 1 / APPEND_RATE)
    tail = min(tail, left * WORKER_SHARE)
    if tail < MIN_BYTES / 4:
        return None  # the worker would start too late to matter (a far path, a smallish file)
    split = size - int(tail)
    split -= split % (1 << 20)  # a whole MiB: tidy offsets for both streams
    return SegmentPlan(split=max(split, offset + 1), tail_have=0)


# -- the worker process ------------------------------------------------------


def _worker_main(options: dict[str, Any], remote_path: str, seg: str, start: int, resume_at: int, result: Any) -> None:
    """In the child: connect (own budget slot, never waiting), download ``[resume_at, end)`` into ``seg``.

    ``seg`` starts at ``start``.
    """
    from ettui.drop.client import DropClient

    async def run() -> str:
        client = DropClient(**options)
        if client.budget is not None:
            slot = client.budget.try_acquire()
            if slot is None:
                return "no-slot"
            client.adopt_slot(slot)  # released by close(), or by the kernel at exit
        try:
            await client.connect()
            await client.download(remote_path, Path(seg), offset=resume_at, segment_of=start)
        finally:
            await client.close()
        return "done"

    try:
        result.send(asyncio.run(run()))
    except BaseException as exc:  # the parent downloads what is missing; it only needs to know
        with contextlib.suppress(BaseException):
            result.send(f"failed: {type(exc).__name__}")
    finally:
        result.close()
        os._exit(0)  # no atexit or inherited-loop clean-up of the parent's state in the fork


class SegmentWorker:
    """A forked process downloading one tail segment into its own file."""

    def __init__(self, client: DropClient, remote_path: str, seg: Path, start: int, resume_at: int) -> None:
        import multiprocessing  # here, not at start-up: only a split download pays for it

        ctx = multiprocessing.get_context("fork")  # imports already done: the child starts at once
        self._recv, send = ctx.Pipe(duplex=False)
        self._proc = ctx.Process(
            target=_worker_main,
            args=(client.worker_options(), remote_path, str(seg), start, resume_at, send),
            daemon=True,
        )
        self._proc.start()
        send.close()

    async def wait(self) -> str:
        """``done``, ``no-slot`` or ``failed: ...``, once the worker exits."""
        def join() -> str:
            try:
                outcome = str(self._recv.recv())
            except (EOFError, OSError):
                outcome = "failed: exited"
            self._proc.join()
            return outcome

        return await asyncio.to_thread(join)

    def stop(self) -> None:
        if self._proc.is_alive():
            self._proc.kill()
        self._proc.join()
        self._recv.close()


def append_segment(part: Path, seg: Path, at: int, digest: Digest | None) -> int:
    """Append ``seg`` to ``part`` (which must be ``at`` bytes long), through ``digest``; remove ``seg``. Bytes appended."""
    moved = 0
    try:
        fd = os.open(seg, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        with os.fdopen(fd, "rb") as source, open(part, "r+b", buffering=0) as target:
            if not is_own_file(os.fstat(fd)) or os.fstat(target.fileno()).st_size != at:
                return 0
            target.seek(at)
            while chunk := source.read(4 << 20):
                _write(target, chunk, part)
                if digest is not None:
                    digest.update(chunk)
                moved += len(chunk)
        seg.unlink()
    except FileNotFoundError:
        return moved
    except OSError as exc:
        raise local_error(exc, part) from None
    return moved


__all__ = [
    "SegmentPlan",
    "SegmentWorker",
    "append_segment",
    "leftover_segments",
    "plan_segments",
    "remove_segments",
    "segment_file",
]
