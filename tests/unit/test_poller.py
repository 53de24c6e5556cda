"""The poller's schedule, back-off, failures and throttling, driven by ``sweep_once`` and a manual clock."""

from __future__ import annotations

import asyncio
import random
from datetime import timedelta
from pathlib import Path

import pytest

from ettui.clock import ManualClock
from ettui.errors import ApiConnectionError, AuthError, MalformedReplyError, ServiceError, ThrottledError
from ettui.jobs.poller import Poller
from ettui.model import JobStatus
from tests.unit.test_poller_support import T0, Recorder, ScriptedApi, add_job, as_async, make_poller, store_at


@pytest.fixture
def store(tmp_path: Path):
    with store_at(tmp_path) as s:
        yield s


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


async def poll_when_due(poller: Poller, clock: ManualClock, job_id: int) -> float:
    """Advance the clock to the job's next poll, sweep, and return the wait in seconds."""
    wait = (poller.schedule()[job_id] - clock.now()).total_seconds()
    clock.advance(wait)
    assert await poller.sweep_once() == 1
    return wait


async def test_first_poll_comes_initial_seconds_after_submission_within_jitter(store, clock) -> None:
    poller = make_poller(store, ScriptedApi(), clock, jitter=0.1, rng=random.Random(1))
    jobs = [add_job(store, str(i)) for i in range(200)]
    for job in jobs:
        poller.track(job)
    waits = [(due - T0).total_seconds() for due in poller.schedule().values()]
    assert all(4.5 <= w <= 5.5 for w in waits)
    assert len({round(w, 6) for w in waits}) > 150  # actually spread, not lock-step
    assert await poller.sweep_once() == 0  # nothing due yet


async def test_unchanged_status_doubles_the_interval_up_to_the_cap(store, clock) -> None:
    api = ScriptedApi("Processing")
    poller = make_poller(store, api, clock)
    job = add_job(store, "1")
    poller.track(job)
    waits = [await poll_when_due(poller, clock, job.id) for _ in range(7)]
    # first poll after 5 s; the status changes Scheduled -> Processing there (reset to 5),
    # then unchanged: 10, 20, 40 (cap), 40 ...
    assert waits == [5, 5, 10, 20, 40, 40, 40]
    stored = store.get(job.id)
    assert stored is not None and stored.next_poll_at == poller.schedule()[job.id]
    assert stored.last_poll_at == clock.now()


async def test_jittered_delays_stay_within_bounds_and_under_the_cap(store, clock) -> None:
    poller = make_poller(store, ScriptedApi("Scheduled"), clock, jitter=0.25, cap=40.0, rng=random.Random(3))
    job = add_job(store, "1")
    poller.track(job)
    waits = [await poll_when_due(poller, clock, job.id) for _ in range(12)]
    nominal = [5, 10, 20, 40, 40, 40, 40, 40, 40, 40, 40, 40]
    for wait, base in zip(waits, nominal, strict=True):
        assert base * 0.75 <= wait <= min(40, base * 1.25)
    assert len(set(waits[4:])) > 1  # the capped delays still jitter (downwards)


async def test_status_change_resets_interval_and_emits_status_event(store, clock) -> None:
    api = ScriptedApi()
    api.script("1", "Scheduled", "Scheduled", "Scheduled", "Processing", "Processing")
    poller = make_poller(store, api, clock)
    events = Recorder(poller)
    job = add_job(store, "1")
    poller.track(job)
    waits = [await poll_when_due(poller, clock, job.id) for _ in range(5)]
    assert waits == [5, 10, 20, 40, 5]
    assert events.kinds == ["submitted", "polled", "polled", "polled", "status", "polled"]
    change = events.events[4]
    assert change.previous is JobStatus.SCHEDULED and change.job is not None
    assert change.job.status is JobStatus.PROCESSING
    assert [h.status_raw for h in change.job.history] == ["Scheduled", "Processing"]


