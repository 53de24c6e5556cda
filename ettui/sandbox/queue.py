"""The sandbox's job queue: batch IDs, the status state machine, output files.

A job's status is a function of the sandbox clock: ``Scheduled`` for
``scheduled_seconds`` after submission, then ``Processing`` for
``processing_seconds``, then ``Complete`` (or ``Error`` for a deterministic
share of jobs). Moving the clock (``ScaledClock.advance``) moves every job.

The output zip is written in a worker thread the first time a job is seen past
its processing time (by an inquiry or the sandbox's ticker); until the file is
fully in place the job still reads ``Processing``. The zip is written under a
temporary name outside the served tree and renamed into the drop, so an SFTP
client never sees half a file. Its mtime is the nominal completion time on the
sandbox clock, which is what the retention sweep measures from.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from ettui.sandbox.clock import ScaledClock
from ettui.sandbox.data import OutputRequest, write_zip
from ettui.sandbox.faults import Faults
from ettui.sandbox.journal import Journal
from ettui.sandbox.options import SandboxOptions

SCHEDULED = "Scheduled"
PROCESSING = "Processing"
COMPLETE = "Complete"
ERROR = "Error"

FIRST_BATCH_ID = 552210
ERROR_MESSAGE = "The export failed; contact ExactTarget Support."


@dataclass
class SandboxBatch:
    """One accepted request and where it stands."""

    batch_id: int
    kind: str
    params: dict[str, str]
    status: str
    member_id: str
    folder: str
    """Drop-relative folder of the output, ``/``, ``/<member id>`` or e.g. ``/Export``."""
    submitted_at: datetime
    due_at: datetime
    """When processing ends on the sandbox clock (the file's timestamp and mtime)."""
    file_name: str | None = None
    """Known from submission (the name is fixed then) but reported only once Complete."""
    error_message: str | None = None
    completed_at: datetime | None = None
    records: int | None = None
    target_bytes: int | None = None
    will_fail: bool = False
    records_written: int | None = None

    @property
    def path(self) -> str:
        """Drop-relative path of the output file, e.g. ``/bulkasync_..._1.zip``."""
        folder = self.folder.rstrip("/")
        return f"{folder}/{self.file_name}"


class SandboxQueue:
    """Accepts jobs, moves them through their states and writes their output."""

    def __init__(
        self,
        options: SandboxOptions,
        clock: ScaledClock,
        faults: Faults,
        *,
        drop_dir: Path,
        work_dir: Path,
        journal: Path | None = None,
    ) -> None:
        """``work_dir`` is where zips are written before the rename (on the drop's file system);
        ``journal`` is the state file other processes share (``journal.py``), None for memory only."""
        self.options = options
        self.clock = clock
        self.faults = faults
        self.drop_dir = drop_dir
        self.work_dir = work_dir
        self._batches: dict[int, SandboxBatch] = {}
        self._pending: dict[int, asyncio.Future[int]] = {}
        self._next_id = FIRST_BATCH_ID + (options.seed % 1000) * 1000
        # Jobs not yet terminal, so the ticker does not scan finished ones.
        self._open: set[int] = set()
        self._names: set[tuple[str, str]] = set()
        # Our own small pool: a burst of finishing jobs must not starve the loop's
        # default executor, which the client side may share in tests and demos.
        self._writers = ThreadPoolExecutor(max_workers=2, thread_name_prefix="sandbox-writer")
        self._journal = Journal(journal) if journal else None
        self._sync()

    def _sync(self) -> None:
        """Take in what other processes sharing the journal accepted or finished."""
        if self._journal is None:
            return
        for entry in self._journal.read_new():
            if entry.get("op") == "submit":
                batch = _batch_from(entry)
                if batch.batch_id not in self._batches:
                    self._batches[batch.batch_id] = batch
                    self._open.add(batch.batch_id)
                    self._names.add((batch.folder, batch.file_name or ""))
                self._next_id = max(self._next_id, batch.batch_id + 1)
            elif entry.get("op") == "done" and (finished := self._batches.get(entry["batch_id"])):
                finished.status = entry["status"]
                finished.error_message = entry.get("error_message")
                finished.records_written = entry.get("records_written")
                finished.completed_at = finished.due_at
                self._open.discard(finished.batch_id)

    def __len__(self) -> int:
        return len(self._batches)

    def submit(
        self,
        kind: str,
        params: Mapping[str, str],
        *,
        member_id: str,
        folder: str,
        output_name: str | None = None,
        records: int | None = None,
    ) -> SandboxBatch:
        """Accept a job; it starts ``Scheduled``.

        ``folder`` is drop-relative (``/`` for the bulk-async root). With
        multi-account settings and the root folder, the file goes into the
        member-ID subfolder, as the vendor does for multi-account logins.
        ``output_name`` fixes the file name (SOAP extracts name their file).
        """
        with self._journal.locked() if self._journal else contextlib.nullcontext():
            self._sync()
            batch = self._accept(kind, params, member_id=member_id, folder=folder, output_name=output_name, records=records)
            if self._journal:
                self._journal.append({"op": "submit", **_batch_to(batch)})
        return batch

    def _accept(
        self,
        kind: str,
        params: Mapping[str, str],
        *,
        member_id: str,
        folder: str,
        output_name: str | None,
        records: int | None,
    ) -> SandboxBatch:
        batch_id = self._next_id
        self._next_id += 1
        now = self.clock.now()
        due = now + timedelta(seconds=self.options.scheduled_seconds + self.options.processing_seconds)
        folder = "/" + folder.strip("/")
        if folder == "/" and self.options.multi_account:
            folder = f"/{member_id}"
        if output_name:
            name = output_name
        else:
            # The name is to the millisecond; jobs submitted within the same one
            # would overwrite each other, so later ones land a millisecond later.
            name = _bulkasync_name(member_id, due)
            while (folder, name) in self._names:
                due += timedelta(milliseconds=1)
                name = _bulkasync_name(member_id, due)
        self._names.add((folder, name))
        draw = random.Random(f"{self.options.seed}:{batch_id}:error").random()
        batch = SandboxBatch(
            batch_id=batch_id,
            kind=kind,
            params=dict(params),
            status=SCHEDULED,
            member_id=member_id,
            folder=folder,
            submitted_at=now,
            due_at=due,
            file_name=name,
            records=records,
            will_fail=draw < self.faults.error_share,
        )
        self._batches[batch_id] = batch
        self._open.add(batch_id)
        return batch

    def skip_past(self, batch_id: int) -> None:
        """Never hand out ``batch_id`` or anything below it (a client still remembers those)."""
        self._next_id = max(self._next_id, batch_id + 1)

    def get(self, batch_id: int) -> SandboxBatch | None:
        """The job with its status brought up to the clock; None when unknown.

        Called from the event loop. It reads the journal's new lines (small
        reads, and a failed or finished job may append one) on the loop; the
        output zip itself is written by a writer thread it may start.
        """
        if batch_id not in self._batches or batch_id in self._open:
            self._sync()  # another process may have accepted or finished it
        batch = self._batches.get(batch_id)
        if batch is not None and batch_id in self._open:
            self._refresh(batch, self.clock.now())
        return batch

    def all(self) -> list[SandboxBatch]:
        """Every job, oldest first (including those other processes accepted)."""
        self._sync()
        return list(self._batches.values())

    def refresh_all(self) -> None:
        """Bring every open job up to the clock (the sandbox's ticker calls this)."""
        now = self.clock.now()
        for batch_id in list(self._open):
            self._refresh(self._batches[batch_id], now)

    async def settle(self) -> None:
        """Refresh every job and wait until every started file write has finished.

        Tests call this after ``clock.advance`` instead of sleeping.
        """
        self.refresh_all()
        await self.settle_writes()

    async def settle_writes(self) -> None:
        """Wait for every file write already started (no new ones)."""
        while self._pending:
            await asyncio.gather(*self._pending.values(), return_exceptions=True)
            await asyncio.sleep(0)  # let the done-callbacks run

    def close(self) -> None:
        """Release the writer threads (after ``settle_writes``)."""
        self._writers.shutdown(wait=True)

    # ------------------------------------------------------------ internals

    def _refresh(self, batch: SandboxBatch, now: datetime) -> None:
        scheduled_end = batch.submitted_at + timedelta(seconds=self.options.scheduled_seconds)
        if now < scheduled_end:
            batch.status = SCHEDULED
            return
        if now < batch.due_at:
            batch.status = PROCESSING
            return
        if batch.will_fail:
            batch.status = ERROR
            batch.error_message = ERROR_MESSAGE
            batch.completed_at = batch.due_at
            self._open.discard(batch.batch_id)
            self._record_done(batch)
            return
        batch.status = PROCESSING
        if batch.batch_id not in self._pending:
            self._start_write(batch)

    def _start_write(self, batch: SandboxBatch) -> None:
        assert batch.file_name is not None
        request = OutputRequest(
            kind=batch.kind,
            params=batch.params,
            batch_id=batch.batch_id,
            member_id=batch.member_id,
            seed=self.options.seed,
            completed_at=batch.due_at,
            member_name=batch.file_name.rsplit(".", 1)[0] + ".xml",
            records=batch.records if batch.records is not None else (
                None if self.options.record_bytes else self.options.records),
            target_bytes=None if batch.records is not None else self.options.record_bytes,
        )
        target = self.drop_dir / batch.folder.strip("/") / batch.file_name
        # The pid keeps two processes that share the root from writing one temp file.
        temp = self.work_dir / f".{batch.batch_id}.{os.getpid()}.zip.tmp"
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._writers, _write_atomically, request, temp, target, batch.due_at)
        self._pending[batch.batch_id] = future

        def done(fut: asyncio.Future[int]) -> None:
            self._pending.pop(batch.batch_id, None)
            if fut.cancelled():
                return
            error = fut.exception()
            if error is not None:
                # A disk problem is the sandbox's own failure: report it as the vendor would.
                batch.status = ERROR
                batch.error_message = f"{ERROR_MESSAGE} ({error.__class__.__name__})"
            else:
                batch.status = COMPLETE
                batch.records_written = fut.result()
            batch.completed_at = batch.due_at
            self._open.discard(batch.batch_id)
            self._record_done(batch)

        future.add_done_callback(done)


    def _record_done(self, batch: SandboxBatch) -> None:
        if self._journal is not None:
            self._journal.append(
                {"op": "done", "batch_id": batch.batch_id, "status": batch.status,
                 "error_message": batch.error_message, "records_written": batch.records_written}
            )


