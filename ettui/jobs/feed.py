"""The store's change feed as one poller follows it: what other processes wrote, each version announced once.

Several ettui processes may share one store (a TUI, a ``status --watch``, a
headless watcher; hosts, for a shared PostgreSQL store). ``ChangeFeed.follow``
reads the store's change feed (``AsyncJobStore.changes``) whenever the store
says something changed, whether or not polling is paused, and hands each job
version this process has not seen yet to the poller, which announces it like
one of its own (``submitted`` / ``status``, or ``updated`` when only its
details changed) and adds it to or removes it from the schedule.

Store health. When the store's ``status`` changes (a shared store lost its
connection: ``"store: reconnecting"``), ``on_health`` hears it (``None`` when
back; the poller then resyncs).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from ettui.jobs.base import AsyncJobStore
from ettui.model import Job, JobStatus

log = logging.getLogger(__name__)

CHANGE_FEED_WAIT = 1.0
"""Longest wait for the store's change notification before reading the feed anyway (seconds)."""


class ChangeFeed:
    """One profile's view of the change feed: the newest version seen of each job, and its last known status.

    Args:
        store: The store whose changes are followed.
        profile: Only this profile's jobs are passed on.
        on_change: Called with each job version not seen yet (a write of another process).
        on_health: Called with the store's ``status`` when it changes.
    """

    def __init__(
        self,
        store: AsyncJobStore,
        profile: str,
        *,
        on_change: Callable[[Job], None],
        on_health: Callable[[str | None], None],
    ) -> None:
        self.store = store
        self.profile = profile
        self._on_change = on_change
        self._on_health = on_health
        self.versions: dict[int, int] = {}
        """Job id to the newest version this process announced."""
        self.known: dict[int, JobStatus] = {}
        """Job id to its status at that version (an event's ``previous``)."""
        self._health: str | None = None

    def seen(self, job: Job) -> None:
        """This process announced ``job`` (its own write, or the feed's): later reads of it are not news."""
        if job.version >= self.versions.get(job.id, -1):
            self.versions[job.id] = job.version
            self.known[job.id] = job.status

    async def follow(self) -> None:
        """Pass on what other processes write, until cancelled.

        The feed starts from the newest write this process has already seen
        (jobs tracked before the poller started), so nothing written meanwhile is missed.
        """
        if self.versions:
            cursor = max(self.versions.values())
        else:
            _, cursor = await self.store.changes(-1)
        while True:
            try:
                await self.store.wait_for_change(CHANGE_FEED_WAIT)
                status = self.store.status
                if status != self._health:
                    self._health = status
                    self._on_health(status)
                cursor = await self.apply(cursor)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("reading the job store's changes failed")
                await asyncio.sleep(CHANGE_FEED_WAIT)

    async def apply(self, cursor: int) -> int:
        """Read the feed after ``cursor`` to its end once, pass on what is new; returns the next cursor."""
        while True:
            jobs, after = await self.store.changes(cursor)
            for job in jobs:
                if job.profile == self.profile and job.version > self.versions.get(job.id, -1):
                    self._on_change(job)
            if after == cursor or not jobs:
                return after
            cursor = after
