"""The live status board: every job of the profile, updated in place.

Rows are keyed by job id. Poller events land in :meth:`JobBoard.upsert`;
re-sorting and re-filtering are coalesced to at most one pass per
``RESORT_DELAY`` however many events arrive, and the cursor stays on its job.
Countdowns (age, time in status, next poll, expiry) are computed when a row
is drawn, so a once-a-second ``refresh()`` keeps them live at the cost of the
visible rows only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from typing import ClassVar

from rich.text import Text
from textual.message import Message

from ettui.model import DropFile, Job, JobStatus
from ettui.safetext import clean
from ettui.ui.filtering import Query
from ettui.ui.formatting import expiry_text, shorten, since, status_text, until
from ettui.ui.widgets.table import Cell, Column, RowKey, VirtualTable

RESORT_DELAY = 0.1
"""Seconds to gather live updates before one re-sort."""

_FAR = datetime.max.replace(tzinfo=None)

_STATUS_RANK = {
    JobStatus.UNCONFIRMED: 0,
    JobStatus.ERROR: 0,
    JobStatus.UNKNOWN: 1,
    JobStatus.PROCESSING: 2,
    JobStatus.SCHEDULED: 3,
    JobStatus.COMPLETE: 4,
    JobStatus.DISMISSED: 5,
}


def _stamp(value: datetime | None, missing: float) -> float:
    return value.timestamp() if value is not None else missing


SORTS: list[tuple[str, Callable[[Job], tuple[float | int | str, ...]]]] = [
    ("newest", lambda j: (-j.submitted_at.timestamp(), -j.id)),
    ("status", lambda j: (_STATUS_RANK.get(j.status, 9), -j.submitted_at.timestamp(), -j.id)),
    ("expires", lambda j: (_stamp(j.expires_at, float("inf")), -j.id)),
    ("next poll", lambda j: (_stamp(j.next_poll_at, float("inf")), -j.id)),
    ("call", lambda j: (j.call, -j.submitted_at.timestamp(), -j.id)),
]
"""Sort modes, cycled by ``s``: label and key."""

JOB_COLUMNS = [
    Column("batch", "Batch ID", 10),
    Column("call", "Call", 4),
    Column("status", "Status", 10),
    Column("age", "Age", 7, "right"),
    Column("in_status", "In state", 8, "right"),
    Column("next", "Poll in", 7, "right"),
    Column("landed", "File", 4),
    Column("expires", "Expires", 8, "right"),
    Column("file", "File name", 36),
    Column("profile", "Profile", 10),
]


class JobBoard(VirtualTable):
    """The jobs of one profile, live, sortable and filterable."""

    DEFAULT_CSS = """
    JobBoard { height: 1fr; }
    """

    COMPONENT_CLASSES: ClassVar[set[str]] = VirtualTable.COMPONENT_CLASSES

    class JobHighlighted(Message):
        """The cursor moved to a job (None when the board is empty)."""

        def __init__(self, board: "JobBoard", job: Job | None) -> None:
            super().__init__()
            self.board = board
            self.job = job

    class ViewChanged(Message):
        """Row count, sort or filter changed (the pane retitles itself)."""

        def __init__(self, board: "JobBoard") -> None:
            super().__init__()
            self.board = board

    def __init__(self, now: Callable[[], datetime], *, id: str | None = None) -> None:
        super().__init__(JOB_COLUMNS, empty_text="No jobs yet: press n to compose a request.", id=id)
        self.now = now
        self.jobs: dict[int, Job] = {}
        self.landed: dict[int, DropFile] = {}
        self.expiry: dict[int, datetime] = {}
        """Expiry by job, including files the drop no longer lists."""
        self.sort_index = 0
        self.filter_query = Query()
        """The active filter (not ``query``: that name is Textual's DOM query)."""
        self._resort_pending = False

    # -- data -------------------------------------------------------------

    @property
    def sort_label(self) -> str:
        return SORTS[self.sort_index][0]

    @property
    def selected_job(self) -> Job | None:
        key = self.cursor_key
        return self.jobs.get(key) if isinstance(key, int) else None

    def load(self, jobs: Iterable[Job]) -> None:
        """Replace every job (a profile switch)."""
        self.jobs = {job.id: job for job in jobs}
        self.resort()

    def add_jobs(self, jobs: Iterable[Job]) -> None:
        """Add a page of jobs from lazy loading; jobs already live keep their newer copy."""
        for job in jobs:
            self.jobs.setdefault(job.id, job)
        self._schedule_resort()

    def upsert(self, job: Job) -> None:
        """A live update: replace the job's row in place, re-sort soon."""
        old = self.jobs.get(job.id)
        if old is not None and not job.history and old.history:
            job.history = old.history
        self.jobs[job.id] = job
        self.refresh_row(job.id)
        self._schedule_resort()

    def drop_job(self, job_id: int) -> None:
        """Take a job off the board (a write-ahead job whose request never left)."""
        if self.jobs.pop(job_id, None) is not None:
            self._schedule_resort()

    def set_landed(self, files: Sequence[DropFile]) -> None:
        """Which jobs' files the drop lists (and their expiry)."""
        self.landed = {f.job_id: f for f in files if f.job_id is not None and f.listed}
        self.expiry = {f.job_id: f.expires_at for f in files if f.job_id is not None}
        self.refresh()

    def cycle_sort(self) -> str:
        """Next sort mode; returns its label."""
        self.sort_index = (self.sort_index + 1) % len(SORTS)
        self.resort()
        return self.sort_label

    def set_query(self, query: Query) -> None:
        self.filter_query = query
        self.resort()

    def _schedule_resort(self) -> None:
        if not self._resort_pending:
            self._resort_pending = True
            self.set_timer(RESORT_DELAY, self.resort)

    def resort(self) -> None:
        """Apply sort and filter now, keeping the cursor on its job."""
        self._resort_pending = False
        key = SORTS[self.sort_index][1]
        jobs: Iterable[Job] = self.jobs.values()
        if not self.filter_query.empty:
            now = self.now()
            jobs = [j for j in jobs if self._matches(j, now)]
        self.set_rows([j.id for j in sorted(jobs, key=key)])
        self.post_message(self.ViewChanged(self))

    def _expires(self, job: Job) -> datetime | None:
        return self.expiry.get(job.id) or job.expires_at

    def _matches(self, job: Job, now: datetime) -> bool:
        expires = self._expires(job)
        values = {
            "status": job.status.value,
            "call": job.call,
            "batch": job.batch_id or "",
            "file": job.file_name or "",
            "profile": job.profile,
            "landed": "yes" if job.id in self.landed else "no",
            "error": job.last_error or "",
        }
        durations: dict[str, timedelta | None] = {
            "expires": (expires - now) if expires else None,
            "age": now - job.submitted_at,
            "in_status": (now - job.status_changed_at) if job.status_changed_at else None,
            "next": (job.next_poll_at - now) if job.next_poll_at else None,
        }
        text = " ".join(values.values())
        return self.filter_query.matches(text, values, durations)

    # -- rendering ----------------------------------------------------------

    def cells(self, key: RowKey) -> Sequence[Cell]:
        job = self.jobs[key]  # type: ignore[index]
        now = self.now()
        landed = self.landed.get(job.id)
        if landed is not None:
            landed_cell = Text("✔", style="bold green")
        elif job.download_path:
            landed_cell = Text("↓", style="cyan")
        elif job.status is JobStatus.COMPLETE:
            landed_cell = Text("…", style="dim")
        else:
            landed_cell = Text("-", style="dim")
        next_poll = until(job.next_poll_at, now) if job.status.polled else "-"
        status = status_text(job.status, job.status_raw)
        if job.status is JobStatus.UNCONFIRMED:
            status.append(" ?", style="bold yellow")  # the service may or may not run it: see details
        elif job.last_error and not job.terminal:
            # A stuck or failing poll shows in the row, not as a silent "Scheduled".
            failures = f" ×{job.poll_failures}" if job.poll_failures > 1 else ""
            status.append(f" ! poll failed{failures}", style="bold red")
        return [
            job.batch_id or Text(f"#{job.id}", style="yellow"),
            job.call,
            status,
            since(job.submitted_at, now),
            since(job.status_changed_at or job.submitted_at, now),
            next_poll,
            landed_cell,
            expiry_text(self._expires(job), now) if job.status is JobStatus.COMPLETE else Text("-", style="dim"),
            shorten(clean(job.file_name or "-"), 36),
            job.profile,
        ]

    def watch_cursor_row(self, old_row: int, new_row: int) -> None:
        super().watch_cursor_row(old_row, new_row)
        self.post_message(self.JobHighlighted(self, self.selected_job))
