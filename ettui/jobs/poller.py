"""Adaptive polling of one profile's live jobs, politely, with every transition as an event.

Schedule. Each live job has its own next poll. The first poll comes ``initial``
seconds after submission; every poll that finds the status unchanged doubles
the job's interval up to ``cap``; a status change resets it to ``initial``.
Every delay is multiplied by a uniform random factor in ``[1 - jitter,
1 + jitter]`` (then clamped to ``cap``) so jobs submitted together do not
poll in lock-step. The next poll time is written to the store
(``next_poll_at``), so a restarted ettui resumes the schedule instead of
polling everything at once; the interval is recovered as
``next_poll_at - last_poll_at``.

Failures. Transient errors (``ettui.errors.TRANSIENT``: connection failures,
unreadable replies, throttling) never change a job's status: they are stored as
``last_error`` and the job's interval doubles as if nothing had changed. A
non-transient ``ServiceError`` (e.g. an unknown batch ID, refused login) is
stored the same way and the job drops to the ``cap`` interval; it is kept, not
dropped, because the user may fix the cause. Only the service saying
``Error`` makes a job Error.

Throttling. HTTP 500 (``ThrottledError``) means the service is busy *for the
whole account*, so the whole profile pauses, not just the job that got it: no
request of this profile starts until the pause ends. The pause starts at
``initial`` and doubles on each further 500, up to ``cap``; the first reply
that is not a 500 ends the escalation. Several requests that were already in
flight when the first 500 came back count as one throttle, so eight parallel
500s do not jump straight to the cap. ``poll_now`` lifts the current pause
(the user asked; a further 500 pauses again, twice as long).

Concurrency. A semaphore limits requests in flight (``concurrency``, or a
semaphore shared by several pollers for a limit across profiles).

Pause. ``pause()`` stops every request of this profile, poll-now included,
until ``resume()``; in-flight requests finish.

Other processes. Several ettui processes may share one store (a TUI, a
``status --watch``, a headless watcher); what they write reaches this
poller through the store's change feed (``ettui.jobs.feed``): a job another
process submitted, polled, finished or dismissed is announced like one of
ours and joins or leaves the schedule.

Leases. Several processes (hosts, for a shared PostgreSQL store) may follow
the same profile; each live job is polled by exactly one of them, and they
share the jobs out fairly (``ettui.jobs.leases``). A job another holder has
is skipped and its holder's results arrive through the change feed; only
``poll_now(job_id)`` polls such a job once here, without taking its lease
(the operator asked to see it now; the holder follows the result).

The store is the async job-store interface, so no store call waits on the
event loop. Time comes only from the injected clock (the change feed's own
short waits and lease renewals are the store's business).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from ettui.api.base import BatchApi
from ettui.clock import Clock
from ettui.errors import TRANSIENT, EttuiError, ThrottledError
from ettui.jobs.base import AsyncJobStore, holder_id
from ettui.jobs.events import EventKind, JobEvent
from ettui.jobs.feed import ChangeFeed
from ettui.jobs.leases import Leases
from ettui.model import Inquiry, Job

__all__ = ["EventKind", "JobEvent", "Poller"]

log = logging.getLogger(__name__)


@dataclass
class _Slot:
    """One live job's place in the schedule."""

    job: Job
    due: datetime
    interval: float
    """The delay (before jitter) that led to ``due``; the next one doubles it."""
    in_flight: bool = False
    sending: bool = False
    """Its request has left (``in_flight`` includes waiting for a free request slot)."""
    asked: bool = False
    """Polled because the operator asked (``poll_now``), whoever holds its lease."""


