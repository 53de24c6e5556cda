"""The live status board: every job of the profile, updated in place.

Rows are keyed by job id. Poller events land in :meth:`JobBoard.upsert`;
re-sorting and re-filtering are coalesced to at most one pass per
``RESORT_DELAY`` however many events arrive, and the cursor stays on its job.
Countdowns (age, time in status, next poll, expiry) are computed when a row
is drawn, so a once-a-second ``refresh()`` keeps them live at the cost of the
visible rows only.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual.message import Message

from ettui.model import DropFile, Job, JobStatus
from ettui.safetext import clean
from ettui.ui.filtering import Query
from ettui.ui.formatting import expiry_text, local_time, since, status_text, until
from ettui.ui.widgets.table import Cell, Column, RowKey, VirtualTable

if TYPE_CHECKING:
    from ettui.jobs.poller import JobEvent

EMPTY_TEXT = "No jobs yet: press n to compose a request."
RESORT_DELAY = 0.1
"""Seconds to gather live updates before one re-sort."""

_STATUS_RANK = {
    JobStatus.UNCONFIRMED: 0,
    JobStatus.ERROR: 0,
    JobStatus.UNKNOWN: 1,
    JobStatus.PROCESSING: 2,
    JobStatus.SCHEDULED: 3,
    JobStatus.COMPLETE: 4,
    JobStatus.DISMISSED: 5,
}


SortValue = float | int | str


@dataclass(frozen=True)
class SortMode:
    """Sort by one column: its label, the column it marks, and the value each job sorts by.

    The natural order is ascending in what the column shows (``newest``: age
    ascending); ``S`` reverses it. Jobs without a value (no expiry yet) go
    last either way.
    """

    label: str
    column: str
    value: Callable[[JobBoard, Job], SortValue | None]


SORTS: list[SortMode] = [
    SortMode("newest", "age", lambda b, j: -j.submitted_at.timestamp()),
    SortMode("status", "status", lambda b, j: _STATUS_RANK.get(j.status, 9)),
    SortMode("expires", "expires", lambda b, j: _stamp(b.expires(j))),
    SortMode("next poll", "next", lambda b, j: _stamp(j.next_poll_at) if j.status.polled else None),
    SortMode("in state", "in_status", lambda b, j: -(j.status_changed_at or j.submitted_at).timestamp()),
    SortMode("call", "call", lambda b, j: j.call),
    SortMode("batch", "batch", lambda b, j: j.batch_id.zfill(20) if j.batch_id else None),
    SortMode("file", "file", lambda b, j: j.file_name.lower() if j.file_name else None),
]
"""Sort modes, cycled by ``s`` (``S`` reverses)."""

FILTER_FIELDS = ("status", "call", "batch", "file", "profile", "landed", "error")
"""``field:value`` names the board's filter knows."""
FILTER_DURATIONS = ("expires", "age", "in_status", "next")
"""``field<6h`` names the board's filter knows."""


def _stamp(value: datetime | None) -> float | None:
    return value.timestamp() if value is not None else None


JOB_COLUMNS = [
    Column("batch", "Batch ID", 10, min_width=8, priority=10),
    Column("call", "Call", 4, priority=8),
    Column("status", "Status", 14, min_width=10, priority=10),
    Column("age", "Age", 7, "right", priority=5),
    Column("in_status", "In state", 9, "right", priority=4),
    Column("next", "Poll in", 8, "right", priority=3),
    Column("landed", "File", 4, priority=6),
    Column("expires", "Expires", 8, "right", min_width=7, priority=9),
    Column("expires_at", "Expires at", 11, priority=2, optional=True),
    Column("file", "File name", 18, priority=2, grow=True),
    Column("profile", "Profile", 10, priority=1, optional=True),
]
"""Board columns: priorities decide what shrinks and hides first on a narrow terminal."""