_PERSISTED = ("batch_id", "kind", "params", "member_id", "folder", "file_name", "records", "target_bytes", "will_fail")


def _batch_to(batch: SandboxBatch) -> dict[str, Any]:
    entry: dict[str, Any] = {key: getattr(batch, key) for key in _PERSISTED}
    entry["submitted_at"] = batch.submitted_at.isoformat()
    entry["due_at"] = batch.due_at.isoformat()
    return entry


def _batch_from(entry: dict[str, Any]) -> SandboxBatch:
    # A journal entry is decoded JSON: its values are as untyped as the file.
    persisted: dict[str, Any] = {key: entry.get(key) for key in _PERSISTED}
    return SandboxBatch(
        status=SCHEDULED,
        submitted_at=datetime.fromisoformat(entry["submitted_at"]),
        due_at=datetime.fromisoformat(entry["due_at"]),
        **persisted,
    )


def _bulkasync_name(member_id: str, due: datetime) -> str:
    """``bulkasync_<mid>_<yyyyMMddHHmmssfff>_1.zip`` (spec §4, vendor example)."""
    return f"bulkasync_{member_id}_{due.strftime('%Y%m%d%H%M%S')}{due.microsecond // 1000:03d}_1.zip"


def _write_atomically(request: OutputRequest, temp: Path, target: Path, mtime: datetime) -> int:
    """Write the zip under ``temp``, stamp its mtime, then rename it into place."""
    temp.parent.mkdir(parents=True, exist_ok=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        count = write_zip(temp, request)
        stamp = mtime.timestamp()
        os.utime(temp, (stamp, stamp))
        os.replace(temp, target)
    finally:
        temp.unlink(missing_ok=True)
    return count


@dataclass
class RetentionPolicy:
    """How long drop files live, on the sandbox clock."""

    hours: float = 72.0
    export_hours: float = 504.0
    """Files under ``/Export`` (the Enhanced FTP extract folder) live 21 days."""
    export_folder: str = "Export"


def sweep(drop_dir: Path, now: datetime, policy: RetentionPolicy) -> list[str]:
    """Delete drop files whose mtime is older than the retention; return their drop paths.

    Symlinks are never followed or removed (the sandbox makes none; a test
    may plant one).
    """
    removed: list[str] = []
    now_ts = now.timestamp()
    for dirpath, _dirs, files in os.walk(drop_dir):
        rel_dir = Path(dirpath).relative_to(drop_dir)
        top = rel_dir.parts[0] if rel_dir.parts else ""
        limit = (policy.export_hours if top == policy.export_folder else policy.hours) * 3600
        for name in files:
            path = Path(dirpath) / name
            try:
                info = path.lstat()
            except FileNotFoundError:
                continue
            if path.is_symlink():
                continue
            if now_ts - info.st_mtime > limit:
                path.unlink(missing_ok=True)
                removed.append("/" + (rel_dir / name).as_posix())
    return removed
