"""The SFTP download itself: reads pipelined to the path's bandwidth-delay product, written in order.

Reads are pipelined (as many in flight as the measured round trip needs, see
:func:`plan_transfer`) and their results are written strictly in order, so
after any break the local file is an exact prefix of the remote one and its
size is the resume offset. On a slow path a large remainder may be split: a
forked worker fetches the tail over its own connection (see ``segments``) and
it is appended, in order and through the digest, when the head is done.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from ettui.drop.localfile import _close_local, _open_local, flush_quietly, is_own_file, store
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
from ettui.drop.transport import Digest, DropConnectionLost
from ettui.errors import DropError

if TYPE_CHECKING:
    from ettui.drop._asyncssh_import import asyncssh
    from ettui.drop.client import DropClient

__all__ = [
    "BLOCK_SIZE",
    "MAX_IN_FLIGHT",
    "MAX_REQUESTS",
    "RATE_LOG",
    "WINDOW",
    "TransferPlan",
    "download",
    "plan_transfer",
]

BLOCK_SIZE = 256 * 1024
"""Bytes per SFTP read request; OpenSSH's sftp-server serves up to 256 KiB."""

MAX_REQUESTS = 32
"""SFTP reads kept in flight: 32 x 255 KiB = 8 MiB, enough for ~160 MB/s over a 50 ms
round trip. More bought nothing on 127.0.0.1 and pushes the in-flight data out of cache."""

TARGET_RATE = 500e6
"""Bytes per second the pipelining aims to sustain: a little more than one stream takes in here.

The stream moves ~440 MB/s on 127.0.0.1 since its one-copy receive path;
at 250e6 the reads in flight, not this computer, were the limit through
the delay proxy (whole fetch of 256 MiB: 2.19 -> 1.79 s at ~50 ms, 3.14 ->
2.87 s at ~150 ms, where MAX_IN_FLIGHT caps it).
"""

MAX_IN_FLIGHT = 48 * 1024 * 1024
"""Upper bound on requested-but-unread bytes, whatever the round trip."""

SYNC_EVERY = 32 * 1024 * 1024
"""Bytes between background ``fdatasync`` calls during a download."""

RATE_LOG = logging.getLogger("ettui.drop.rate")
"""Where a finished download says its rate and what limited it (``ettui fetch`` prints it on stderr)."""

WINDOW = 64 * 1024 * 1024
"""SSH channel window we advertise: the most data in flight on a long, fast path.

Only requested bytes ever travel (the requests in flight bound the memory), so
a window larger than loopback needs costs nothing there, and it lets
:func:`plan_transfer` raise the requests in flight to the bandwidth-delay
product of a far drop (OpenSSH's ~2 MB caps it at ~42 MB/s at 50 ms)."""

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


async def download(
    client: DropClient,
    remote: asyncssh.SFTPClientFile,
    remote_path: str,
    local_part: Path,
    *,
    offset: int,
    total: int,
    plan: TransferPlan,
    progress: ProgressCallback | None,
    digest: Digest | None,
    segment_of: int | None,
) -> None:
    """Copy ``[offset, total)`` of the open ``remote`` into ``local_part`` (see ``DropClient.download``)."""
    began = time.monotonic()
    base = segment_of or 0
    split = None if segment_of is not None else _plan_split(local_part, offset, total, plan.rtt, client.max_segments > 1)
    worker: SegmentWorker | None = None
    end = total
    if split is not None:
        end = split.split
        if split.tail_from < total:
            # Forked before this download's writer thread exists.
            worker = SegmentWorker(client, remote_path, segment_file(local_part, split.split), split.split, split.tail_from)
    try:
        local = _open_local(local_part, offset - base)
        try:
            tail_seen = _segment_size(segment_file(local_part, split.split)) if split is not None else None
            done = await _pipeline(client, remote, local, local_part, offset, end, plan, progress, digest, tail_seen)
        except (DropError, asyncio.CancelledError):
            raise
        except BaseException as exc:
            raise client.remote_error(exc, remote_path, what="file") from None
        finally:
            _close_local(local, local_part)
        if split is not None and done == end:
            outcome = await _wait_for_worker(worker, local_part, split.split, total, done, progress)
            worker = None
            seg = segment_file(local_part, split.split)
            done += await asyncio.to_thread(append_segment, local_part, seg, split.split, digest)
            if done < total:
                # The worker broke (or found no free connection): this stream fetches the rest.
                local = _open_local(local_part, done)
                try:
                    done = await _pipeline(client, remote, local, local_part, done, total, plan, progress, digest)
                finally:
                    _close_local(local, local_part)
            else:
                ProgressMeter(total, done, progress).finish(done)
            client.last_split = (split.split, outcome)
    finally:
        if worker is not None:
            worker.stop()  # its segment file keeps what it wrote: the next fetch resumes it
    if done < total:
        raise DropConnectionLost(f"{remote_path} ended at {done:,} of {total:,} bytes; it changed during the download.")
    took = time.monotonic() - began
    if segment_of is None and done - offset >= REPORT_FROM and took > 0:
        streams = " over 2 connections" if split is not None else ""
        RATE_LOG.info("%s%s: %s", remote_path.rsplit("/", 1)[-1], streams, plan.describe((done - offset) / took))