class Poller:
    """Polls one profile's live jobs with back-off, jitter, throttling and a concurrency limit.

    Args:
        store: Where jobs, statuses and the schedule are kept.
        api: The profile's ``BatchApi``; only ``inquire`` is used.
        profile: The profile whose live jobs this poller owns.
        clock: The only source of time (``ManualClock`` in tests).
        initial: Seconds before a job's first poll, and after each status change.
        cap: The longest interval between polls of a job, and the longest throttle pause.
        concurrency: Requests in flight at most (ignored when ``semaphore`` is given).
        jitter: Each delay is scaled by a random factor in ``[1 - jitter, 1 + jitter]``.
        rng: Random source for the jitter (seed it in tests).
        semaphore: Share one limit across several profiles' pollers.
        holder: This poller's lease holder id (default: ``user@host (pid N)``).
        lease_seconds: Another process takes over a job within this long after its holder died.
    """

    def __init__(
        self,
        store: AsyncJobStore,
        api: BatchApi,
        profile: str,
        *,
        clock: Clock,
        initial: float = 5.0,
        cap: float = 300.0,
        concurrency: int = 8,
        jitter: float = 0.1,
        rng: random.Random | None = None,
        semaphore: asyncio.Semaphore | None = None,
        holder: str | None = None,
        lease_seconds: float = 30.0,
    ) -> None:
        if initial <= 0 or cap < initial:
            raise ValueError("poll intervals need 0 < initial <= cap")
        if concurrency < 1:
            raise ValueError("poll concurrency must be at least 1")
        if not 0 <= jitter < 1:
            raise ValueError("poll jitter must be in [0, 1)")
        self.store = store
        self.api = api
        self.profile = profile
        self.clock = clock
        self.initial = initial
        self.cap = cap
        self.concurrency = concurrency
        self.jitter = jitter
        self._rng = rng or random.Random()
        self._semaphore = semaphore or asyncio.Semaphore(concurrency)
        self._slots: dict[int, _Slot] = {}
        self._subscribers: list[Callable[[JobEvent], None]] = []
        self._paused = False
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        """Set while the loop sleeps with nothing to do before its deadline (tests wait on it)."""
        self._task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[bool]] = set()
        # Store sync: on first use, on poll_now(), and every ``cap`` seconds, to
        # pick up jobs other ettui processes submitted.
        self._synced_at: datetime | None = None
        self._resync = True
        self._forced: set[int] = set()
        self._force_all = False
        # Profile-wide throttle: pause length (0 = not throttled), end, and a
        # generation so requests already in flight do not escalate it again.
        self._throttle_interval = 0.0
        self._throttle_until: datetime | None = None
        self._throttle_gen = 0
        self.feed = ChangeFeed(store, profile, on_change=self._apply_change, on_health=self._on_store_health)
        self._feed_task: asyncio.Task[None] | None = None
        # Leases: the jobs this poller polls, its fair share of the team's.
        self.leases = Leases(store, profile, holder=holder or holder_id(), lease_seconds=lease_seconds)
        self._renew_task: asyncio.Task[None] | None = None
        # Jobs the operator asked for now (``poll_now``): polled here once even
        # when another process holds their lease.
        self._asked: set[int] = set()

    # -- observation --------------------------------------------------------

    @property
    def paused(self) -> bool:
        """True between ``pause()`` and ``resume()``."""
        return self._paused

    @property
    def throttled_until(self) -> datetime | None:
        """When the current profile-wide throttle pause ends, if one is on."""
        until = self._throttle_until
        return until if until is not None and self.clock.now() < until else None

    def schedule(self) -> dict[int, datetime]:
        """Job id to next poll time, for every job this poller is watching."""
        return {job_id: slot.due for job_id, slot in self._slots.items()}

    def subscribe(self, callback: Callable[[JobEvent], None]) -> Callable[[], None]:
        """Call ``callback`` (on the event loop) for every event; returns the unsubscribe function."""
        self._subscribers.append(callback)

        def unsubscribe() -> None:
            with contextlib.suppress(ValueError):
                self._subscribers.remove(callback)

        return unsubscribe

    def _emit(self, event: JobEvent) -> None:
        if event.job is not None:
            self.feed.seen(event.job)
        for callback in list(self._subscribers):
            try:
                callback(event)
            except Exception:  # a broken listener must not stop polling
                log.exception("job event listener failed on %s", event.kind)

    def announce(self, event: JobEvent) -> None:
        """Publish an event about a job this process changed outside polling (submit, dismiss)."""
        self._emit(event)

    # -- control ------------------------------------------------------------

    def track(self, job: Job) -> None:
        """Add a just-submitted job to the schedule (first poll after ``initial``) and announce it."""
        if job.profile == self.profile and job.status.polled and job.id not in self._slots:
            due = self.clock.now() + timedelta(seconds=self._delay(self.initial))
            self._slots[job.id] = _Slot(replace(job, next_poll_at=due), due, self.initial)
            self._poke()
        self._emit(JobEvent("submitted", job))

    def poll_now(self, job_id: int | None = None) -> None:
        """Poll one job (or every live job, re-reading the store) as soon as possible.

        One job is polled here even when another process holds its lease (once,
        the lease stays theirs); every live job means the ones this poller may
        hold: the others are their holders' to poll. Lifts a throttle pause but
        not ``pause()``.
        """
        if job_id is None:
            self._resync = True
            self._force_all = True  # including jobs the resync is about to find
        elif job_id in self._slots:
            self._asked.add(job_id)
            self._force(self._slots[job_id])
        else:
            # Perhaps submitted by another process: look for it in the store.
            self._asked.add(job_id)
            self._forced.add(job_id)
            self._resync = True
        self._throttle_until = None
        self._poke()

    def _poke(self) -> None:
        """Wake the loop so it re-reads the schedule."""
        self._idle.clear()
        self._wake.set()

    def _force(self, slot: _Slot) -> None:
        slot.due = min(slot.due, self.clock.now())

    def pause(self) -> None:
        """Stop sending requests for this profile until ``resume()``."""
        if not self._paused:
            self._paused = True
            self._emit(JobEvent("paused"))
            self._poke()

    def resume(self) -> None:
        """Start polling again; whatever fell due meanwhile is polled at once."""
        if self._paused:
            self._paused = False
            self._emit(JobEvent("resumed"))
            self._poke()

    def start(self) -> None:
        """Run the polling loop as a task on the running event loop (no-op if running)."""
        loop = asyncio.get_running_loop()
        if self._task is None or self._task.done():
            self._task = loop.create_task(self.run(), name=f"poller:{self.profile}")
        if self._feed_task is None or self._feed_task.done():
            self._feed_task = loop.create_task(self.feed.follow(), name=f"changes:{self.profile}")
        if self._renew_task is None or self._renew_task.done():
            self._renew_task = loop.create_task(self.renew_leases(), name=f"leases:{self.profile}")

    async def wait_idle(self) -> None:
        """Until the loop is asleep, waiting for its clock or a wake-up (tests on a manual clock use this)."""
        await self._idle.wait()

    async def stop(self) -> None:
        """Stop the loop and wait for it; requests in flight are cancelled; leases are released."""
        task, self._task = self._task, None
        feed, self._feed_task = self._feed_task, None
        renew, self._renew_task = self._renew_task, None
        pending: list[asyncio.Task[Any]] = [*self._tasks, *(t for t in (task, feed, renew) if t is not None)]
        for each in pending:
            each.cancel()
        for each in pending:
            with contextlib.suppress(asyncio.CancelledError):
                await each
        await self.leases.release_all()

    # -- leases -----------------------------------------------------------------

    @property
    def holder(self) -> str:
        """This poller's lease holder id (shown to the other processes)."""
        return self.leases.holder

    async def renew_leases(self) -> None:
        """Every quarter lease, ``rebalance``, until stopped (the store's clock: real time)."""
        while True:
            try:
                await self.rebalance()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("renewing the poll leases of profile %s failed", self.profile, exc_info=True)
            await asyncio.sleep(self.leases.retry)

    async def rebalance(self) -> None:
        """Say this poller is there, renew its leases, and hand back those beyond its fair share.

        The ones handed back are due last (none whose request has left, none
        asked for), so whoever takes one over has the most time to see it is free.
        """

        def candidates() -> list[int]:
            free = [s for s in self._slots.values() if not (s.sending or s.asked) and s.job.id in self.leases.held]
            return [s.job.id for s in sorted(free, key=lambda s: s.due, reverse=True)]

        await self.leases.tick(candidates, len(self._slots))

    async def _claim(self, slots: list[_Slot]) -> list[_Slot]:
        """The due slots to poll now: those this poller holds (claimed now within its share), and those asked for.

        The others wait a lease retry; their holders' results come by the change feed.
        """
        held = await self.leases.claim([s.job.id for s in slots], len(self._slots))
        for slot in slots:
            slot.asked = slot.job.id in self._asked
        mine = [s for s in slots if s.job.id in held or s.asked]
        self._asked.difference_update(s.job.id for s in slots)
        retry = self.clock.now() + timedelta(seconds=self.leases.retry)
        for slot in slots:
            if slot.job.id not in held:
                slot.due = max(slot.due, retry)
        return mine

    # -- other processes ------------------------------------------------------

    def _on_store_health(self, status: str | None) -> None:
        self._emit(JobEvent("store", note=status))
        if status is None:
            self._resync = True  # back: re-read the live jobs, as at start
            self._poke()

    def _apply_change(self, job: Job) -> None:
        """A job another process wrote (the feed passes each version once): schedule it, announce it."""
        slot = self._slots.get(job.id)
        if slot is not None and slot.in_flight:
            return  # our own poll of it is about to report (and re-read) it
        previous = slot.job.status if slot is not None else self.feed.known.get(job.id)
        if job.status.polled:
            if slot is None:
                self._slots[job.id] = self._resume_slot(job, self.clock.now())
                self._poke()
            else:
                if job.next_poll_at is not None and job.last_poll_at != slot.job.last_poll_at:
                    slot.due = job.next_poll_at  # another process polled it: follow its schedule
                slot.job = job
        elif slot is not None:
            del self._slots[job.id]  # finished (or dismissed) elsewhere
        if previous is None and job.id not in self.feed.versions:
            self._emit(JobEvent("submitted", job))
        elif previous is not job.status:
            self._emit(JobEvent("status", job, previous=previous))
        else:
            self._emit(JobEvent("updated", job))

    # -- the loop -----------------------------------------------------------

    async def run(self) -> None:
        """Start polls as jobs fall due, then sleep until the next is due or something wakes us.

        Polls run as their own tasks, so one slow request (a read timeout)
        never holds back jobs that fall due meanwhile.
        """
        while True:
            self._wake.clear()  # before launching, so a poll_now meanwhile is not lost
            try:
                await self._launch_due()
            except Exception:
                # Most likely the store (disk full, locked for too long). Keep
                # the loop alive; try again after a polite pause.
                log.exception("polling profile %s failed", self.profile)
                await self._sleep_or_wake(self.initial)
                continue
            await self._sleep_or_wake(self._next_delay())

    def _next_delay(self) -> float | None:
        """Seconds until the loop has work again; None to wait only for a wake-up."""
        if self._paused:
            return None
        now = self.clock.now()
        targets = [(self._synced_at or now) + timedelta(seconds=self.cap)]
        targets += [slot.due for slot in self._slots.values() if not slot.in_flight]
        if any(slot.in_flight for slot in self._slots.values()):
            # A poll in flight reschedules its job no sooner than this.
            targets.append(now + timedelta(seconds=self.initial * (1 - self.jitter)))
        target = min(targets)
        if self._throttle_until is not None and self._throttle_until > target:
            target = self._throttle_until
        return max(0.0, (target - now).total_seconds())

    async def _sleep_or_wake(self, delay: float | None) -> None:
        """Race the clock's sleep against the wake event (poll_now, track, pause, resume)."""
        if self._wake.is_set():
            return
        if delay is not None and delay <= 0:
            await asyncio.sleep(0)
            return
        waiters: list[asyncio.Future[object]] = [asyncio.ensure_future(self._wake.wait())]
        if delay is not None:
            waiters.append(asyncio.ensure_future(self.clock.sleep(delay)))
        await asyncio.sleep(0)  # let the clock register the sleep before we call ourselves idle
        if not self._wake.is_set():
            self._idle.set()
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._idle.clear()
            for waiter in waiters:
                waiter.cancel()

    async def sweep_once(self) -> int:
        """Poll every live job that is due now, once, within the concurrency limit.

        Returns how many requests were sent. Nothing is sent while paused or
        throttled (a 500 during the sweep stops the requests not yet sent).
        """
        tasks = await self._launch_due()
        return sum(await asyncio.gather(*tasks))

    async def _launch_due(self) -> list[asyncio.Task[bool]]:
        """Start a poll task for every due job not already in flight."""
        if self._paused:
            return []
        await self._sync_if_needed()
        now = self.clock.now()
        if self._throttled(now):
            return []
        due = sorted((s for s in self._slots.values() if s.due <= now and not s.in_flight), key=lambda s: s.due)
        if due:
            due = await self._claim(due)
        tasks = []
        for slot in due:
            slot.in_flight = True
            task = asyncio.ensure_future(self._poll_slot(slot))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            tasks.append(task)
        return tasks

    def _throttled(self, now: datetime) -> bool:
        return self._throttle_until is not None and now < self._throttle_until

    def _delay(self, interval: float) -> float:
        """``interval`` with jitter, never above the cap."""
        factor = self._rng.uniform(1 - self.jitter, 1 + self.jitter) if self.jitter else 1.0
        return min(self.cap, interval * factor)

    async def _sync_if_needed(self) -> None:
        now = self.clock.now()
        stale = self._synced_at is None or now - self._synced_at >= timedelta(seconds=self.cap)
        if not (self._resync or stale):
            return
        self._resync = False
        self._synced_at = now
        known = set(self._slots)  # a job tracked while we read is not "gone"
        live = await self.store.live(self.profile)
        live_ids = {job.id for job in live}
        for job in live:
            if job.id not in self._slots:
                self._slots[job.id] = self._resume_slot(job, now)
        for job_id in [i for i in known - live_ids if i in self._slots and not self._slots[i].in_flight]:
            # Finished elsewhere (another process polled it); the change feed announces it.
            del self._slots[job_id]
        forced = self._slots.keys() if self._force_all else self._forced & self._slots.keys()
        for job_id in forced:
            self._force(self._slots[job_id])
        self._forced.clear()
        self._asked.intersection_update(self._slots)  # asked for a job that is not live: nothing to poll
        self._force_all = False

    def _resume_slot(self, job: Job, now: datetime) -> _Slot:
        """A slot for a job found in the store: keep its persisted schedule."""
        interval = self.initial
        if job.next_poll_at is not None and job.last_poll_at is not None:
            persisted = (job.next_poll_at - job.last_poll_at).total_seconds()
            interval = min(self.cap, max(self.initial, persisted))
        # Never polled (e.g. submitted by a CLI that has exited): poll now.
        due = job.next_poll_at or now
        return _Slot(job, due, interval)

    # -- one poll -----------------------------------------------------------

    async def _poll_slot(self, slot: _Slot) -> bool:
        job = slot.job
        try:
            async with self._semaphore:
                # Re-check: a pause, a throttle, completion or the lease handed
                # back (a fair share) may have come while this job waited for a
                # free request slot.
                if self._paused or self._throttled(self.clock.now()) or job.id not in self._slots:
                    return False
                if not (slot.asked or job.id in self.leases.held):
                    return False
                slot.sending = True
                generation = self._throttle_gen
                outcome: Inquiry | Exception
                assert job.batch_id is not None, "only polled statuses are scheduled, and they have a batch ID"
                try:
                    outcome = await self.api.inquire(job.batch_id)
                except Exception as exc:  # sorted out below
                    outcome = exc
            # The request slot is free again before the store write: the limit
            # is on requests in flight, and a write must not hold one back
            # (measured: ~0.7 of the bare loop's speed with the write inside).
            try:
                await self._record(slot, outcome, generation)
            except Exception as exc:
                # The store failed to record the outcome. Keep the job and
                # try it again later rather than hammering.
                log.exception("recording a poll of batch %s failed", job.batch_id)
                slot.due = self.clock.now() + timedelta(seconds=self.cap)
                error = EttuiError(f"Could not record the status of batch {job.batch_id}: {exc}.")
                self._emit(JobEvent("error", slot.job, error=error))
            return True
        finally:
            slot.in_flight = slot.sending = slot.asked = False

    async def _record(self, slot: _Slot, outcome: Inquiry | Exception, generation: int) -> None:
        """Record one poll's outcome, reschedule the job and announce it."""
        if isinstance(outcome, Inquiry):
            await self._on_inquiry(slot, outcome, generation)
        elif isinstance(outcome, ThrottledError):
            await self._on_throttled(slot, outcome, generation)
        elif isinstance(outcome, TRANSIENT):
            await self._on_error(slot, outcome, min(self.cap, slot.interval * 2))
        elif isinstance(outcome, EttuiError):
            await self._on_error(slot, outcome, self.cap)
        else:  # a bug in a client must not kill polling
            log.error("inquiring batch %s failed unexpectedly", slot.job.batch_id, exc_info=outcome)
            error = EttuiError(f"Checking batch {slot.job.batch_id} failed unexpectedly: {outcome}.")
            await self._on_error(slot, error, self.cap)

    async def _on_inquiry(self, slot: _Slot, inquiry: Inquiry, generation: int) -> None:
        at = self.clock.now()
        previous = slot.job.status
        job_id = slot.job.id
        # Both possible delays are drawn here, in a fixed order, so a seeded
        # rng gives the same schedule whichever path the write takes.
        on_change = self._delay(self.initial)
        unchanged_interval = min(self.cap, slot.interval * 2)
        unchanged = self._delay(unchanged_interval)

        job, changed = await self.store.record_status(
            job_id,
            inquiry.status,
            inquiry.status_raw,
            at,
            file_name=inquiry.file_name,
            message=inquiry.message,
            next_poll=(at + timedelta(seconds=on_change), at + timedelta(seconds=unchanged)),
        )
        if generation == self._throttle_gen:
            # The service answered a request sent after the last 500: not busy now.
            self._throttle_interval = 0.0
        if job.next_poll_at is None:
            self._slots.pop(job_id, None)  # terminal: never polled again
            self.leases.drop(job_id)
        else:
            slot.job, slot.due = job, job.next_poll_at
            slot.interval = self.initial if changed else unchanged_interval
        self._emit(JobEvent("status", job, previous=previous) if changed else JobEvent("polled", job))

    async def _on_error(self, slot: _Slot, error: EttuiError, interval: float) -> None:
        job = await self._record_failure(slot, error, interval)
        self._emit(JobEvent("error", job, error=error))

    async def _on_throttled(self, slot: _Slot, error: ThrottledError, generation: int) -> None:
        now = self.clock.now()
        if generation == self._throttle_gen:
            # First 500 since the last escalation: pause the profile, longer each time.
            self._throttle_gen += 1
            self._throttle_interval = min(self.cap, self._throttle_interval * 2) or self.initial
            until = now + timedelta(seconds=self._delay(self._throttle_interval))
            self._throttle_until = max(until, self._throttle_until or until)
        job = await self._record_failure(slot, error, min(self.cap, slot.interval * 2))
        self._emit(JobEvent("throttled", job, error=error))

    async def _record_failure(self, slot: _Slot, error: EttuiError, interval: float) -> Job:
        at = self.clock.now()
        next_at = at + timedelta(seconds=self._delay(interval))
        job_id = slot.job.id
        slot.job = await self.store.record_poll(job_id, at=at, next_at=next_at, error=error.message)
        slot.interval, slot.due = interval, next_at
        return slot.job
