"""Shared pieces of the poller tests: a scripted ``BatchApi`` stand-in and helpers.

The fake only answers ``inquire``: these tests are about the poller's
scheduling; the protocol boundary is tested against the sandbox elsewhere.
"""

from __future__ import annotations

import asyncio
import random
from collections import deque
from datetime import UTC, datetime
from pathlib import Path

from ettui.clock import ManualClock
from ettui.jobs.poller import JobEvent, Poller
from ettui.jobs.sqlite import SqliteStore
from ettui.jobs.store import JobStore
from ettui.model import Inquiry, Job, JobStatus

T0 = datetime(2026, 1, 1, tzinfo=UTC)

Outcome = str | Exception


class ScriptedApi:
    """Answers each batch from a per-batch script (then ``default``), counting requests in flight."""

    dialect = "xml"

    def __init__(self, default: Outcome = "Scheduled") -> None:
        self.default = default
        self.scripts: dict[str, deque[Outcome]] = {}
        self.calls: list[str] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.gate: asyncio.Event | None = None
        """When set (an Event), every request waits for it: lets a test hold requests open."""

    def script(self, batch_id: str, *outcomes: Outcome) -> None:
        self.scripts.setdefault(batch_id, deque()).extend(outcomes)

    async def inquire(self, batch_id: str) -> Inquiry:
        self.calls.append(batch_id)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.gate is not None:
                await self.gate.wait()
            else:
                for _ in range(3):  # let other polls start and overlap
                    await asyncio.sleep(0)
            queue = self.scripts.get(batch_id)
            outcome = queue.popleft() if queue else self.default
            if isinstance(outcome, Exception):
                raise outcome
            status = JobStatus.parse(outcome)
            file_name = f"bulkasync_1_{batch_id}_1.zip" if status is JobStatus.COMPLETE else None
            message = "No data for the range" if status is JobStatus.ERROR else None
            return Inquiry(batch_id, status, outcome, file_name=file_name, message=message)
        finally:
            self.in_flight -= 1

    async def aclose(self) -> None:
        pass


def add_job(store: JobStore, batch_id: str, *, profile: str = "main", at: datetime = T0) -> Job:
    return store.add(
        profile=profile,
        dialect="xml",
        call="C1",
        batch_id=batch_id,
        submitted_at=at,
        request_doc="<x/>",
        params={},
    )


def make_poller(store: JobStore, api: ScriptedApi, clock: ManualClock, **kw: object) -> Poller:
    options: dict[str, object] = {"initial": 5.0, "cap": 40.0, "jitter": 0.0, "rng": random.Random(7)}
    options.update(kw)
    return Poller(as_async(store), api, "main", clock=clock, **options)  # type: ignore[arg-type]


def as_async(store: JobStore) -> SqliteStore:
    """The async interface over a sync store the test also reads and writes directly."""
    return SqliteStore(store)


class Recorder:
    """Collects events, and lets a test await the next one of a kind (no sleeping)."""

    def __init__(self, poller: Poller) -> None:
        self.events: list[JobEvent] = []
        self._waiting: list[tuple[str, asyncio.Future[JobEvent]]] = []
        self.unsubscribe = poller.subscribe(self)

    def __call__(self, event: JobEvent) -> None:
        self.events.append(event)
        for kind, fut in list(self._waiting):
            if kind == event.kind and not fut.done():
                fut.set_result(event)
                self._waiting.remove((kind, fut))

    @property
    def kinds(self) -> list[str]:
        return [e.kind for e in self.events]

    async def next(self, kind: str) -> JobEvent:
        fut: asyncio.Future[JobEvent] = asyncio.get_running_loop().create_future()
        self._waiting.append((kind, fut))
        # The timeout only turns a hang into a failure; passing tests never wait on it.
        return await asyncio.wait_for(fut, timeout=10)


def store_at(tmp_path: Path) -> JobStore:
    return JobStore(tmp_path / "jobs.sqlite3")
