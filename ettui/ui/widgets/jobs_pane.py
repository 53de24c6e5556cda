"""The Jobs pane: the board, its filter, and every action on a job.

It owns what the job side knows: loading the store in pages, applying the
poller's events to the board (and announcing them), and the actions on the
selected job: submit (with the duplicate guard), clone, hide, details,
dismiss, resubmit and poll now. Every call to the session runs in a worker
of this widget.

What the rest of the app needs to hear is posted as messages (each carries
its ``control``): :class:`Accepted` (the app shows the pane with the cursor
on the new job), :class:`CloneRequested` (the app fills Compose) and
:class:`Failed` (the app's one place for errors).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, tzinfo
from typing import TYPE_CHECKING

from textual import on, work
from textual.app import ComposeResult
from textual.message import Message
from textual.widgets import Static

from ettui.errors import EttuiError
from ettui.model import BatchRequest, Job, JobStatus, format_duration
from ettui.ui.activity_log import ActivityLog
from ettui.ui.formatting import plural
from ettui.ui.messages import PaneMessage
from ettui.ui.notices import Toasts
from ettui.ui.screens.details import JobDetailsScreen
from ettui.ui.screens.dialogs import ConfirmScreen
from ettui.ui.ui_state import UiState
from ettui.ui.widgets.filter_input import FilterInput
from ettui.ui.widgets.filter_pane import FilterPane
from ettui.ui.widgets.job_board import FILTER_DURATIONS, FILTER_FIELDS, JobBoard

if TYPE_CHECKING:
    from ettui.jobs.poller import JobEvent
    from ettui.session import Session

FIRST_PAGE = 200
"""Jobs loaded before the first frame shows them; the rest follow in pages."""
PAGE = 2000
DUPLICATE_WINDOW = timedelta(minutes=10)
"""A second identical request within this long asks first."""


class JobsPane(FilterPane):
    """The board of one profile's jobs, its filter, and the actions on them."""

    FILTER_FIELDS = FILTER_FIELDS
    FILTER_DURATIONS = FILTER_DURATIONS
    NOUN = "job"

    class Accepted(PaneMessage["JobsPane"]):
        """The service accepted a request: show the pane with the cursor on the job."""

        def __init__(self, pane: JobsPane, job: Job) -> None:
            super().__init__(pane)
            self.job = job

    class CloneRequested(PaneMessage["JobsPane"]):
        """``c``: put this job's request into Compose."""

        def __init__(self, pane: JobsPane, job: Job) -> None:
            super().__init__(pane)
            self.job = job

    class Failed(PaneMessage["JobsPane"]):
        """A call on a job failed with a sentence for the user."""

        def __init__(self, pane: JobsPane, error: EttuiError) -> None:
            super().__init__(pane)
            self.error = error

    class _Loaded(Message):
        """A page of jobs read from the store by the loading worker."""

        def __init__(self, jobs: list[Job], first: bool, done: bool) -> None:
            super().__init__()
            self.jobs = jobs
            self.first = first
            self.done = done

    def __init__(
        self,
        *,
        session: Callable[[], Session | None],
        now: Callable[[], datetime],
        activity: ActivityLog,
        toasts: Toasts,
        ui_state: UiState,
        save_ui_state: Callable[[], None],
        readonly: bool = False,
        auto_profiles: frozenset[str] = frozenset(),
        zone: tzinfo | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(id=id, classes=classes)
        self.zone = zone
        """Absolute times are shown in it (``[ui] time_zone``; None: the local zone)."""
        self._session_of = session
        self.now = now
        self.activity = activity
        self.toasts = toasts
        self.ui_state = ui_state
        self._save_ui_state = save_ui_state
        self.readonly = readonly
        self._auto_profiles = auto_profiles
        self.loaded = False
        """True once every page of the store is on the board."""
        self._errors_seen: dict[int, str] = {}

    def compose(self) -> ComposeResult:
        yield FilterInput(
            self.ui_state.filter_history,
            placeholder="filter jobs: words, status:error, expires<6h (esc clears)",
            id="jobs-filter",
        )
        yield Static("", id="jobs-filter-status", classes="filter-status")
        yield JobBoard(self.now, auto_profiles=self._auto_profiles, zone=self.zone, id="board")

    def on_mount(self) -> None:
        self.board.set_sort(self.ui_state.sort, self.ui_state.sort_reverse)
        self.board.set_hidden(self.ui_state.hidden_jobs, self.ui_state.show_hidden)

    @property
    def session(self) -> Session | None:
        """The app's session of the moment (None while switching profile)."""
        return self._session_of()

    @property
    def board(self) -> JobBoard:
        return self.query_one(JobBoard)

    @property
    def filtered(self) -> JobBoard:
        return self.board

    @property
    def total(self) -> int:
        return len(self.board.jobs)

    # -- loading and live events ------------------------------------------------

    def forget(self) -> None:
        """A new profile: nothing of the old one is on the board."""
        self.board.load([])
        self.loaded = False

    @work(exclusive=True, group="load-jobs")
    async def load_jobs(self) -> None:
        """Read the store in pages (off the loop: the store's own thread), the first page at once."""
        session = self.session
        if session is None:
            return
        page = await session.jobs(limit=FIRST_PAGE)
        done = len(page) < FIRST_PAGE
        self.post_message(self._Loaded(page, first=True, done=done))
        offset = len(page)
        while not done:
            page = await session.jobs(limit=PAGE, offset=offset)
            offset += len(page)
            done = len(page) < PAGE
            self.post_message(self._Loaded(page, first=False, done=done))

    @on(_Loaded)
    def _page_loaded(self, message: _Loaded) -> None:
        if message.first:
            self.board.load(message.jobs)
        else:
            self.board.add_jobs(message.jobs)
        if message.done:
            self.loaded = True
            self.retitle()  # the title drops "loading…"

    @on(JobBoard.ViewChanged, "#board")
    def _view_changed(self) -> None:
        self.retitle()

    def title(self) -> str:
        board = self.board
        notes = "" if self.loaded else " · loading…"
        hidden_count = board.hidden_count
        if hidden_count and board.show_hidden:
            notes = f" · showing {hidden_count} hidden (H hides){notes}"
        elif hidden_count:
            notes = f" · {hidden_count} hidden (H shows){notes}"
        filtered = f" · filter: {board.filter_query.text}" if not board.filter_query.empty else ""
        return f"2 Jobs · {board.row_count:,}/{len(board.jobs):,} · sort: {board.sort_label}{filtered}{notes}"

    def apply(self, event: JobEvent) -> None:
        """Show a poller event on the board, write it to the activity log and announce it."""
        if event.kind == "throttled":
            text = event.error.message if event.error else "The service is busy; polling backs off."
            self.activity.record(f"Throttled: {text}")
            self.toasts.once(("throttled",), text, title="Service busy", severity="warning")
        job = self.board.apply(event)
        if job is None:
            return
        if event.kind == "submitted":
            self.activity.record(f"Submitted {job.call} as {job.label}")
        elif event.kind == "status":
            before = event.previous.value if event.previous else "?"
            self.activity.record(f"{job.label.capitalize()} ({job.call}): {before} -> {job.status_raw}")
            self.toasts.status_changed(job)
        elif event.kind == "error" and event.error is not None and self._errors_seen.get(job.id) != event.error.message:
            self._errors_seen[job.id] = event.error.message
            self.activity.record(f"Poll of batch {job.batch_id} failed: {event.error.message}")
            # Keyed on the sentence, not the batch: one refused connection is one toast, not one per job.
            self.toasts.once(
                ("poll", event.error.message), event.error.message, title=f"Polling: {event.error.title}", severity="warning"
            )

    def sort(self, *, reverse: bool) -> None:
        """``s``: sort by the next column; ``S``: the same column the other way round. Remembered."""
        label = self.board.reverse_sort() if reverse else self.board.cycle_sort()
        self.ui_state.sort, self.ui_state.sort_reverse = self.board.sort_mode.label, self.board.sort_reverse
        self._save_ui_state()
        self.notify(f"Jobs sorted by {label} (s next column, S reverses).", timeout=2)

    # -- submit -----------------------------------------------------------------

    def request_submit(self, request: BatchRequest) -> None:
        """Submit ``request``; a twin sent within ``DUPLICATE_WINDOW`` asks first."""
        if self.readonly:
            return
        twin = self._recent_twin(request)
        if twin is None:
            self.submit_request(request)
            return
        ago = format_duration(max(timedelta(0), self.now() - twin.submitted_at))
        question = (
            f"An identical {request.call} request went out {ago} ago as {twin.label} "
            f"(now {twin.status_raw}). Submit another copy?"
        )

        def go(confirmed: bool | None) -> None:
            if confirmed:
                self.submit_request(request)

        self.app.push_screen(ConfirmScreen("Submit again?", question, "Submit"), go)

    def _recent_twin(self, request: BatchRequest) -> Job | None:
        """The newest job with the same call and parameters submitted within ``DUPLICATE_WINDOW``."""
        now = self.now()
        twins = [
            job for job in self.board.jobs.values()
            if job.call == request.call and job.params == request.params and now - job.submitted_at < DUPLICATE_WINDOW
        ]
        return max(twins, key=lambda j: j.submitted_at, default=None)

    @work(exclusive=False, group="submit")
    async def submit_request(self, request: BatchRequest) -> None:
        """Send the request; the poller's ``submitted`` event puts it on the board."""
        session = self.session
        if session is None:
            self.notify("Not connected yet; wait for the profile to open.", severity="warning")
            return
        try:
            job = await session.submit(request)
        except EttuiError as exc:
            self.post_message(self.Failed(self, exc))
            return
        self._accepted(job)

    def _accepted(self, job: Job) -> None:
        self.board.upsert(job)
        self.board.resort()
        self.notify(f"{job.call} accepted as batch {job.batch_id}.", title="Submitted")
        self.post_message(self.Accepted(self, job))

    # -- actions on the job the user picked (None: the board is not the pane in use) ----

    def clone(self, job: Job | None) -> None:
        """``c``: ask for the job's request in Compose."""
        if job is None:
            self.notify("Pick a job on the board (2) to clone it into Compose.", timeout=3)
            return
        self.post_message(self.CloneRequested(self, job))

    def hide(self, job: Job | None) -> None:
        """Archive a finished job: off the board until ``H`` shows hidden jobs (``h`` again unhides)."""
        if job is None:
            self.notify("Pick a finished job on the board (2) to hide it.", timeout=3)
            return
        hidden = set(self.ui_state.hidden_jobs)
        if job.id in hidden:
            hidden.discard(job.id)
            message = f"{job.label.capitalize()} is back on the board."
        elif not job.terminal:
            self.notify(f"{job.label.capitalize()} is still {job.status_raw}; only finished jobs can be hidden.", timeout=3)
            return
        else:
            hidden.add(job.id)
            message = f"{job.label.capitalize()} hidden; H shows hidden jobs, h on it again unhides."
        self.ui_state.hidden_jobs = sorted(hidden)
        self._save_ui_state()
        self.board.set_hidden(hidden, self.board.show_hidden)
        self.notify(message, timeout=3)

    def toggle_hidden(self) -> None:
        """``H``: show the hidden jobs too, or hide them again."""
        show = not self.board.show_hidden
        self.ui_state.show_hidden = show
        self._save_ui_state()
        self.board.set_hidden(self.ui_state.hidden_jobs, show)
        count = self.board.hidden_count
        self.notify(f"Showing {plural(count, 'hidden job')}." if show else f"{plural(count, 'job')} hidden.", timeout=2)

    @work(group="details")
    async def show_details(self, job_id: int) -> None:
        """The details screen of a job (read fresh from the store, with its history)."""
        session = self.session
        job = await session.job(job_id) if session is not None else None
        if job is not None:
            self.app.push_screen(JobDetailsScreen(job, self.now, self.board.landed.get(job_id), self.zone))

    def _unconfirmed(self, job: Job | None, verb: str, doing: str) -> Job | None:
        """``job`` when it is Unconfirmed and may be changed, else None after saying why."""
        if self.readonly:
            self.notify(f"Read-only session (--readonly): {doing} is off.", severity="warning", timeout=3)
            return None
        if self.session is None or job is None or job.status is not JobStatus.UNCONFIRMED:
            self.notify(f"Pick an Unconfirmed job to {verb}.", severity="warning")
            return None
        return job

    def ask_dismiss(self, picked: Job | None) -> None:
        """Dismiss an Unconfirmed job, after asking."""
        job = self._unconfirmed(picked, "dismiss", "dismissing")
        if job is None:
            return

        def go(confirmed: bool | None) -> None:
            if confirmed:
                self.dismiss_job(job.id)

        self.app.push_screen(ConfirmScreen(
            "Dismiss job",
            f"Job {job.id} ({job.call}) may have been accepted by the service. Dismiss it only once you checked the "
            "drop or the vendor's UI. Dismiss?",
            "Dismiss",
        ), go)

    @work(group="dismiss")
    async def dismiss_job(self, job_id: int) -> None:
        if self.session is None:
            return
        try:
            job = await self.session.dismiss(job_id)
        except EttuiError as exc:
            self.post_message(self.Failed(self, exc))
            return
        self.board.upsert(job)
        self.activity.record(f"Dismissed job {job.id} ({job.call})")

    def ask_resubmit(self, picked: Job | None) -> None:
        """Send an Unconfirmed job's request again as a new, linked job, after asking."""
        job = self._unconfirmed(picked, "resubmit", "resubmitting")
        if job is None:
            return

        def go(confirmed: bool | None) -> None:
            if confirmed:
                self.resubmit_job(job.id)

        self.app.push_screen(ConfirmScreen(
            "Resubmit job",
            f"If the service did accept job {job.id}, resubmitting runs the export twice. Resubmit?",
            "Resubmit",
        ), go)

    @work(group="submit")
    async def resubmit_job(self, job_id: int) -> None:
        if self.session is None:
            return
        try:
            job = await self.session.resubmit(job_id)
        except EttuiError as exc:
            self.post_message(self.Failed(self, exc))
            return
        self._accepted(job)

    def poll_now(self, job: Job | None) -> None:
        """Ask the service about ``job`` now (every live job when None)."""
        session = self.session
        if session is None:
            return
        if session.paused:
            self.notify("Polling is paused, so nothing polls now; p resumes.", timeout=3)
        elif job is not None and job.status.polled:
            session.poll_now(job.id)
            self.notify(f"Polling batch {job.batch_id} now.", timeout=2)
        else:
            session.poll_now()
            self.notify("Polling every live job now.", timeout=2)