async def test_complete_is_terminal_and_never_polled_again(store, clock) -> None:
    api = ScriptedApi()
    api.script("1", "Complete")
    poller = make_poller(store, api, clock)
    events = Recorder(poller)
    job = add_job(store, "1")
    poller.track(job)
    await poll_when_due(poller, clock, job.id)
    assert events.events[-1].kind == "status" and events.events[-1].job.status is JobStatus.COMPLETE  # type: ignore[union-attr]
    assert job.id not in poller.schedule()
    stored = store.get(job.id)
    assert stored is not None and stored.file_name == "bulkasync_1_1_1.zip" and stored.next_poll_at is None
    clock.advance(10_000)
    poller.poll_now()
    assert await poller.sweep_once() == 0
    assert api.calls == ["1"]


async def test_terminal_jobs_in_the_store_are_not_polled(store, clock) -> None:
    done = add_job(store, "done")
    store.record_status(done.id, JobStatus.ERROR, "Error", T0)
    live = add_job(store, "live")
    api = ScriptedApi()
    poller = make_poller(store, api, clock)
    assert await poller.sweep_once() == 1  # never-polled live job: due at once
    assert api.calls == ["live"]
    assert set(poller.schedule()) == {live.id}


@pytest.mark.parametrize(
    "error",
    [ApiConnectionError("Connection refused."), MalformedReplyError("Not XML."), ThrottledError("HTTP 500.")],
    ids=["connection", "malformed", "throttled"],
)
async def test_transient_errors_never_turn_a_job_into_error(store, clock, error) -> None:
    api = ScriptedApi("Scheduled")
    api.script("1", error, error, error)
    poller = make_poller(store, api, clock, initial=5.0, cap=1000.0)
    events = Recorder(poller)
    job = add_job(store, "1")
    poller.track(job)
    intervals = []
    for _ in range(3):
        await poll_when_due(poller, clock, job.id)
        intervals.append((poller.schedule()[job.id] - clock.now()).total_seconds())
        stored = store.get(job.id)
        assert stored is not None and stored.status is JobStatus.SCHEDULED
        assert stored.last_error == error.message
        # (a 500 also pauses the profile for 5, 10, 20 s: shorter than the job's own wait)
    assert intervals == [10, 20, 40]  # backs off like an unchanged poll
    assert {e.kind for e in events.events[1:]} == {"throttled" if isinstance(error, ThrottledError) else "error"}
    assert all(e.error is error for e in events.events[1:])
    await poll_when_due(poller, clock, job.id)  # recovers: the answer clears last_error
    stored = store.get(job.id)
    assert stored is not None and stored.last_error is None and stored.status is JobStatus.SCHEDULED


async def test_service_error_status_makes_the_job_error(store, clock) -> None:
    api = ScriptedApi()
    api.script("1", "Processing", "Error")
    poller = make_poller(store, api, clock)
    job = add_job(store, "1")
    poller.track(job)
    await poll_when_due(poller, clock, job.id)
    await poll_when_due(poller, clock, job.id)
    stored = store.get(job.id)
    assert stored is not None and stored.status is JobStatus.ERROR
    assert stored.last_error == "No data for the range"
    assert job.id not in poller.schedule()


@pytest.mark.parametrize("error", [ServiceError("Unknown batch ID 1."), AuthError("Login refused.")])
async def test_non_transient_service_error_keeps_the_job_at_the_cap(store, clock, error) -> None:
    api = ScriptedApi("Scheduled")
    api.script("1", error, error)
    poller = make_poller(store, api, clock, cap=60.0)
    events = Recorder(poller)
    job = add_job(store, "1")
    poller.track(job)
    waits = [await poll_when_due(poller, clock, job.id) for _ in range(3)]
    assert waits == [5, 60, 60]
    assert [e.kind for e in events.events] == ["submitted", "error", "error", "polled"]
    stored = store.get(job.id)
    assert stored is not None and stored.status is JobStatus.SCHEDULED and job.id in poller.schedule()


async def test_unexpected_exception_is_an_error_event_not_a_crash(store, clock) -> None:
    api = ScriptedApi()
    api.script("1", RuntimeError("bug"))
    poller = make_poller(store, api, clock)
    events = Recorder(poller)
    job = add_job(store, "1")
    poller.track(job)
    await poll_when_due(poller, clock, job.id)
    assert events.events[-1].kind == "error" and "unexpectedly" in str(events.events[-1].error)