def _plan_split(local_part: Path, offset: int, total: int, rtt: float, enabled: bool) -> SegmentPlan | None:
    """Whether to split (see ``segments``); segment files that cannot be resumed are removed."""
    leftovers = leftover_segments(local_part)
    if offset == 0:
        remove_segments(local_part)  # a fresh start: no earlier segment belongs to this file
        leftovers = {}
    sizes = {start: path.stat().st_size for start, path in leftovers.items() if is_own_file(path.lstat())}
    split = plan_segments(offset, total, rtt, sizes, enabled=enabled)
    for start, path in leftovers.items():
        if split is None or start != split.split:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
    return split


async def _wait_for_worker(
    worker: SegmentWorker | None, local_part: Path, split: int, total: int, head: int, progress: ProgressCallback | None
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


async def _pipeline(
    client: DropClient,
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
    request (``lean_writes`` sends a batch in one write), which cut sshd's
    CPU for 256 MiB from ~0.35 s to ~0.29 s here. Each reply is written and
    hashed as it is taken, then its buffer goes back for a later reply.
    Every ``SYNC_EVERY`` bytes a worker thread flushes what was written so
    far, so the final fsync (in ``fetch``) has little left to do.
    """
    from ettui.drop._fast_start import read_block, recycle  # asyncssh is loaded by now

    meter = ProgressMeter(end, offset, progress)
    pending: deque[tuple[int, int, asyncio.Future[bytes | memoryview]]] = deque()
    issued = done = offset
    block, most = plan.block, plan.requests
    low = most - max(1, most // 4)
    flushing: asyncio.Future[None] | None = None
    synced = offset
    try:
        while pending or issued < end:
            if issued < end and len(pending) <= low:
                while issued < end and len(pending) < most:
                    size = min(block, end - issued)
                    pending.append((issued, size, read_block(remote, size, issued)))
                    issued += size
            at, size, task = pending.popleft()
            data = await client.bounded(task, f"downloading (at {at:,} bytes)")
            got = len(data)
            store(local, data, local_part, digest)  # keeps nothing of it:
            recycle(remote, data)
            done = at + got
            while got and done < at + size:
                # A short read (a server with a smaller read limit): fetch the rest of the block.
                data = await client.bounded(read_block(remote, at + size - done, done), f"downloading (at {done:,} bytes)")
                got = len(data)
                store(local, data, local_part, digest)
                recycle(remote, data)
                done += got
            if done < at + size:
                break  # EOF early: the remote file shrank
            if done - synced >= SYNC_EVERY and (flushing is None or flushing.done()):
                synced = done
                flushing = asyncio.ensure_future(asyncio.to_thread(flush_quietly, local))
            meter.update(done + also_done() if also_done is not None else done)
    finally:
        # Never leave reads running (or their errors unretrieved) after a break.
        for _, _, task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*(t for _, _, t in pending), return_exceptions=True)
        if flushing is not None:
            await asyncio.gather(flushing, return_exceptions=True)
    meter.finish(done + also_done() if also_done is not None else done)
    return done


def _segment_size(path: Path) -> Callable[[], int]:
    def size() -> int:
        try:
            return path.stat().st_size
        except OSError:
            return 0

    return size


def _mb(rate: float) -> str:
    return "any rate" if math.isinf(rate) else f"{rate / 1e6:.0f} MB/s"
