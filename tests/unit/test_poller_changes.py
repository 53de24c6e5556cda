"""The poller's change feed: what another process writes to the store is announced here too."""

from __future__ import annotations

from pathlib import Path

from ettui.clock import ManualClock
from ettui.jobs.store import JobStore
from ettui.model import JobStatus
from tests.unit.test_poller_support import T0, Recorder, ScriptedApi, add_job, make_poller, store_at


async def test_a_job_finished_by_another_process_is_announced_while_paused(tmp_path: Path) -> None:
    clock = ManualClock(T0)
    with store_at(tmp_path) as store:
        job = add_job(store, "1")
        api = ScriptedApi("Scheduled")
        poller = make_poller(store, api, clock)
        events = Recorder(poller)
        poller.track(job)
        poller.pause()
        poller.start()
        try:
            with JobStore(store.path) as other:  # another ettui process polled it to Complete
                other.record_status(job.id, JobStatus.COMPLETE, "Complete", T0, file_name="f.zip")
                status = await events.next("status")
                assert status.job is not None and status.job.status is JobStatus.COMPLETE
                assert status.previous is JobStatus.SCHEDULED
                assert job.id not in poller.schedule(), "finished elsewhere: never polled again"
                fresh = other.add(profile="main", dialect="xml", call="C1", batch_id="2", submitted_at=T0,
                                  request_doc="", params={})
                submitted = await events.next("submitted")
                assert submitted.job is not None and submitted.job.id == fresh.id
                assert fresh.id in poller.schedule()
                elsewhere = other.add(profile="other", dialect="xml", call="C1", batch_id="3", submitted_at=T0,
                                      request_doc="", params={})
                other.record_status(fresh.id, JobStatus.PROCESSING, "Processing", T0)
                moved = await events.next("status")
                assert moved.job is not None and moved.job.id == fresh.id
                assert all(e.job is None or e.job.id != elsewhere.id for e in events.events), "another profile's job"
            assert api.calls == [], "paused: nothing was sent"
        finally:
            await poller.stop()


async def test_its_own_writes_are_not_announced_twice(tmp_path: Path) -> None:
    clock = ManualClock(T0)
    with store_at(tmp_path) as store:
        job = add_job(store, "1")
        poller = make_poller(store, ScriptedApi("Processing"), clock)
        events = Recorder(poller)
        poller.track(job)
        poller.poll_now(job.id)
        assert await poller.sweep_once() == 1
        _, _cursor = await poller.store.changes(0)
        await poller.feed.apply(0)
        assert events.kinds == ["submitted", "status"], "the feed's copy of our own poll is not news"
