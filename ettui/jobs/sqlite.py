"""The SQLite backend of the job-store interface: ``JobStore`` run in one worker thread.

Every call runs on a single-thread executor, so the event loop never waits on
SQLite: not on a query, not on another process's write lock (the busy timeout
is up to 10 s). One thread keeps the calls in submission order, so a write and
the read after it see each other, and the connection needs no more than the
lock it already has.

``wait_for_change`` polls ``PRAGMA data_version`` (it moves when another
connection commits) a few times a second: cheap, and within the 3 s that a
board may lag behind another process.
"""

from __future__ import annotations

import asyncio
import builtins
import collections
import concurrent.futures
import functools
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from ettui.jobs.base import StatusFilter
from ettui.jobs.store import JobStore, StoreError
from ettui.model import Job, JobStatus

_T = TypeVar("_T")

CHANGE_CHECK_SECONDS = 0.25
"""How often ``wait_for_change`` looks at ``data_version``."""


class SqliteStore:
    """The async job store over one SQLite file (see ``ettui.jobs.base.AsyncJobStore``).

    Args:
        store: An open synchronous store; this object owns it from now on.
    """

    def __init__(self, store: JobStore) -> None:
        self.sync = store
        """The synchronous store (benchmarks and tests that set up data use it directly)."""
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="ettui-store")
        self._closed = False
        self._seen_data_version: int | None = None
        # Calls wait here and one worker job drains them all: under a poller's
        # burst of writes that is one thread wake-up and one hand-back to the
        # loop per batch instead of per call.
        self._queue: collections.deque[tuple[Callable[[], Any], asyncio.Future[Any]]] = collections.deque()
        self._draining = False
        self._loop: asyncio.AbstractEventLoop | None = None

    @classmethod
    async def open(cls, path: Path) -> SqliteStore:
        """Open (create, migrate) the file off the event loop."""
        return cls(await asyncio.to_thread(JobStore, path))

    @property
    def location(self) -> str:
        return str(self.sync.path)

    @property
    def status(self) -> str | None:
        return None  # a local file has no connection to lose

    @property
    def schema_version(self) -> int:
        return self.sync.schema_version

    async def _run(self, fn: Callable[..., _T], /, *args: Any, **kwargs: Any) -> _T:
        if self._closed and fn != self.sync.close:
            # A worker of a closing app (a drop listing, a poll) may still ask: one sentence, not a RuntimeError
            # from the shut-down executor.
            raise StoreError(f"The job store {self.sync.path} is closed (ettui is shutting down); nothing was changed.")
        loop = asyncio.get_running_loop()
        self._loop = loop
        future: asyncio.Future[_T] = loop.create_future()
        self._queue.append((functools.partial(fn, *args, **kwargs), future))
        if not self._draining:
            self._draining = True
            self._executor.submit(self._drain)
        return await future

    def _drain(self) -> None:
        """Worker thread: run every queued call in order, then hand the results back in one go."""
        loop = self._loop
        assert loop is not None
        while True:
            done: list[tuple[asyncio.Future[Any], bool, Any]] = []
            while True:
                try:
                    call, future = self._queue.popleft()
                except IndexError:
                    break
                try:
                    done.append((future, True, call()))
                except BaseException as exc:  # handed to the awaiting caller
                    done.append((future, False, exc))
            if done:
                loop.call_soon_threadsafe(_settle, done)
            # Stop only if nothing was queued after the last look (the loop
            # thread checks ``_draining`` before it submits a new drain).
            self._draining = False
            if not self._queue:
                return
            self._draining = True

    # -- writing ------------------------------------------------------------------

    async def add(
        self,
        *,
        profile: str,
        dialect: str,
        call: str,
        batch_id: str,
        submitted_at: datetime,
        request_doc: str,
        params: dict[str, str],
        submitted_by: str | None = None,
    ) -> Job:
        return await self._run(
            self.sync.add, profile=profile, dialect=dialect, call=call, batch_id=batch_id,
            submitted_at=submitted_at, request_doc=request_doc, params=params, submitted_by=submitted_by,
        )

    async def add_unconfirmed(
        self,
        *,
        profile: str,
        dialect: str,
        call: str,
        submitted_at: datetime,
        request_doc: str,
        params: dict[str, str],
        replaces_id: int | None = None,
        submitted_by: str | None = None,
    ) -> Job:
        return await self._run(
            self.sync.add, profile=profile, dialect=dialect, call=call, batch_id=None,
            submitted_at=submitted_at, request_doc=request_doc, params=params,
            status=JobStatus.UNCONFIRMED, replaces_id=replaces_id, submitted_by=submitted_by,
        )

    async def confirm(self, job_id: int, *, batch_id: str, at: datetime, request_doc: str | None = None) -> Job:
        return await self._run(self.sync.confirm, job_id, batch_id=batch_id, at=at, request_doc=request_doc)

    async def note(self, job_id: int, message: str | None) -> Job:
        return await self._run(self.sync.note, job_id, message)

    async def discard(self, job_id: int) -> bool:
        return await self._run(self.sync.discard, job_id)

    async def dismiss(self, job_id: int, *, at: datetime) -> Job:
        return await self._run(self.sync.dismiss, job_id, at=at)

    async def record_status(
        self,
        job_id: int,
        status: JobStatus,
        status_raw: str,
        at: datetime,
        *,
        file_name: str | None = None,
        message: str | None = None,
        next_poll: tuple[datetime | None, datetime | None] | None = None,
    ) -> tuple[Job, bool]:
        return await self._run(
            self.sync.record_status, job_id, status, status_raw, at,
            file_name=file_name, message=message, next_poll=next_poll,
        )

    async def record_poll(self, job_id: int, *, at: datetime, next_at: datetime | None, error: str | None = None) -> Job:
        return await self._then_get(job_id, self.sync.record_poll, job_id, at=at, next_at=next_at, error=error)

    async def record_download(self, job_id: int, *, path: str, sha256: str, fetched_by: str | None = None) -> Job:
        return await self._then_get(
            job_id, self.sync.record_download, job_id, path=path, sha256=sha256, fetched_by=fetched_by
        )

    async def record_extract(self, job_id: int, *, path: str) -> Job:
        return await self._then_get(job_id, self.sync.record_extract, job_id, path=path)

    async def set_expires(self, job_id: int, at: datetime | None) -> Job:
        return await self._then_get(job_id, self.sync.set_expires, job_id, at)

    async def _then_get(self, job_id: int, write: Callable[..., None], /, *args: Any, **kwargs: Any) -> Job:
        """Run a write and re-read the job in one trip to the worker thread."""

        def both() -> Job:
            write(*args, **kwargs)
            job = self.sync.get(job_id)
            if job is None:
                raise KeyError(f"no job {job_id}")
            return job

        return await self._run(both)

    async def import_job(self, job: Job) -> bool:
        return await self._run(self.sync.import_job, job)

    # -- leases -----------------------------------------------------------------------

    async def claim(
        self, job_ids: Iterable[int], *, holder: str, lease_seconds: float, limit: int | None = None
    ) -> set[int]:
        return await self._run(self.sync.claim, list(job_ids), holder=holder, lease_seconds=lease_seconds, limit=limit)

    async def renew(self, *, holder: str, lease_seconds: float) -> set[int]:
        return await self._run(self.sync.renew, holder=holder, lease_seconds=lease_seconds)

    async def release(self, *, holder: str, job_ids: Iterable[int] | None = None) -> None:
        await self._run(self.sync.release, holder=holder, job_ids=None if job_ids is None else list(job_ids))

    async def heartbeat(self, *, holder: str, profile: str, seconds: float) -> int:
        return await self._run(self.sync.heartbeat, holder=holder, profile=profile, seconds=seconds)

    async def claim_fetch(self, job_id: int, *, holder: str, lease_seconds: float) -> str | None:
        return await self._run(self.sync.claim_fetch, job_id, holder=holder, lease_seconds=lease_seconds)

    async def release_fetch(self, job_id: int, *, holder: str) -> None:
        await self._run(self.sync.release_fetch, job_id, holder=holder)

    # -- reading --------------------------------------------------------------------

    async def get(self, job_id: int) -> Job | None:
        return await self._run(self.sync.get, job_id)

    async def find(self, batch_id: str, profile: str | None = None) -> Job | None:
        return await self._run(self.sync.find, batch_id, profile)

    async def find_by_file(self, file_name: str, profile: str | None = None) -> Job | None:
        return await self._run(self.sync.find_by_file, file_name, profile)

    async def find_by_files(self, file_names: Iterable[str], profile: str | None = None) -> dict[str, Job]:
        return await self._run(self.sync.find_by_files, list(file_names), profile)

    async def list(
        self,
        *,
        status: StatusFilter = None,
        profile: str | None = None,
        since: datetime | None = None,
        limit: int | None = None,
        offset: int = 0,
        order: str = "submitted_at desc",
    ) -> builtins.list[Job]:
        return await self._run(
            self.sync.list, status=status, profile=profile, since=since, limit=limit, offset=offset, order=order
        )

    async def count(self, *, status: StatusFilter = None, profile: str | None = None, since: datetime | None = None) -> int:
        return await self._run(self.sync.count, status=status, profile=profile, since=since)

    async def live(self, profile: str | None = None) -> builtins.list[Job]:
        return await self._run(self.sync.live, profile)

    # -- other processes --------------------------------------------------------------

    async def changes(self, since: int) -> tuple[builtins.list[Job], int]:
        def read() -> tuple[builtins.list[Job], int]:
            # Read the data version first: a commit after it is then seen by the next wait.
            self._seen_data_version = self.sync.data_version()
            return self.sync.changes(since)

        return await self._run(read)

    async def wait_for_change(self, timeout: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        if self._seen_data_version is None:
            self._seen_data_version = await self._run(self.sync.data_version)
        while True:
            version = await self._run(self.sync.data_version)
            if version != self._seen_data_version:
                self._seen_data_version = version
                return
            left = deadline - loop.time()
            if left <= 0:
                return
            await asyncio.sleep(min(CHANGE_CHECK_SECONDS, left))

    # -- lifecycle ----------------------------------------------------------------------

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self._run(self.sync.close)
        self._executor.shutdown(wait=False)


def _settle(done: list[tuple[asyncio.Future[Any], bool, Any]]) -> None:
    """On the loop: resolve a batch of futures (a caller that gave up is skipped)."""
    for future, ok, value in done:
        if future.cancelled():
            continue
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)