class JobBoard(VirtualTable):
    """The jobs of one profile, live, sortable and filterable."""

    DEFAULT_CSS = """
    JobBoard { height: 1fr; }
    """

    COMPONENT_CLASSES: ClassVar[set[str]] = VirtualTable.COMPONENT_CLASSES

    class JobHighlighted(Message):
        """The cursor moved to a job (None when the board is empty)."""

        def __init__(self, board: JobBoard, job: Job | None) -> None:
            super().__init__()
            self.board = board
            self.job = job

        @property
        def control(self) -> JobBoard:
            """The JobBoard that sent it (so ``@on(..., "#id")`` selects by its id)."""
            return self.board

    class ViewChanged(Message):
        """Row count, sort or filter changed (the pane retitles itself)."""

        def __init__(self, board: JobBoard) -> None:
            super().__init__()
            self.board = board

        @property
        def control(self) -> JobBoard:
            """The JobBoard that sent it (so ``@on(..., "#id")`` selects by its id)."""
            return self.board

        def can_replace(self, message: Message) -> bool:
            """A burst of changes (a re-sort per update) needs one retitle: a newer one replaces it."""
            return isinstance(message, JobBoard.ViewChanged) and message.control is self.control

    def __init__(
        self, now: Callable[[], datetime], *, auto_profiles: frozenset[str] = frozenset(), zone: tzinfo | None = None,
        id: str | None = None,
    ) -> None:
        super().__init__(JOB_COLUMNS, empty_text=EMPTY_TEXT, fit=True, id=id)
        self.now = now
        self.zone = zone
        """Absolute times are shown in it (``[ui] time_zone``; None: the local zone)."""
        self.auto_profiles = auto_profiles
        """Profiles with ``auto_fetch``: an ``ettui watch`` fetches their outputs (the row says "auto")."""
        self.jobs: dict[int, Job] = {}
        self.landed: dict[int, DropFile] = {}
        self.expiry: dict[int, datetime] = {}
        """Expiry by job, including files the drop no longer lists."""
        self.sort_index = 0
        self.sort_reverse = False
        self.hidden: set[int] = set()
        """Jobs the user archived (``h``); left out unless ``show_hidden``."""
        self.show_hidden = False
        self.filter_query = Query()
        """The active filter (not ``query``: that name is Textual's DOM query)."""
        self._resort_pending = False
        self._longest_name = 0

    def natural_width(self, column: Column) -> int | None:
        return self._longest_name if column.key == "file" else None

    # -- data -------------------------------------------------------------

    @property
    def sort_label(self) -> str:
        """``expires ▲``: the mode and its direction."""
        return f"{SORTS[self.sort_index].label} {self._arrow}"

    @property
    def sort_mode(self) -> SortMode:
        return SORTS[self.sort_index]

    @property
    def _arrow(self) -> str:
        return "▼" if self.sort_reverse else "▲"

    def header_cells(self) -> list[Cell]:
        marked = self.sort_mode.column
        return [f"{c.label}{self._arrow}" if c.key == marked else c.label for c in self.columns]

    def set_sort(self, label: str, reverse: bool = False) -> None:
        """Sort by the mode named ``label`` (unknown names keep the current one)."""
        for index, mode in enumerate(SORTS):
            if mode.label == label:
                self.sort_index = index
        self.sort_reverse = reverse
        self._drawn.clear()
        self.resort()
        self.refresh()

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

    def apply(self, event: JobEvent) -> Job | None:
        """Show what a poller event says about its job; the job as shown, or None when none is left.

        ``discarded`` takes the row away; a ``submitting`` note ("Submitting (retry 2
        of 4)") is shown in the status cell, not stored.
        """
        job = event.job
        if job is None:
            return None
        if event.kind == "discarded":
            self.drop_job(job.id)
            return None
        if event.kind == "submitting" and event.note:
            job = dataclasses.replace(job, status_raw=event.note)
        self.upsert(job)
        return job

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
        """Next sort mode (ascending); returns its label."""
        self.set_sort(SORTS[(self.sort_index + 1) % len(SORTS)].label)
        return self.sort_label

    def reverse_sort(self) -> str:
        """The same mode the other way round; returns its label."""
        self.set_sort(self.sort_mode.label, not self.sort_reverse)
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
        jobs: Iterable[Job] = self.jobs.values()
        if self.hidden and not self.show_hidden:
            jobs = [j for j in jobs if j.id not in self.hidden]
        if not self.filter_query.empty:
            now = self.now()
            jobs = [j for j in jobs if self._matches(j, now)]
        self.set_rows(self._sorted(jobs))
        self.empty_text = (
            f"No job matches {self.filter_query.text}; esc in the filter clears it."
            if not self.filter_query.empty and self.jobs else EMPTY_TEXT
        )
        longest = max((len(j.file_name or "") for j in self.jobs.values()), default=0)
        if longest != self._longest_name:
            self._longest_name = longest
            self.relayout()
        self.post_message(self.ViewChanged(self))

    @property
    def hidden_count(self) -> int:
        """Hidden jobs that are on this board."""
        return sum(1 for job_id in self.hidden if job_id in self.jobs)

    def set_hidden(self, hidden: Iterable[int], show: bool) -> None:
        self.hidden = set(hidden)
        self.show_hidden = show
        self._drawn.clear()
        self.resort()
        self.refresh()

    def _sorted(self, jobs: Iterable[Job]) -> list[int]:
        """Job ids in the sort mode's order; jobs without a value last, newest first among ties."""
        value = self.sort_mode.value
        keyed: list[tuple[SortValue, float, int]] = []
        missing: list[Job] = []
        for job in jobs:
            v = value(self, job)
            if v is None:
                missing.append(job)
            else:
                keyed.append((v, -job.submitted_at.timestamp(), -job.id))
        keyed.sort(reverse=self.sort_reverse)
        missing.sort(key=lambda j: (-j.submitted_at.timestamp(), -j.id))
        return [-k[2] for k in keyed] + [j.id for j in missing]

    def expires(self, job: Job) -> datetime | None:
        """When the job's file leaves the drop: the drop's own figure, else the store's."""
        return self._expires(job)

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
        elif job.profile in self.auto_profiles and job.status in (JobStatus.SCHEDULED, JobStatus.PROCESSING,
                                                                  JobStatus.UNKNOWN, JobStatus.COMPLETE):
            landed_cell = Text("auto", style="magenta")  # a watcher will fetch it when it lands
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
        batch: Cell = job.batch_id or Text(f"#{job.id}", style="yellow")
        if job.id in self.hidden:
            batch = Text(job.batch_id or f"#{job.id}", style="dim italic")
        return [
            batch,
            job.call,
            status,
            since(job.submitted_at, now),
            since(job.status_changed_at or job.submitted_at, now),
            next_poll,
            landed_cell,
            expiry_text(self._expires(job), now) if job.status is JobStatus.COMPLETE else Text("-", style="dim"),
            local_time(self._expires(job), zone=self.zone) if job.status is JobStatus.COMPLETE else Text("-", style="dim"),
            clean(job.file_name or "-"),
            clean(job.profile),
        ]

    def watch_cursor_row(self, old_row: int, new_row: int) -> None:
        super().watch_cursor_row(old_row, new_row)
        self.post_message(self.JobHighlighted(self, self.selected_job))