async def test_throttling_pauses_the_whole_profile_and_doubles(store, clock) -> None:
    busy = ThrottledError("HTTP 500.")
    api = ScriptedApi(busy)
    poller = make_poller(store, api, clock, concurrency=1, cap=20.0)
    events = Recorder(poller)
    for i in range(3):
        add_job(store, str(i))
    # never-polled jobs are all due at once; "0" goes first and gets a 500
    assert await poller.sweep_once() == 1
    assert api.calls == ["0"]
    assert poller.throttled_until == T0 + timedelta(seconds=5)
    clock.advance(4.9)
    assert await poller.sweep_once() == 0  # jobs 1 and 2 are due, but the whole profile waits
    clock.advance(0.1)
    assert await poller.sweep_once() == 1  # pause over: "1" goes, gets a 500, "2" waits again
    assert api.calls == ["0", "1"]
    assert poller.throttled_until == clock.now() + timedelta(seconds=10)  # pause doubled
    clock.advance(10)
    assert await poller.sweep_once() == 1
    assert poller.throttled_until == clock.now() + timedelta(seconds=20)
    clock.advance(20)
    assert await poller.sweep_once() == 1
    assert poller.throttled_until == clock.now() + timedelta(seconds=20)  # capped
    assert events.kinds.count("throttled") == 4
    stored = store.list()
    assert all(j.status is JobStatus.SCHEDULED and j.last_error == "HTTP 500." for j in stored)
    # a good answer ends the escalation: the next 500 pauses for `initial` again
    api.default = "Scheduled"
    clock.advance(20)
    assert await poller.sweep_once() >= 1
    assert poller.throttled_until is None
    api.script("1", busy)
    poller.poll_now()
    await poller.sweep_once()
    assert poller.throttled_until == clock.now() + timedelta(seconds=5)


async def test_parallel_500s_count_as_one_throttle(store, clock) -> None:
    api = ScriptedApi(ThrottledError("HTTP 500."))
    poller = make_poller(store, api, clock, concurrency=8, cap=300.0)
    for i in range(8):
        add_job(store, str(i))
    assert await poller.sweep_once() == 8
    assert api.max_in_flight == 8
    assert poller.throttled_until == T0 + timedelta(seconds=5)  # not 5 * 2**7


async def test_a_500_mid_sweep_stops_requests_not_yet_sent(store, clock) -> None:
    api = ScriptedApi("Scheduled")
    api.script("0", ThrottledError("HTTP 500."))
    poller = make_poller(store, api, clock, concurrency=2)
    for i in range(10):
        add_job(store, str(i))
    sent = await poller.sweep_once()
    assert sent == len(api.calls) < 10


async def test_concurrency_limit_is_respected(store, clock) -> None:
    api = ScriptedApi("Scheduled")
    poller = make_poller(store, api, clock, concurrency=4)
    for i in range(40):
        add_job(store, str(i))
    assert await poller.sweep_once() == 40
    assert api.max_in_flight == 4


async def test_a_shared_semaphore_limits_several_profiles_together(store, clock) -> None:
    api = ScriptedApi("Scheduled")
    shared = asyncio.Semaphore(3)
    pollers = [
        Poller(as_async(store), api, name, clock=clock, semaphore=shared, jitter=0.0)  # type: ignore[arg-type]
        for name in ("a", "b")
    ]
    for i in range(20):
        add_job(store, str(i), profile="a" if i % 2 else "b")
    assert sum(await asyncio.gather(*(p.sweep_once() for p in pollers))) == 20
    assert api.max_in_flight == 3


async def test_poll_now_one_job_or_all(store, clock) -> None:
    api = ScriptedApi("Scheduled")
    poller = make_poller(store, api, clock)
    jobs = [add_job(store, str(i)) for i in range(3)]
    for job in jobs:
        poller.track(job)
    poller.poll_now(jobs[1].id)
    assert await poller.sweep_once() == 1 and api.calls == ["1"]
    poller.poll_now()
    assert await poller.sweep_once() == 3


async def test_poll_now_finds_a_job_another_process_submitted(store, clock) -> None:
    api = ScriptedApi("Scheduled")
    poller = make_poller(store, api, clock)
    first = add_job(store, "1")
    poller.track(first)
    assert await poller.sweep_once() == 0
    other = add_job(store, "2")  # written by another process: never tracked here
    poller.poll_now(other.id)
    assert await poller.sweep_once() == 1 and api.calls == ["2"]


