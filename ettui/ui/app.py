"""The ettui application: layout, bindings, and the session's events as messages.

Three panes side by side at 120x40 (Compose | Jobs over Drop); below
``WIDE_MIN_WIDTH`` columns they become tabs. Every binding has an id and the
user's ``[ui.keymap]`` is applied in one place (``__init__``). All I/O runs
in workers that call ``Session``; its poller events arrive on the loop thread
and are re-posted as ``JobChanged`` messages. Drop, download and output
actions live in :class:`~ettui.ui.transfers.TransferActions`.

Remote text (file names, batch IDs, reply values, error sentences quoting
them) is never markup here: every toast goes through :meth:`EttuiApp.notify`,
which cleans it with :mod:`ettui.safetext` and turns markup off, and titles
are ``Text``. A worker that fails unexpectedly is caught by the backstop
(:mod:`ettui.ui.backstop`) instead of ending the app.
"""

from __future__ import annotations

import dataclasses
import gc
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.notifications import SeverityLevel
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer, Header, Input, Tab, Tabs
from textual.worker import WorkerFailed

from ettui import paths
from ettui.config import Config
from ettui.errors import EttuiError
from ettui.model import Job, JobStatus, utcnow
from ettui.safetext import clean, clean_text
from ettui.ui.activity_log import ActivityLog
from ettui.ui.backstop import Backstop
from ettui.ui.commands import EttuiCommands
from ettui.ui.filtering import FilterError, Query
from ettui.ui.screens.activity import ActivityScreen
from ettui.ui.screens.details import JobDetailsScreen
from ettui.ui.screens.dialogs import ConfirmScreen
from ettui.ui.screens.help import HelpScreen, entries_from
from ettui.ui.transfers import TransferActions
from ettui.ui.widgets.compose import ComposePane
from ettui.ui.widgets.drop_browser import DropBrowser
from ettui.ui.widgets.job_board import JobBoard

if TYPE_CHECKING:
    from ettui.jobs.poller import JobEvent
    from ettui.session import Session

SessionFactory = Callable[[], Awaitable["Session"]]

WIDE_MIN_WIDTH = 110
"""Narrower terminals get tabs instead of three panes."""
WIDE_MIN_HEIGHT = 30
FIRST_PAGE = 200
"""Jobs loaded before the first frame shows them; the rest follow in pages."""
PAGE = 2000
PANES = ("compose", "jobs", "drop")
PANE_ACTIONS = {
    "filter", "sort", "new_request", "submit", "details", "poll_now", "toggle_pause", "download",
    "extract", "open_output", "copy", "refresh_drop", "activity", "focus_pane", "dismiss_job", "resubmit_job",
}
"""Actions that act on the main panes, hidden while a viewer or dialog is on top."""


class JobChanged(Message):
    """A poller event, re-posted on the app's queue."""

    def __init__(self, event: "JobEvent") -> None:
        super().__init__()
        self.event = event


class JobsLoaded(Message):
    """A page of jobs read from the store by the loading worker."""

    def __init__(self, jobs: list[Job], first: bool, done: bool) -> None:
        super().__init__()
        self.jobs = jobs
        self.first = first
        self.done = done


