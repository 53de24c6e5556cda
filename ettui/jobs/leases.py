"""A poller's poll leases: each live job is polled by one process, and the team shares the work.

Several processes (hosts, for a shared PostgreSQL store) may follow the same
profile. Before a job's poll the poller ``claim``s it for its holder id
(``user@host (pid N)``); a job another holder has is skipped, and tried again
a quarter of the lease time later, while the holder's results arrive through
the change feed (its next poll time included).

Fair share. Every poller says it is there (``heartbeat``, every quarter of
the lease time; its presence lasts half of it), and the store answers how
many pollers follow the profile. A poller holds at most
``ceil(live jobs / pollers)`` leases: it claims no more than that, and one
that holds more (it started first and took everything, or others joined)
hands back the excess at its next renewal, the jobs due last first, so the
others take them over at their next poll time. The shares add up to at least
the live jobs, so every job has a taker.

Take-over. The renewal task (``Poller.renew_leases``, one ``tick`` a round)
extends the leases every quarter of ``lease_seconds`` and ``release_all`` (on
stop) hands them back, so another process takes over at once. A holder that dies stops renewing: its presence
ends within half the lease time (the others' shares grow at their next
heartbeat) and its leases (three quarters of ``lease_seconds`` long) run out,
so another process polls the job within ``lease_seconds`` of the death. Lease
times are the store's wall clock (one clock for every host), so the renewal
task sleeps in real time.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable, Iterable

from ettui.jobs.base import AsyncJobStore

log = logging.getLogger(__name__)

RELEASE_DEADLINE = 5.0
"""Longest wait to hand the leases back on stop (seconds); unreleased ones run out by themselves."""


class Leases:
    """The poll leases one poller holds on one profile's live jobs, and its fair share of them.

    Args:
        store: The shared job store (its clock times the leases).
        profile: The profile whose jobs are shared out.
        holder: This poller's holder id, shown to the others.
        lease_seconds: Another process takes over a job within this long after its holder died.
    """

    def __init__(self, store: AsyncJobStore, profile: str, *, holder: str, lease_seconds: float) -> None:
        if lease_seconds <= 0:
            raise ValueError("the lease time must be positive")
        self.store = store
        self.profile = profile
        self.holder = holder
        self.lease_seconds = lease_seconds
        self.held: dict[int, float] = {}
        """Job id to the loop time (monotonic) by which its lease must have been renewed."""
        self.pollers = 0
        """Pollers following the profile, this one included, as the last heartbeat counted (0: not asked yet)."""

    @property
    def length(self) -> float:
        """The lease written to the store: three renewals fit in it, and death + lease + one retry <= lease_seconds."""
        return self.lease_seconds * 0.75

    @property
    def retry(self) -> float:
        """How long to wait before trying again to claim a job another process holds (and between renewals)."""
        return self.lease_seconds / 4

    @property
    def presence(self) -> float:
        """How long one heartbeat counts: a dead poller's share is given up before its leases run out."""
        return self.lease_seconds / 2

    def share(self, live: int) -> int:
        """The most leases this poller may hold with ``live`` jobs shared among the pollers."""
        return math.ceil(live / max(1, self.pollers))

    def drop(self, job_id: int) -> None:
        """Forget a lease whose job is no longer live (its lease means nothing any more)."""
        self.held.pop(job_id, None)

    async def heartbeat(self) -> None:
        """Say this poller is there; learn how many follow the profile."""
        self.pollers = await self.store.heartbeat(holder=self.holder, profile=self.profile, seconds=self.presence)

    async def claim(self, due: list[int], live: int) -> set[int]:
        """The ids among ``due`` this poller holds now: renewed if near their end, claimed within its share."""
        loop = asyncio.get_running_loop()
        margin = loop.time() + self.retry  # a lease about to run out is claimed again
        renew = [job_id for job_id in due if job_id in self.held and self.held[job_id] < margin]
        new = [job_id for job_id in due if job_id not in self.held]
        got: set[int] = set()
        if renew:
            got |= await self.store.claim(renew, holder=self.holder, lease_seconds=self.length)
        if new and self.share(live) > len(self.held):
            await self.heartbeat()  # about to take more: with how many is the profile shared now?
            room = self.share(live) - len(self.held)
            if room > 0:
                got |= await self.store.claim(new, holder=self.holder, lease_seconds=self.length, limit=room)
        until = loop.time() + self.length
        for job_id in renew + new:
            if job_id in got:
                self.held[job_id] = until
            else:
                self.held.pop(job_id, None)
        return {job_id for job_id in due if job_id in self.held}

    async def tick(self, candidates: Callable[[], list[int]], live: int) -> None:
        """One round of the renewal task: heartbeat, renew, and hand back the leases beyond the share.

        ``candidates()`` lists the jobs this poller could hand back now (none
        whose request has left), the one to keep least first; it is asked after
        the round trips, so a request sent meanwhile is not handed over. ``live`` is how
        many jobs the profile has live.
        """
        loop = asyncio.get_running_loop()
        await self.heartbeat()
        if self.held:
            kept = await self.store.renew(holder=self.holder, lease_seconds=self.length)
            until = loop.time() + self.length
            self.held = {job_id: until for job_id in self.held if job_id in kept}
        excess = len(self.held) - self.share(live)
        if excess > 0:
            await self._release([job_id for job_id in candidates() if job_id in self.held][:excess])

    async def _release(self, job_ids: Iterable[int]) -> None:
        ids = list(job_ids)
        for job_id in ids:
            self.held.pop(job_id, None)  # first: a poll waiting for a request slot now skips it
        if ids:
            await self.store.release(holder=self.holder, job_ids=ids)

    async def release_all(self) -> None:
        """Hand back every lease and leave the profile's pollers (bounded: unreleased leases run out)."""
        held, self.held = list(self.held), {}
        try:
            # Bounded: a store that cannot take the write now (its connection
            # still busy with a cancelled call) must not hold up the exit.
            async with asyncio.timeout(RELEASE_DEADLINE):
                if held:
                    await self.store.release(holder=self.holder, job_ids=held)
                await self.store.heartbeat(holder=self.holder, profile=self.profile, seconds=0)
        except Exception:  # they run out on their own within the lease time
            log.warning("releasing the poll leases of profile %s failed", self.profile, exc_info=True)
