"""The poller's own loop (``start``/``run``/``stop``) under a manual clock: it sleeps on the
clock, wakes on ``advance``, on ``poll_now``, on ``track`` and on ``resume``. No real sleeps:
every wait is for an event (with a timeout that only turns a hang into a failure)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from ettui.clock import ManualClock
from ettui.errors import ApiConnectionError
from ettui.jobs.poller import Poller
from ettui.model import JobStatus
from tests.unit.test_poller_support import T0, Recorder, ScriptedApi, add_job, make_poller, store_at


@pytest.fixture
def store(tmp_path: Path):
    with store_at(tmp_path) as s:
        yield s


async def settle(poller: Poller) -> None:
    """Wait (no time passes on the clock) until the loop is asleep again."""
    for _ in range(5):  # let a wake-up reach the loop first
        await asyncio.sleep(0)
    await asyncio.wait_for(poller.wait_idle(), timeout=10)


async def test_loop_sleeps_on_the_clock_and_polls_when_it_advances(store) -> None:
    clock = ManualClock(T0)
    api = ScriptedApi()
    api.script("1", "Scheduled", "Processing", "Complete")
    poller = make_poller(store, api, clock)
    events = Recorder(poller)
    poller.start()
    try:
        job = add_job(store, "1")
        poller.track(job)
        await settle(poller)
        assert api.calls == []  # not due for 5 s of clock time
        clock.advance(5)
        assert (await events.next("polled")).job.status is JobStatus.SCHEDULED  # type: ignore[union-attr]
        clock.advance(10)
        change = await events.next("status")
        assert change.previous is JobStatus.SCHEDULED
        clock.advance(5)
        done = await events.next("status")
        assert done.job is not None and done.job.status is JobStatus.COMPLETE
        await settle(poller)
        clock.advance(10_000)
        await settle(poller)
        assert api.calls == ["1", "1", "1"]  # terminal: never again
    finally:
        await poller.stop()


async def test_poll_now_wakes_a_sleeping_loop(store) -> None:
    clock = ManualClock(T0)
    api = ScriptedApi()
    poller = make_poller(store, api, clock, initial=60.0, cap=600.0)
    events = Recorder(poller)
    job = add_job(store, "1")
    poller.track(job)
    poller.start()
    try:
        await settle(poller)
        assert api.calls == []
        poller.poll_now(job.id)  # no clock movement at all
        polled = await events.next("polled")
        assert polled.job is not None and polled.job.id == job.id
        assert api.calls == ["1"]
    finally:
        await poller.stop()


async def test_loop_picks_up_a_job_tracked_while_it_sleeps_with_nothing_to_do(store) -> None:
    clock = ManualClock(T0)
    api = ScriptedApi()
    poller = make_poller(store, api, clock)
    events = Recorder(poller)
    poller.start()
    try:
        await settle(poller)  # sleeping with an empty schedule
        poller.track(add_job(store, "1"))
        await settle(poller)
        clock.advance(5)
        await events.next("polled")
    finally:
        await poller.stop()


async def test_pause_and_resume_in_the_loop(store) -> None:
    clock = ManualClock(T0)
    api = ScriptedApi()
    poller = make_poller(store, api, clock)
    events = Recorder(poller)
    poller.start()
    try:
        job = add_job(store, "1")
        poller.track(job)
        poller.pause()
        await settle(poller)
        clock.advance(100)
        poller.poll_now()
        await settle(poller)
        assert api.calls == []
        poller.resume()
        await events.next("polled")
        assert events.kinds[:3] == ["submitted", "paused", "resumed"]
    finally:
        await poller.stop()


async def test_errors_in_the_loop_back_off_and_never_stop_it(store) -> None:
    clock = ManualClock(T0)
    api = ScriptedApi()
    api.script("1", ApiConnectionError("Connection refused."), "Complete")
    poller = make_poller(store, api, clock)
    events = Recorder(poller)
    poller.start()
    try:
        poller.track(add_job(store, "1"))
        await settle(poller)
        clock.advance(5)
        error = await events.next("error")
        assert isinstance(error.error, ApiConnectionError)
        await settle(poller)
        clock.advance(10)
        assert (await events.next("status")).job.status is JobStatus.COMPLETE  # type: ignore[union-attr]
    finally:
        await poller.stop()


async def test_stop_cancels_requests_in_flight_and_start_is_idempotent(store) -> None:
    clock = ManualClock(T0)
    api = ScriptedApi()
    api.gate = asyncio.Event()  # requests hang until released
    poller = make_poller(store, api, clock)
    add_job(store, "1")  # never polled: due at once
    poller.start()
    poller.start()
    await settle(poller)
    assert api.in_flight == 1
    await poller.stop()
    assert api.in_flight == 0
    await poller.stop()  # twice is fine