async def test_poll_now_lifts_a_throttle_pause(store, clock) -> None:
    api = ScriptedApi("Scheduled")
    api.script("1", ThrottledError("HTTP 500."))
    poller = make_poller(store, api, clock)
    job = add_job(store, "1")
    await poller.sweep_once()
    assert poller.throttled_until is not None
    poller.poll_now(job.id)
    assert poller.throttled_until is None
    assert await poller.sweep_once() == 1


async def test_pause_stops_everything_until_resume(store, clock) -> None:
    api = ScriptedApi("Scheduled")
    poller = make_poller(store, api, clock)
    events = Recorder(poller)
    job = add_job(store, "1")
    poller.pause()
    poller.pause()  # idempotent: one event
    assert poller.paused
    clock.advance(100)
    poller.poll_now(job.id)
    assert await poller.sweep_once() == 0 and api.calls == []
    poller.resume()
    assert not poller.paused
    assert await poller.sweep_once() == 1
    assert [e.kind for e in events.events] == ["paused", "resumed", "polled"]
    assert events.events[0].job is None


async def test_restart_resumes_the_persisted_schedule(store, clock) -> None:
    api = ScriptedApi("Scheduled")
    first = make_poller(store, api, clock)
    job = add_job(store, "1")
    first.track(job)
    for _ in range(3):
        await poll_when_due(first, clock, job.id)  # intervals 5, 10, 20 -> next in 40
    due = first.schedule()[job.id]
    second = make_poller(store, api, clock, cap=300.0)
    assert await second.sweep_once() == 0  # not everything at once after a restart
    assert second.schedule()[job.id] == due
    assert await poll_when_due(second, clock, job.id) == 40
    assert (second.schedule()[job.id] - clock.now()).total_seconds() == 80  # keeps doubling


async def test_events_survive_a_broken_listener_and_unsubscribe(store, clock) -> None:
    poller = make_poller(store, ScriptedApi(), clock)

    def broken(_event: object) -> None:
        raise RuntimeError("listener bug")

    poller.subscribe(broken)
    events = Recorder(poller)
    poller.track(add_job(store, "1"))
    events.unsubscribe()
    poller.track(add_job(store, "2"))
    assert events.kinds == ["submitted"]


def test_bad_settings_are_refused(store, clock) -> None:
    with pytest.raises(ValueError, match="initial <= cap"):
        Poller(as_async(store), ScriptedApi(), "main", clock=clock, initial=10, cap=5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="concurrency must be at least 1"):
        Poller(as_async(store), ScriptedApi(), "main", clock=clock, concurrency=0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="jitter must be in"):
        Poller(as_async(store), ScriptedApi(), "main", clock=clock, jitter=1.0)  # type: ignore[arg-type]


async def test_poll_now_on_a_fresh_poller_polls_jobs_scheduled_for_later(store, clock) -> None:
    api = ScriptedApi("Scheduled")
    job = add_job(store, "1")
    store.record_poll(job.id, at=T0, next_at=T0 + timedelta(seconds=200))
    poller = make_poller(store, api, clock)
    poller.poll_now()  # before the poller has read the store at all
    assert await poller.sweep_once() == 1


async def test_a_locked_store_moves_the_write_to_a_thread_and_never_blocks_the_loop(tmp_path: Path, clock) -> None:
    import sqlite3

    with store_at(tmp_path) as store:
        job = add_job(store, "1")
        api = ScriptedApi("Scheduled")
        poller = make_poller(store, api, clock)
        poller.track(job)
        assert await poller.sweep_once() == 0  # the poller has read the store
        poller.poll_now(job.id)
        other = sqlite3.connect(store.path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        sweep = asyncio.ensure_future(poller.sweep_once())
        for _ in range(50):  # the loop keeps running: we get control back
            await asyncio.sleep(0)
        # The poll's first write, its lease claim, waits in the store's thread; the loop runs on.
        assert api.calls == [] and not sweep.done()
        other.execute("COMMIT")
        other.close()
        assert await asyncio.wait_for(sweep, timeout=30) == 1
        assert api.calls == ["1"]
        stored = store.get(job.id)
        assert stored is not None and stored.last_poll_at == T0