class EttuiApp(TransferActions, App[int]):
    """Compose requests, watch them, fetch and read their output, from the keyboard."""

    CSS_PATH = Path(__file__).with_name("app.tcss")
    TITLE = "ettui"
    COMMANDS = App.COMMANDS | {EttuiCommands}

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("question_mark", "help", "Help", id="help"),
        Binding("slash", "filter", "Filter", id="filter"),
        Binding("s", "sort", "Sort", id="sort", show=False),
        Binding("n", "new_request", "New", id="new_request"),
        Binding("ctrl+s", "submit", "Submit", id="submit", show=False),
        Binding("enter", "details", "Details", id="details", show=False),
        Binding("r", "poll_now", "Poll now", id="poll_now", show=False),
        Binding("p", "toggle_pause", "Pause", id="pause", show=False),
        Binding("d", "download", "Download", id="download"),
        Binding("x", "extract", "Extract", id="extract", show=False),
        Binding("o", "open_output", "Open output", id="open_output"),
        Binding("y", "copy", "Copy", id="copy", show=False),
        Binding("D", "dismiss_job", "Dismiss unconfirmed", id="dismiss_job", show=False),
        Binding("S", "resubmit_job", "Resubmit unconfirmed", id="resubmit_job", show=False),
        Binding("R", "refresh_drop", "Refresh drop", id="refresh_drop", show=False),
        Binding("a", "activity", "Activity log", id="activity", show=False),
        Binding("1", "focus_pane('compose')", "Compose pane", id="focus_compose", show=False),
        Binding("2", "focus_pane('jobs')", "Jobs pane", id="focus_jobs", show=False),
        Binding("3", "focus_pane('drop')", "Drop pane", id="focus_drop", show=False),
        Binding("q", "quit_app", "Quit", id="quit"),
    ]

    def __init__(
        self,
        config: Config,
        profile_name: str | None = None,
        *,
        readonly: bool = False,
        session_factory: SessionFactory | None = None,
        activity_path: Path | None | bool = True,
        error_log: Path | None | bool = True,
    ) -> None:
        super().__init__()
        self.config = config
        self.profile_name = profile_name
        self.readonly = readonly
        self.session: Session | None = None
        self._session_factory = session_factory
        self._unsubscribe: Callable[[], None] | None = None
        self._errors_seen: dict[int, str] = {}
        self.active_pane = "jobs"
        self.jobs_loaded = False
        log_path = paths.activity_log() if activity_path is True else (activity_path or None)
        self.activity = ActivityLog(log_path, self.now)
        self.backstop = Backstop(paths.error_log() if error_log is True else (error_log or None))
        self.init_transfers()
        # The one place the user's keymap is applied: every binding id above can be remapped.
        self.set_keymap(dict(config.ui.keymap))
        if config.ui.theme:
            self.theme = config.ui.theme

    # -- layout -------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False)
        yield Tabs(Tab("1 Compose", id="tab-compose"), Tab("2 Jobs", id="tab-jobs"), Tab("3 Drop", id="tab-drop"), id="pane-tabs")
        with Horizontal(id="panes"):
            with Vertical(id="compose-pane", classes="pane"):
                yield ComposePane(readonly=self.readonly, id="compose")
            with Vertical(id="right"):
                with Vertical(id="jobs-pane", classes="pane"):
                    yield Input(placeholder="filter jobs: words, status:error, expires<6h (enter)", id="jobs-filter", classes="filter")
                    yield JobBoard(self.now, id="board")
                with Vertical(id="drop-pane", classes="pane"):
                    yield Input(placeholder="filter files: words, expires<6h, state:downloaded (enter)", id="drop-filter", classes="filter")
                    yield DropBrowser(self.now, id="drop")
        yield Footer()

    @property
    def main(self) -> Screen[object]:
        """The screen with the three panes (queries must not go to a viewer on top)."""
        return self.screen_stack[0]

    @property
    def board(self) -> JobBoard:
        return self.main.query_one(JobBoard)

    @property
    def drop(self) -> DropBrowser:
        return self.main.query_one(DropBrowser)

    @property
    def compose_pane(self) -> ComposePane:
        return self.main.query_one(ComposePane)

    def now(self) -> datetime:
        """The session's clock (the sandbox's fast clock), else the wall clock."""
        return self.session.clock.now() if self.session is not None else utcnow()

    def on_mount(self) -> None:
        self.main.query_one("#compose-pane").border_title = "1 Compose"
        self._retitle()
        self.sub_title = "connecting…"
        self._apply_layout()
        self.board.focus()
        self.set_interval(1.0, self._tick)
        self.open_session()

    def on_resize(self) -> None:
        if self.screen_stack and self.main.query("#panes"):
            self._apply_layout()

    @property
    def narrow(self) -> bool:
        return self.size.width < WIDE_MIN_WIDTH or self.size.height < WIDE_MIN_HEIGHT

    def _apply_layout(self) -> None:
        """Three panes when there is room, else one pane at a time under tabs."""
        if not self.screen_stack or not self.main.query("#panes"):
            return  # shutting down
        narrow = self.narrow
        self.screen_stack[0].set_class(narrow, "-narrow")
        self.main.query_one("#pane-tabs").display = narrow
        for pane in PANES:
            self.main.query_one(f"#{pane}-pane").display = not narrow or pane == self.active_pane
        self.main.query_one("#right").display = not narrow or self.active_pane != "compose"
        tabs = self.main.query_one("#pane-tabs", Tabs)
        if narrow and tabs.active != f"tab-{self.active_pane}":
            tabs.active = f"tab-{self.active_pane}"

    @on(Tabs.TabActivated, "#pane-tabs")
    def _tab_activated(self, event: Tabs.TabActivated) -> None:
        if len(self.screen_stack) != 1 or event.tabs.active != event.tab.id:
            return  # a stale activation (we set the tab ourselves since): acting on it would ping-pong
        if not self.narrow:
            return  # hidden tabs activate their first tab on mount: that must not pull the focus to Compose
        pane = (event.tab.id or "tab-jobs").removeprefix("tab-")
        if pane != self.active_pane:
            self.action_focus_pane(pane)

    @property
    def panes_up(self) -> bool:
        """False while starting or shutting down: workers' late messages then have nowhere to go."""
        return bool(self.screen_stack) and bool(self.main.query("#board"))

    def _retitle(self) -> None:
        if not self.panes_up:
            return
        board, drop = self.board, self.drop
        loading = "" if self.jobs_loaded else " · loading…"
        filtered = f" · filter: {board.filter_query.text}" if not board.filter_query.empty else ""
        drop_filter = f" · filter: {drop.filter_query.text}" if not drop.filter_query.empty else ""
        titles = {
            "#jobs-pane": f"2 Jobs · {board.row_count:,}/{len(board.jobs):,} · sort: {board.sort_label}{filtered}{loading}",
            "#drop-pane": f"3 Drop · {drop.row_count} files{drop_filter}",
        }
        for selector, title in titles.items():
            pane = self.main.query_one(selector)
            # Text, not a str: the filter is typed text and must not be read as markup.
            text = clean_text(title)
            if pane.border_title != text.markup:  # every re-sort asks; a border repaint only when it reads differently
                pane.border_title = text

    @on(JobBoard.ViewChanged)
    @on(DropBrowser.ViewChanged)
    def _view_changed(self) -> None:
        self._retitle()

    def _tick(self) -> None:
        """Once a second: redraw the visible rows whose countdowns changed, and check expiry."""
        if not self.panes_up:
            return
        if len(self.screen_stack) == 1:  # the panes are covered by a viewer or dialog otherwise
            self.board.refresh_changed()
            self.drop.refresh_changed()
        self.check_expiring()

    # -- the session ------------------------------------------------------------

    @work(exclusive=True, group="session")
    async def open_session(self, profile_name: str | None = None) -> None:
        """Open (or switch to) a profile's session, then load jobs and the drop."""
        await self._close_session()
        name = profile_name or self.profile_name
        try:
            if self._session_factory is not None and profile_name is None:
                session = await self._session_factory()
            else:
                from ettui.session import Session

                session = await Session.open(self.config, name)
        except EttuiError as exc:
            self.sub_title = "not connected"
            self.show_error(exc)
            return
        self.session = session
        self.profile_name = session.profile.name

        def forward(event: JobEvent) -> None:
            self.post_message(JobChanged(event))

        self._unsubscribe = session.subscribe(forward)
        self.load_jobs()  # first: the store is read in a thread while the form is built
        self.compose_pane.attach(session)
        self._update_subtitle()
        self.activity.record(f"Opened profile {session.profile.name} ({session.profile.dialect})")
        self.refresh_drop()

    async def _close_session(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self.session is not None:
            session, self.session = self.session, None
            await session.close()

    def switch_profile(self, name: str) -> None:
        """Close this profile's session and open ``name`` (palette command)."""
        def go(confirmed: bool | None = True) -> None:
            if confirmed:
                self.board.load([])
                self.drop.load([])
                self.jobs_loaded = False
                self.open_session(name)

        if self.downloads_running:
            self.push_screen(ConfirmScreen("Switch profile", "Downloads are running; switching stops them. Switch?", "Switch"), go)
        else:
            go()

    def _update_subtitle(self) -> None:
        if self.session is None:
            return
        parts = [f"profile {self.session.profile.name}"]
        if self.session.profile.sandbox:
            parts.append("sandbox")
        if self.readonly:
            parts.append("read-only")
        if self.session.paused:
            parts.append("POLLING PAUSED")
        if self.session.store.status:
            parts.append(self.session.store.status)  # "store: reconnecting" (a shared store's connection dropped)
        self.sub_title = " · ".join(parts)

    @work(exclusive=True, group="load-jobs")
    async def load_jobs(self) -> None:
        """Read the store in pages (off the loop: the store's own thread), the first page at once."""
        session = self.session
        if session is None:
            return
        first = await session.jobs(limit=FIRST_PAGE)
        self.post_message(JobsLoaded(first, first=True, done=len(first) < FIRST_PAGE))
        offset = len(first)
        while len(first) == FIRST_PAGE or offset > FIRST_PAGE:
            page = await session.jobs(limit=PAGE, offset=offset)
            offset += len(page)
            self.post_message(JobsLoaded(page, first=False, done=len(page) < PAGE))
            if len(page) < PAGE:
                break

    @on(JobsLoaded)
    def _jobs_loaded(self, message: JobsLoaded) -> None:
        if not self.panes_up:
            return
        if message.first:
            self.board.load(message.jobs)
        else:
            self.board.add_jobs(message.jobs)
        if message.done:
            self.jobs_loaded = True
            # Thousands of long-lived jobs made each full garbage collection a 50 ms pause that
            # landed on keystrokes while the poller churns; frozen, collections skip them.
            gc.freeze()
        self._retitle()

    @on(JobChanged)
    def _job_changed(self, message: JobChanged) -> None:
        if not self.panes_up:
            return
        event = message.event
        job = event.job
        if event.kind in ("paused", "resumed"):
            self._update_subtitle()
            self.activity.record(f"Polling {event.kind}")
            return
        if event.kind == "store":
            self._update_subtitle()
            self.activity.record(f"Job store: {event.note or 'connected again'}")
            if event.note is None:
                self.load_jobs()  # back after a reconnect: a full resync
            return
        if event.kind == "throttled":
            text = event.error.message if event.error else "The service is busy; polling backs off."
            self.activity.record(f"Throttled: {text}")
            self.notify(text, title="Service busy", severity="warning")
        if job is None:
            return
        if event.kind == "discarded":
            self.board.drop_job(job.id)
            return
        if event.kind == "submitting" and event.note:
            job = dataclasses.replace(job, status_raw=event.note)  # "Submitting (retry 2 of 4)": shown, not stored
        self.board.upsert(job)
        if event.kind == "submitted":
            self.activity.record(f"Submitted {job.call} as {job.label}")
        elif event.kind == "status":
            before = event.previous.value if event.previous else "?"
            self.activity.record(f"{job.label.capitalize()} ({job.call}): {before} -> {job.status_raw}")
            self._announce_status(job)
        elif event.kind == "error" and event.error is not None:
            if self._errors_seen.get(job.id) != event.error.message:
                self._errors_seen[job.id] = event.error.message
                self.activity.record(f"Poll of batch {job.batch_id} failed: {event.error.message}")
                self.notify(event.error.message, title=f"Batch {job.batch_id}: {event.error.title}", severity="warning")

    def _announce_status(self, job: Job) -> None:
        if job.status is JobStatus.COMPLETE:
            self.notify(f"Batch {job.batch_id} ({job.call}) is Complete: {job.file_name or 'file pending'}.", title="Complete")
            self.ring()
            self.refresh_drop()
        elif job.status is JobStatus.ERROR:
            self.notify(f"Batch {job.batch_id} ({job.call}) ended in Error.", title="Error", severity="error", timeout=10)
            self.ring()
        elif job.status is JobStatus.UNCONFIRMED:
            from ettui.session import unconfirmed_sentence

            self.notify(unconfirmed_sentence(job, job.last_error or "no acceptance was read"),
                        title="Submit unconfirmed", severity="warning", timeout=15)

    def ring(self) -> None:
        """The terminal bell, when the user asked for it."""
        if self.config.ui.bell:
            self.bell()

    def show_error(self, error: EttuiError) -> None:
        """The one place errors are shown (host keys have their own modal)."""
        self.activity.record(f"{error.title}: {error.message}")
        self.notify(error.message, title=error.title, severity="error", timeout=10)

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = False,
    ) -> None:
        """A toast. Every toast of the app (screens' too) passes here.

        Messages quote remote values, so the text is cleaned (controls made
        visible) and markup is off unless a caller asks for it with text of
        its own: a file named ``x[b="]y.zip`` is shown, not parsed.
        """
        super().notify(clean(message, multiline=True), title=clean(title), severity=severity, timeout=timeout, markup=markup)

    def _handle_exception(self, error: Exception) -> None:
        """Textual's last stop for exceptions: a failed worker is reported, the app keeps running.

        Textual calls this with ``WorkerFailed`` when a worker raises and would
        exit; anything else (a crash while composing or in a message handler)
        still ends the app as Textual decides.
        """
        if isinstance(error, WorkerFailed) and self.is_running:
            shown = self.backstop.catch(error.error)
            try:
                if shown is not None:
                    self.show_error(shown)
                return
            except Exception:  # the report itself failed: end as Textual would, with the first error
                pass
        super()._handle_exception(error)

    # -- bindings -------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if self.readonly and action in ("submit", "download", "resubmit_job", "dismiss_job"):
            return None  # shown disabled: read-only
        if len(self.screen_stack) > 1 and action in PANE_ACTIONS:
            return False  # the panes' actions are hidden while a viewer or dialog is up
        return True

    def current_pane(self) -> str:
        """The pane holding the focus (``jobs`` when nothing is focused)."""
        node: Widget | None = self.focused
        while node is not None:
            if node.id in ("compose-pane", "jobs-pane", "drop-pane"):
                return node.id.removesuffix("-pane")
            node = node.parent  # type: ignore[assignment]
        return self.active_pane

    def action_focus_pane(self, pane: str) -> None:
        self.active_pane = pane
        self._apply_layout()
        if pane == "compose":
            fields = self.main.query("#params Input")
            target: Widget = fields.first() if fields else self.main.query_one("#call-select")
        else:
            target = self.board if pane == "jobs" else self.drop
        target.focus()
        if self.narrow:
            # A pane that was just un-hidden can take the focus only once it is laid out.
            self.call_after_refresh(target.focus)

    def action_help(self) -> None:
        live = [(a.binding, a.enabled, self.get_key_display(a.binding)) for a in self.screen.active_bindings.values()]
        self.push_screen(HelpScreen(entries_from(live)))

    def action_activity(self) -> None:
        self.push_screen(ActivityScreen(self.activity.lines, str(self.activity.path or "memory only")))

    def action_filter(self) -> None:
        pane = self.current_pane()
        if pane == "compose":
            pane = "jobs"
            self.action_focus_pane("jobs")
        field = self.main.query_one(f"#{pane}-filter", Input)
        field.add_class("-visible")
        field.focus()

    @on(Input.Submitted, ".filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        try:
            query = Query.parse(event.value)
        except FilterError as exc:
            self.show_error(exc)
            return
        target: JobBoard | DropBrowser = self.board if event.input.id == "jobs-filter" else self.drop
        target.set_query(query)
        if query.empty:
            event.input.remove_class("-visible")
        target.focus()

    def action_sort(self) -> None:
        label = self.board.cycle_sort()
        self.notify(f"Jobs sorted by {label}.", timeout=2)

    def action_new_request(self) -> None:
        self.action_focus_pane("compose")
        self.compose_pane.clear()
        self.action_focus_pane("compose")

    def action_submit(self) -> None:
        self.compose_pane.submit()

    @on(ComposePane.SubmitRequested)
    def _submit_requested(self, message: ComposePane.SubmitRequested) -> None:
        if not self.readonly:
            self.submit_request(message.request)

    @work(exclusive=False, group="submit")
    async def submit_request(self, request: "ComposePane.SubmitRequested | object") -> None:
        """Send the request; the poller's ``submitted`` event puts it on the board."""
        session = self.session
        if session is None:
            self.notify("Not connected yet; wait for the profile to open.", severity="warning")
            return
        try:
            job = await session.submit(request)  # type: ignore[arg-type]
        except EttuiError as exc:
            self.show_error(exc)
            return
        self.show_accepted(job)

    def show_accepted(self, job: Job) -> None:
        """Put an accepted job on the board and the cursor on it."""
        self.board.upsert(job)
        self.board.resort()
        self.notify(f"{job.call} accepted as batch {job.batch_id}.", title="Submitted")
        self.action_focus_pane("jobs")
        self.board.move_cursor_to(job.id)

    def action_details(self) -> None:
        pane = self.current_pane()
        job_id: int | None = None
        if pane == "jobs" and self.board.selected_job is not None:
            job_id = self.board.selected_job.id
        elif pane == "drop" and self.drop.selected_file is not None:
            job_id = self.drop.selected_file.job_id
            if job_id is None:
                self.notify(f"{self.drop.selected_file.path} is not linked to a job of this profile.")
                return
        if job_id is not None:
            self.show_details(job_id)

    @work(group="details")
    async def show_details(self, job_id: int) -> None:
        session = self.session
        job = await session.job(job_id) if session is not None else None
        if job is not None:
            landed = self.board.landed.get(job_id)
            self.push_screen(JobDetailsScreen(job, self.now, landed))

    def action_dismiss_job(self) -> None:
        """Dismiss the selected Unconfirmed job, after asking."""
        job = self.board.selected_job if self.current_pane() == "jobs" else None
        if self.session is None or job is None or job.status is not JobStatus.UNCONFIRMED:
            self.notify("Pick an Unconfirmed job to dismiss.", severity="warning")
            return

        def go(confirmed: bool | None) -> None:
            if confirmed:
                self.dismiss_job(job.id)

        self.push_screen(ConfirmScreen(
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
            self.show_error(exc)
            return
        self.board.upsert(job)
        self.activity.record(f"Dismissed job {job.id} ({job.call})")

    def action_resubmit_job(self) -> None:
        """Send the selected Unconfirmed job's request again as a new, linked job, after asking."""
        job = self.board.selected_job if self.current_pane() == "jobs" else None
        if self.session is None or self.readonly or job is None or job.status is not JobStatus.UNCONFIRMED:
            self.notify("Pick an Unconfirmed job to resubmit.", severity="warning")
            return

        def go(confirmed: bool | None) -> None:
            if confirmed:
                self.resubmit_job(job.id)

        self.push_screen(ConfirmScreen(
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
            self.show_error(exc)
            return
        self.show_accepted(job)

    def action_poll_now(self) -> None:
        if self.session is None:
            return
        job = self.board.selected_job if self.current_pane() == "jobs" else None
        if job is not None and job.status.polled:
            self.session.poll_now(job.id)
            self.notify(f"Polling batch {job.batch_id} now.", timeout=2)
        else:
            self.session.poll_now()
            self.notify("Polling every live job now.", timeout=2)

    def action_toggle_pause(self) -> None:
        if self.session is None:
            return
        if self.session.paused:
            self.session.resume()
            self.notify("Polling resumed.", timeout=2)
        else:
            self.session.pause()
            self.notify("Polling paused: press p to resume.", timeout=3)
        self._update_subtitle()

    def action_copy(self) -> None:
        pane = self.current_pane()
        text: str | None = None
        if pane == "jobs" and self.board.selected_job is not None:
            text = self.board.selected_job.batch_id or str(self.board.selected_job.id)
        elif pane == "drop" and self.drop.selected_file is not None:
            drop_file = self.drop.selected_file
            text = self.drop.transfer(drop_file.path).local_path or drop_file.path
        if text:
            self.copy_to_clipboard(text)
            self.notify(f"Copied {text}", timeout=2)

    def action_quit_app(self) -> None:
        def go(confirmed: bool | None) -> None:
            if confirmed:
                self.exit(0)

        if self.downloads_running:
            self.push_screen(ConfirmScreen("Quit", "Downloads are still running; quitting stops them (they resume next time). Quit?", "Quit"), go)
        else:
            self.exit(0)

    async def on_unmount(self) -> None:
        await self._close_session()
        self.activity.close()
        gc.unfreeze()  # let what this app held be collected (tests run many apps in one process)


def run_app(config: Config, profile_name: str | None = None, readonly: bool = False) -> int:
    """Run the TUI until the user quits; returns the process exit code."""
    app = EttuiApp(config, profile_name, readonly=readonly)
    result = app.run()
    return int(result or 0) if app.return_code is None else app.return_code
