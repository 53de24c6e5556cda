"""What a watcher run knows of one watched profile, and the few Session calls it makes.

Every Session method the watcher calls goes through the methods of
``ProfileWatch`` under "The Session calls", so a change of the session's
interface touches only those lines (and ``Watcher.run``'s ``Session.open``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from ettui.model import DropFile, Job, JobStatus

if TYPE_CHECKING:
    from ettui.session import Session
    from ettui.session_drop import FetchOutcome

LIVE = [JobStatus.SCHEDULED, JobStatus.PROCESSING, JobStatus.UNKNOWN]
"""The statuses of jobs still with the service."""


@dataclass
class Retry:
    """The next attempt at a file whose fetch failed (or that a teammate holds)."""

    attempts: int = 0
    due: float = 0.0
    """``time.monotonic()`` of the next attempt."""


class ProfileWatch:
    """One watched profile: its session and what this run has seen of it."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.name = session.profile.name
        self.known: dict[int, str] = {}
        """Live job id -> last status text seen."""
        self.announced: set[int] = set()
        self.dirty = True
        """List the drop on the next pass (a job finished, a retry is due)."""
        self.rescan_at = 0.0
        self.files: list[DropFile] = []
        self.landed: set[str] = set()
        self.warned: set[str] = set()
        self.retries: dict[str, Retry] = {}
        self.given_up: set[str] = set()
        self.left_to_others: set[str] = set()
        """Files a teammate was fetching when this run came to them (said once)."""
        self.live = 0
        """Live jobs this run still waits for (``stuck`` ones excluded)."""
        self.list_failures = 0
        self.poll_errors: dict[int, int] = {}
        """Job id -> polls failed in a row."""
        self.stuck: set[int] = set()
        """With ``exit_when_idle``: live jobs whose polls keep failing, not waited for."""

    @property
    def auto_fetch(self) -> bool:
        return self.session.profile.auto_fetch

    @property
    def rescan_seconds(self) -> float:
        p = self.session.profile
        return max(p.poll_initial, p.poll_max)

    def now(self) -> datetime:
        return self.session.clock.now()

    # The Session calls, in one place.

    async def live_jobs(self) -> list[Job]:
        return await self.session.jobs(status=LIVE)

    async def complete_jobs(self) -> list[Job]:
        return await self.session.jobs(status=JobStatus.COMPLETE, limit=500)

    async def job(self, job_id: int) -> Job | None:
        return await self.session.job(job_id)

    async def drop_files(self) -> list[DropFile]:
        return await self.session.drop_files()

    async def fetch(self, target: DropFile) -> FetchOutcome:
        return await self.session.fetch(target, extract=True, unless_fetched=True)


def file_key(f: DropFile) -> str:
    """What this run calls a file: its job, else its path and mtime (a new upload is a new file)."""
    return f"job:{f.job_id}" if f.job_id is not None else f"file:{f.path}@{f.mtime.isoformat()}"


def fetched_key(profile: str, f: DropFile) -> str:
    """The watch state's key of a fetched file no job produced (``auto_fetch_unknown``)."""
    return f"{profile}|{f.path}|{f.mtime.isoformat()}"
