"""The poller on both backends: its schedule, the change feed, and leases (one poller per live job).

``store`` and ``open_another`` (tests/conftest.py) give SQLite and a real
PostgreSQL; two pollers on two store connections stand for two processes
(or hosts) following the same profile.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

from ettui.clock import ManualClock
from ettui.jobs.base import AsyncJobStore
from ettui.jobs.poller import Poller
from ettui.model import Job, JobStatus
from tests.unit.test_poller_support import T0, Recorder, ScriptedApi


async def add(store: AsyncJobStore, batch_id: str) -> Job:
    return await store.add(profile="main", dialect="xml", call="C1", batch_id=batch_id, submitted_at=T0,
                           request_doc="<x/>", params={}, submitted_by="ann@host1")  # fmt: skip


def poller(store: AsyncJobStore, api: ScriptedApi, clock: ManualClock, holder: str, **kw: Any) -> Poller:
    options: dict[str, Any] = {"initial": 5.0, "cap": 40.0, "jitter": 0.0, "rng": random.Random(7), "lease_seconds": 30.0}
    options.update(kw)
    return Poller(store, api, "main", clock=clock, holder=holder, **options)  # type: ignore[arg-type]


async def test_schedule_and_terminal_status_on_each_backend(store: AsyncJobStore) -> None:
    clock = ManualClock(T0)
    api = ScriptedApi()
    api.script("1", "Processing", "Processing", "Complete")
    p = poller(store, api, clock, "p1")
    job = await add(store, "1")
    p.track(job)
    waits = []
    for _ in range(3):
        wait = (p.schedule()[job.id] - clock.now()).total_seconds()
        waits.append(wait)
        clock.advance(wait)
        assert await p.sweep_once() == 1
    assert waits == [5, 5, 10] and job.id not in p.schedule()
    done = await store.get(job.id)
    assert done is not None and done.status is JobStatus.COMPLETE and done.file_name == "bulkasync_1_1_1.zip"
    assert [h.status_raw for h in done.history] == ["Scheduled", "Processing", "Complete"]
    await p.stop()


async def test_two_pollers_on_one_job_make_one_inquiry_and_both_see_it(store: AsyncJobStore, open_another: Any) -> None:
    clock = ManualClock(T0)
    api = ScriptedApi()
    api.script("1", "Processing", "Complete")
    other: AsyncJobStore = await open_another()
    first, second = poller(store, api, clock, "p1"), poller(other, api, clock, "p2")
    seen = Recorder(second)
    try:
        job = await add(store, "1")
        first.track(job)
        await second.feed.apply(0)  # the other process learns of it through the feed
        assert job.id in second.schedule()
        clock.advance(5)
        assert await first.sweep_once() == 1
        assert await second.sweep_once() == 0, "leased to the first poller"
        assert api.calls == ["1"]
        await second.feed.apply(0)
        moved = [e for e in seen.events if e.kind == "status"]
        assert moved and moved[-1].job is not None and moved[-1].job.status is JobStatus.PROCESSING
        assert second.schedule()[job.id] == first.schedule()[job.id], "it follows the holder's schedule"
        clock.advance(5)
        assert await second.sweep_once() == 0 and await first.sweep_once() == 1
        assert api.calls == ["1", "1"]
    finally:
        await first.stop()
        await second.stop()
        await other.aclose()


async def test_stop_releases_so_another_poller_takes_over_at_once(store: AsyncJobStore, open_another: Any) -> None:
    clock = ManualClock(T0)
    api = ScriptedApi("Processing")
    other: AsyncJobStore = await open_another()
    first, second = poller(store, api, clock, "p1"), poller(other, api, clock, "p2")
    try:
        job = await add(store, "1")
        first.track(job)
        second.track(job)
        clock.advance(5)
        assert await first.sweep_once() == 1 and await second.sweep_once() == 0
        await first.stop()
        clock.advance(7.5)  # the second's retry, a quarter lease on; the first's lease had 15 s to go
        assert await second.sweep_once() == 1
        assert api.calls == ["1", "1"]
    finally:
        await second.stop()
        await other.aclose()


async def test_a_dead_holder_loses_its_job_within_the_lease_time(store: AsyncJobStore, open_another: Any) -> None:
    """The first poller stops renewing (its process died): the second polls the job once the lease runs out."""
    clock = ManualClock(T0)
    api = ScriptedApi("Processing")
    other: AsyncJobStore = await open_another()
    dead, alive = poller(store, api, clock, "dead", lease_seconds=0.8), poller(other, api, clock, "alive", lease_seconds=0.8)
    try:
        job = await add(store, "1")
        dead.track(job)
        alive.track(job)
        clock.advance(5)
        assert await dead.sweep_once() == 1  # claimed for 0.6 s of the store's clock, never renewed
        clock.advance(0.2)
        assert await alive.sweep_once() == 0, "still the dead holder's"
        polled = 0
        for _ in range(400):  # each round is the retry of a claim; the lease runs out on the store's clock
            clock.advance(0.2)
            polled = await alive.sweep_once()
            if polled:
                break
            await asyncio.sleep(0.01)
        assert polled == 1 and api.calls == ["1", "1"]
    finally:
        await alive.stop()
        await other.aclose()


async def test_pollers_share_the_live_jobs_and_each_is_polled_once(store: AsyncJobStore, open_another: Any) -> None:
    clock = ManualClock(T0)
    api = ScriptedApi("Processing")
    other: AsyncJobStore = await open_another()
    first, second = poller(store, api, clock, "p1"), poller(other, api, clock, "p2")
    try:
        jobs = [await add(store, str(n)) for n in range(10)]
        for job in jobs:
            first.track(job)
            second.track(job)
        await first.leases.heartbeat()
        await second.leases.heartbeat()  # both are there before either claims
        clock.advance(5)
        assert await first.sweep_once() == 5 and await second.sweep_once() == 5
        assert sorted(api.calls) == sorted(str(job.batch_id) for job in jobs), "each job once, by one of them"
        assert await third_claims(store, jobs) == set(), "every job is leased"
    finally:
        await first.stop()
        await second.stop()
        await other.aclose()


async def third_claims(store: AsyncJobStore, jobs: list[Job]) -> set[int]:
    """What a third process could claim of these jobs now (releasing it again)."""
    got = await store.claim([job.id for job in jobs], holder="p3", lease_seconds=30)
    await store.release(holder="p3")
    return got


async def test_a_poller_that_took_everything_hands_back_the_excess(store: AsyncJobStore, open_another: Any) -> None:
    """The first poller started alone and holds every job; once a second is there, it keeps its share only."""
    clock = ManualClock(T0)
    api = ScriptedApi("Processing")
    other: AsyncJobStore = await open_another()
    first, second = poller(store, api, clock, "p1", lease_seconds=8.0), poller(other, api, clock, "p2", lease_seconds=8.0)
    try:
        jobs = [await add(store, str(n)) for n in range(10)]
        for job in jobs:
            first.track(job)
            second.track(job)
        clock.advance(5)
        assert await first.sweep_once() == 10  # alone: its share is everything
        await second.leases.heartbeat()
        await first.rebalance()  # now two: five are handed back
        assert len(first.leases.held) == 5
        await second.feed.apply(0)  # the second follows the first's schedule
        api.calls.clear()
        clock.advance(5)
        assert await first.sweep_once() == 5 and await second.sweep_once() == 5
        assert sorted(api.calls) == sorted(str(job.batch_id) for job in jobs)
        assert set(first.leases.held).isdisjoint(second.leases.held)
    finally:
        await first.stop()
        await second.stop()
        await other.aclose()


async def test_poll_now_of_a_job_another_process_holds_polls_it_here_once(
    store: AsyncJobStore, open_another: Any
) -> None:
    """The operator asks for a job the other process polls: one inquiry here, the lease stays the holder's."""
    clock = ManualClock(T0)
    api = ScriptedApi()
    api.script("1", "Processing", "Complete")
    other: AsyncJobStore = await open_another()
    holder, asker = poller(store, api, clock, "p1"), poller(other, api, clock, "p2")
    seen = Recorder(holder)
    try:
        job = await add(store, "1")
        holder.track(job)
        asker.track(job)
        clock.advance(5)
        assert await holder.sweep_once() == 1 and await asker.sweep_once() == 0
        asker.poll_now(job.id)
        assert await asker.sweep_once() == 1, "asked for: polled here although leased to p1"
        assert api.calls == ["1", "1"]
        assert await third_claims(store, [job]) == set(), "the lease is still the holder's"
        await holder.feed.apply(0)  # the holder sees the answer
        moved = [e for e in seen.events if e.kind == "status" and e.job is not None]
        assert moved[-1].job is not None and moved[-1].job.status is JobStatus.COMPLETE
        assert job.id not in holder.schedule()
    finally:
        await holder.stop()
        await asker.stop()
        await other.aclose()
