"""The ettui application: layout, bindings, and the session's events as messages.

Three panes side by side at 120x40 (Compose | Jobs over Drop); below
``WIDE_MIN_WIDTH`` columns they become tabs. Every binding has an id and the
user's ``[ui.keymap]`` is applied in one place (``__init__``). All I/O runs
in workers that call ``Session``; its poller events arrive on the loop thread
and are re-posted as ``JobChanged`` messages. Drop, download and output
actions live in :class:`~ettui.ui.widgets.drop_pane.DropPane`; the app picks what
they act on and routes the pane's messages.

Remote text (file names, batch IDs, reply values, error sentences quoting
them) is never markup here: every toast goes through :meth:`EttuiApp.notify`,
which cleans it with :mod:`ettui.safetext` and turns markup off, and titles
are ``Text``. A worker that fails unexpectedly is caught by the backstop
(:mod:`ettui.ui.backstop`) instead of ending the app.
"""

from __future__ import annotations

import gc
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import events, on, work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.geometry import Size
from textual.message import Message
from textual.notifications import SeverityLevel
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer, Header, Input, Static, Tab, Tabs
from textual.worker import WorkerFailed

from ettui import paths
from ettui.config import Config
from ettui.errors import EttuiError
from ettui.model import BatchRequest, DropFile, Job, JobStatus, format_duration, utcnow
from ettui.safetext import clean, clean_text
from ettui.ui.activity_log import ActivityLog
from ettui.ui.backstop import Backstop
from ettui.ui.commands import EttuiCommands, PaletteCommand
from ettui.ui.filtering import FilterError, Query
from ettui.ui.formatting import plural
from ettui.ui.health import EndpointHealth, clock_time
from ettui.ui.keymap import keymap_problems
from ettui.ui.palette import SIXTEEN, SIXTEEN_COLOURS, sixteen_colours
from ettui.ui.screens.activity import ActivityScreen
from ettui.ui.screens.details import JobDetailsScreen
from ettui.ui.screens.dialogs import ConfirmScreen
from ettui.ui.screens.help import HelpScreen, entries_from
from ettui.ui.ui_state import UiState
from ettui.ui.widgets.compose import ComposePane
from ettui.ui.widgets.drop_browser import FILTER_DURATIONS as FILE_DURATIONS
from ettui.ui.widgets.drop_browser import FILTER_FIELDS as FILE_FIELDS
from ettui.ui.widgets.drop_browser import DropBrowser
from ettui.ui.widgets.drop_pane import DropPane
from ettui.ui.widgets.filter_input import FilterInput
from ettui.ui.widgets.job_board import FILTER_DURATIONS as JOB_DURATIONS
from ettui.ui.widgets.job_board import FILTER_FIELDS as JOB_FIELDS
from ettui.ui.widgets.job_board import JobBoard

if TYPE_CHECKING:
    from ettui.jobs.poller import JobEvent
    from ettui.session import Session

SessionFactory = Callable[[], Awaitable["Session"]]

WIDE_MIN_WIDTH = 100
"""Narrower terminals get tabs instead of three panes."""
WIDE_MIN_HEIGHT = 30
FIRST_PAGE = 200
"""Jobs loaded before the first frame shows them; the rest follow in pages."""
PAGE = 2000
DUPLICATE_WINDOW = timedelta(minutes=10)
"""A second identical request within this long asks first."""
MERGE_SECONDS = 1.5
"""Completions (and failures) within this long share one toast."""
ERROR_QUIET_SECONDS = 600.0
"""The same error toast is not shown again within this long (the status line keeps saying it)."""
PANES = ("compose", "jobs", "drop")
PANE_ACTIONS = {
    "filter", "sort", "reverse_sort", "new_request", "submit", "details", "poll_now", "toggle_pause", "download",
    "extract", "open_output", "copy", "refresh_drop", "activity", "focus_pane", "zoom",
    "clone", "hide_job", "toggle_hidden", "quit_app", "help", "dismiss_job", "resubmit_job",
}
"""Actions that act on the main panes, hidden while a viewer or dialog is on top."""


def _some(jobs: list[Job], shown: int = 4) -> str:
    """``553201, 553202, 553203 and 2 more``."""
    ids = [job.batch_id or f"#{job.id}" for job in jobs]
    head = ", ".join(ids[:shown])
    return f"{head} and {len(ids) - shown} more" if len(ids) > shown else head


class JobChanged(Message):
    """A poller event, re-posted on the app's queue."""

    def __init__(self, event: JobEvent) -> None:
        super().__init__()
        self.event = event


class JobsLoaded(Message):
    """A page of jobs read from the store by the loading worker."""

    def __init__(self, jobs: list[Job], first: bool, done: bool) -> None:
        super().__init__()
        self.jobs = jobs
        self.first = first
        self.done = done


class EttuiApp(App[int]):
    """Compose requests, watch them, fetch and read their output, from the keyboard."""

    CSS_PATH = Path(__file__).with_name("app.tcss")
    TITLE = "ettui"
    COMMANDS = App.COMMANDS | {EttuiCommands}

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("question_mark", "help", "Help", id="help"),
        Binding("slash", "filter", "Filter", id="filter"),
        Binding("s", "sort", "Sort", id="sort", show=False),
        Binding("S", "reverse_sort", "Reverse sort", id="reverse_sort", show=False),
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
        Binding("U", "resubmit_job", "Resubmit unconfirmed", id="resubmit_job", show=False),
        Binding("R", "refresh_drop", "Refresh drop", id="refresh_drop", show=False),
        Binding("a", "activity", "Activity log", id="activity", show=False),
        Binding("1", "focus_pane('compose')", "Compose pane", id="focus_compose", show=False),
        Binding("2", "focus_pane('jobs')", "Jobs pane", id="focus_jobs", show=False),
        Binding("3", "focus_pane('drop')", "Drop pane", id="focus_drop", show=False),
        Binding("z", "zoom", "Zoom pane", id="zoom", show=False),
        Binding("c", "clone", "Clone into Compose", id="clone", show=False),
        Binding("h", "hide_job", "Hide finished job", id="hide_job", show=False),
        Binding("H", "toggle_hidden", "Show/hide hidden jobs", id="toggle_hidden", show=False),
        Binding("q", "quit_app", "Quit", id="quit"),
    ]

    DROP_PANE: ClassVar[type[DropPane]] = DropPane
    """The Drop pane's class (a test gives a fixed listing with its own)."""

    def __init__(
        self,
        config: Config,
        profile_name: str | None = None,
        *,
        readonly: bool = False,
        session_factory: SessionFactory | None = None,
        activity_path: Path | bool | None = True,
        error_log: Path | bool | None = True,
    ) -> None:
        super().__init__()
        self.config = config
        self.profile_name = profile_name
        self.readonly = readonly
        self.session: Session | None = None
        self._session_factory = session_factory
        self._unsubscribe: Callable[[], None] | None = None
        self._errors_seen: dict[int, str] = {}
        self._toasted: dict[object, float] = {}
        """Error toasts shown, by what they said, with when (monotonic): the same one stays quiet a while."""
        self._merging: dict[JobStatus, list[Job]] = {}
        """Completions and failures gathered for one merged toast."""
        self.api_health = EndpointHealth("API")
        self.active_pane = "jobs"
        self.zoomed = False
        """``z``: the active pane alone, full screen."""
        self.jobs_loaded = False
        log_path = paths.activity_log() if activity_path is True else (activity_path or None)
        self.activity = ActivityLog(log_path, self.now)
        self.backstop = Backstop(paths.error_log() if error_log is True else (error_log or None))
        # The one place the user's keymap is applied: every binding id above can be remapped.
        self.set_keymap(dict(config.ui.keymap))
        self._keymap_problems = keymap_problems((b for b in self.BINDINGS if isinstance(b, Binding)), config.ui.keymap)
        self._state_path: Path | None = paths.ui_state()
        self.ui_state = UiState.load(self._state_path)
        """Sort, filter history, theme and hidden jobs, remembered in the state dir."""
        self._state_error_shown = False
        self.register_theme(SIXTEEN_COLOURS)
        theme = self.ui_state.theme or config.ui.theme
        if theme and theme in self.available_themes:
            self.theme = theme

    # -- layout -------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False)
        yield Tabs(Tab("1 Compose", id="tab-compose"), Tab("2 Jobs", id="tab-jobs"), Tab("3 Drop", id="tab-drop"), id="pane-tabs")
        with Horizontal(id="panes"):
            with Vertical(id="compose-pane", classes="pane"):
                yield ComposePane(readonly=self.readonly, id="compose")
            with Vertical(id="right"):
                with Vertical(id="jobs-pane", classes="pane"):
                    yield FilterInput(
                        self.ui_state.filter_history,
                        placeholder="filter jobs: words, status:error, expires<6h (esc clears)",
                        id="jobs-filter",
                    )
                    yield Static("", id="jobs-filter-status", classes="filter-status")
                    auto = frozenset(name for name, profile in self.config.profiles.items() if profile.auto_fetch)
                    yield JobBoard(self.now, auto_profiles=auto, id="board")
                yield self.DROP_PANE(
                    session=lambda: self.session, now=self.now, activity=self.activity, ui=self.config.ui,
                    filter_history=self.ui_state.filter_history, id="drop-pane", classes="pane",
                )
        yield Static("", id="status-line")
        yield Footer()

    @property
    def main(self) -> Screen[object]:
        """The screen with the three panes (queries must not go to a viewer on top)."""
        return self.screen_stack[0]

    @property
    def board(self) -> JobBoard:
        return self.main.query_one(JobBoard)

    @property
    def drop_pane(self) -> DropPane:
        return self.main.query_one(DropPane)

    @property
    def drop(self) -> DropBrowser:
        return self.drop_pane.browser

    @property
    def downloads_running(self) -> bool:
        return self.drop_pane.downloads_running

    @property
    def compose_pane(self) -> ComposePane:
        return self.main.query_one(ComposePane)

    def now(self) -> datetime:
        """The session's clock (the sandbox's fast clock), else the wall clock."""
        return self.session.clock.now() if self.session is not None else utcnow()

    def on_mount(self) -> None:
        for problem in self._keymap_problems:
            self.notify(problem, title="Keymap", severity="warning", timeout=15, markup=False)
        if not (self.ui_state.theme or self.config.ui.theme) and sixteen_colours(self.is_headless):
            self.theme = SIXTEEN  # chosen for the terminal, not by the user: not remembered
        self.board.set_sort(self.ui_state.sort, self.ui_state.sort_reverse)
        self.board.set_hidden(self.ui_state.hidden_jobs, self.ui_state.show_hidden)
        self.theme_changed_signal.subscribe(self, self._theme_changed)
        self._retitle()
        self.sub_title = "connecting…"
        self._apply_layout()
        self.board.focus()
        self.set_interval(1.0, self._tick)
        self.open_session()

    def on_resize(self, event: events.Resize) -> None:
        # This handler runs before App's own, which is what updates ``self.size``: use the event's.
        if self.screen_stack and self.main.query("#panes"):
            self._apply_layout(event.size)

    @property
    def narrow(self) -> bool:
        return self._narrow_at(self.size)

    @staticmethod
    def _narrow_at(size: Size) -> bool:
        return size.width < WIDE_MIN_WIDTH or size.height < WIDE_MIN_HEIGHT

    def _apply_layout(self, size: Size | None = None) -> None:
        """Three panes when there is room, else one pane at a time under tabs."""
        if not self.screen_stack or not self.main.query("#panes"):
            return  # shutting down
        narrow = self._narrow_at(size or self.size)
        main = self.screen_stack[0]
        if narrow and not main.has_class("-narrow"):
            self.active_pane = self.current_pane()  # the pane in use stays the one on show
        single = narrow or self.zoomed
        main.set_class(narrow, "-narrow")
        main.set_class(single, "-single")
        main.set_class(self.zoomed and not narrow, "-zoomed")
        self.main.query_one("#pane-tabs").display = narrow
        for pane in PANES:
            self.main.query_one(f"#{pane}-pane").display = not single or pane == self.active_pane
        self.main.query_one("#right").display = not single or self.active_pane != "compose"
        tabs = self.main.query_one("#pane-tabs", Tabs)
        if narrow and tabs.active != f"tab-{self.active_pane}":
            tabs.active = f"tab-{self.active_pane}"

    def action_zoom(self) -> None:
        """Show the focused pane alone, or all panes again (lazygit's screen mode)."""
        if not self.zoomed:
            self.active_pane = self.current_pane()
        self.zoomed = not self.zoomed
        self._apply_layout()
        self._retitle()
        if self.narrow:
            self.notify("The terminal is narrow: one pane shows at a time already.", timeout=3)

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
        hidden_count = board.hidden_count
        if hidden_count and board.show_hidden:
            loading = f" · showing {hidden_count} hidden (H hides){loading}"
        elif hidden_count:
            loading = f" · {hidden_count} hidden (H shows){loading}"
        filtered = f" · filter: {board.filter_query.text}" if not board.filter_query.empty else ""
        drop_filter = f" · filter: {drop.filter_query.text}" if not drop.filter_query.empty else ""
        zoom = " · zoomed (z)" if self.zoomed and not self.narrow else ""
        titles = {
            "#compose-pane": f"1 Compose{zoom}",
            "#jobs-pane": f"2 Jobs · {board.row_count:,}/{len(board.jobs):,} · sort: {board.sort_label}{filtered}{loading}{zoom}",
            "#drop-pane": f"3 Drop · {plural(drop.row_count, 'file')}{drop_filter}{zoom}",
        }
        for selector, title in titles.items():
            pane = self.main.query_one(selector)
            # Text, not a str: the filter is typed text and must not be read as markup.
            text = clean_text(title)
            if pane.border_title != text.markup:  # every re-sort asks; a border repaint only when it reads differently
                pane.border_title = text

    # -- the Drop pane's messages, and the actions that pick what it fetches --------

    @on(DropBrowser.DownloadRequested, "#drop")
    def _download_requested(self, message: DropBrowser.DownloadRequested) -> None:
        if not self.panes_up:
            return  # a late message while the app closes
        drop_file = message.drop_file
        self.drop_pane.start_download(self.board.jobs.get(drop_file.job_id) if drop_file.job_id else None, drop_file)

    @on(DropPane.Listed, "#drop-pane")
    def _drop_listed(self, message: DropPane.Listed) -> None:
        if not self.panes_up:
            return  # a late message while the app closes
        self.board.set_landed(message.files)

    @on(DropPane.JobUpdated, "#drop-pane")
    def _drop_job_updated(self, message: DropPane.JobUpdated) -> None:
        if not self.panes_up:
            return  # a late message while the app closes
        self.board.upsert(message.job)

    @on(DropPane.Failed, "#drop-pane")
    def _drop_failed(self, message: DropPane.Failed) -> None:
        self.show_error(message.error)

    @on(DropPane.HealthChanged, "#drop-pane")
    def _drop_health_changed(self) -> None:
        self.update_status_line()

    def selected_target(self) -> tuple[Job | None, DropFile | None]:
        """The job and drop file the user points at, from whichever pane has focus."""
        if self.current_pane() == "drop":
            drop_file = self.drop.selected_file
            job = self.board.jobs.get(drop_file.job_id) if drop_file and drop_file.job_id else None
            return job, drop_file
        job = self.board.selected_job
        return job, (self.board.landed.get(job.id) if job is not None else None)

    def action_refresh_drop(self) -> None:
        self.notify("Listing the drop…", timeout=2)
        self.drop_pane.refresh_drop(manual=True)

    def action_download(self) -> None:
        if self.readonly:
            self.notify("Read-only session (--readonly): downloads are off.", severity="warning", timeout=3)
            return
        if self.current_pane() == "drop" and self.drop.request_download():
            return  # the browser asks with DownloadRequested
        job, drop_file = self.selected_target()
        if drop_file is None and (job is None or job.status is not JobStatus.COMPLETE):
            self.notify("Pick a Complete job or a file in the drop to download.", severity="warning")
            return
        self.drop_pane.start_download(job, drop_file)

    def action_extract(self) -> None:
        self.drop_pane.extract_for(*self.selected_target())

    def action_open_output(self) -> None:
        self.drop_pane.open_for(*self.selected_target())

    @on(JobBoard.ViewChanged, "#board")
    @on(DropBrowser.ViewChanged, "#drop")
    def _view_changed(self) -> None:
        self._retitle()

    def _tick(self) -> None:
        """Once a second: redraw the visible rows whose countdowns changed, and check expiry."""
        if not self.panes_up:
            return
        if len(self.screen_stack) == 1:  # the panes are covered by a viewer or dialog otherwise
            self.board.refresh_changed()
            self.drop.refresh_changed()
        self.drop_pane.check_expiring()

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
        self.update_status_line()
        self.activity.record(f"Opened profile {session.profile.name} ({session.profile.dialect})")
        self.drop_pane.refresh_drop()

    async def _close_session(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self.session is not None:
            session, self.session = self.session, None
            await session.close()

    def palette_commands(self) -> list[PaletteCommand]:
        """The command palette's entries: every described binding, then every profile."""
        found: list[PaletteCommand] = []
        for binding in self.BINDINGS:
            if not isinstance(binding, Binding) or not binding.description:  # pragma: no cover - tuples
                continue
            key = self.get_key_display(binding)
            found.append(PaletteCommand(binding.description, f"{key} · {binding.id}", partial(self.run_action, binding.action)))
        for name in sorted(self.config.profiles):
            found.append(PaletteCommand(
                f"Switch profile: {name}", "close this session and open that profile", partial(self.switch_profile, name)
            ))
        return found

    def switch_profile(self, name: str) -> None:
        """Close this profile's session and open ``name`` (palette command)."""
        def go(confirmed: bool | None = True) -> None:
            if confirmed:
                self.board.load([])
                self.drop.load([])
                self.jobs_loaded = False
                self.open_session(name)

        if self.downloads_running:
            self.push_screen(
                ConfirmScreen("Switch profile", "Downloads are running; switching stops them. Switch?", "Switch"), go
            )
        else:
            go()

    def _update_subtitle(self) -> None:
        if self.session is None:
            return
        parts = [f"profile {clean(self.session.profile.name)}"]  # a shared config's profile name is text from outside
        if self.session.profile.sandbox:
            parts.append("sandbox")
        if self.readonly:
            parts.append("read-only")
        if self.session.paused:
            parts.append("POLLING PAUSED")
        if self.session.store.status:
            parts.append(clean(self.session.store.status))  # "store: reconnecting" (a shared store's connection dropped)
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
        if event.kind in ("status", "polled", "submitted"):
            if self.api_health.ok(self.now()):
                self.update_status_line()
        elif event.kind in ("error", "throttled"):
            self.api_health.failed(self.now(), event.error.message if event.error else event.kind)
            self.update_status_line()
        if event.kind == "throttled":
            text = event.error.message if event.error else "The service is busy; polling backs off."
            self.activity.record(f"Throttled: {text}")
            self.toast_once(("throttled",), text, title="Service busy", severity="warning")
        job = self.board.apply(event)
        if job is None:
            return
        if event.kind == "submitted":
            self.activity.record(f"Submitted {job.call} as {job.label}")
        elif event.kind == "status":
            before = event.previous.value if event.previous else "?"
            self.activity.record(f"{job.label.capitalize()} ({job.call}): {before} -> {job.status_raw}")
            self._announce_status(job)
        elif event.kind == "error" and event.error is not None and self._errors_seen.get(job.id) != event.error.message:
            self._errors_seen[job.id] = event.error.message
            self.activity.record(f"Poll of batch {job.batch_id} failed: {event.error.message}")
            # Keyed on the sentence, not the batch: one refused connection is one toast, not one per job.
            self.toast_once(
                ("poll", event.error.message), event.error.message, title=f"Polling: {event.error.title}", severity="warning"
            )

    def _announce_status(self, job: Job) -> None:
        """Gather Complete and Error changes for a moment, then one toast for all of them."""
        if job.status is JobStatus.UNCONFIRMED:
            # Not merged: each one asks the operator to look (dismiss or resubmit).
            from ettui.session import unconfirmed_sentence

            self.notify(unconfirmed_sentence(job, job.last_error or "no acceptance was read"),
                        title="Submit unconfirmed", severity="warning", timeout=15)
            return
        if job.status not in (JobStatus.COMPLETE, JobStatus.ERROR):
            return
        if not self._merging:
            self.set_timer(MERGE_SECONDS, self._flush_announcements)
        self._merging.setdefault(job.status, []).append(job)

    def _flush_announcements(self) -> None:
        merged, self._merging = self._merging, {}
        if not self.panes_up:
            return
        done = merged.get(JobStatus.COMPLETE, [])
        failed = merged.get(JobStatus.ERROR, [])
        if len(done) == 1:
            job = done[0]
            self.notify(
                f"Batch {job.batch_id} ({job.call}) is Complete: {job.file_name or 'file pending'}.",
                title="Complete",
                markup=False,
            )
        elif done:
            self.notify(
                f"Batches {_some(done)} are Complete; d downloads each.", title=f"{len(done)} batches Complete", markup=False
            )
        if len(failed) == 1:
            job = failed[0]
            self.notify(
                f"Batch {job.batch_id} ({job.call}) ended in Error.", title="Error", severity="error", timeout=10, markup=False
            )
        elif failed:
            self.notify(
                f"Batches {_some(failed)} ended in Error; enter shows why.",
                title=f"{len(failed)} batches in Error",
                severity="error",
                timeout=10,
                markup=False,
            )
        if done or failed:
            self.ring()
        if done:
            self.drop_pane.refresh_drop()

    def toast_once(
        self, key: object, message: str, *, title: str, severity: SeverityLevel = "error", timeout: float = 10
    ) -> bool:
        """Show an error toast unless the same one showed within ``ERROR_QUIET_SECONDS``; True when shown."""
        now = time.monotonic()
        last = self._toasted.get(key)
        if last is not None and now - last < ERROR_QUIET_SECONDS:
            return False
        self._toasted[key] = now
        self.notify(message, title=title, severity=severity, timeout=timeout, markup=False)  # remote text: never markup
        return True

    def update_status_line(self) -> None:
        """Each endpoint's state and the last successful refresh, on the line above the footer."""
        if not self.panes_up or self.session is None:
            return
        api, drop = self.api_health, self.drop_pane.drop_health
        parts = [api.describe()]
        if api.last_ok is not None:
            parts[-1] += f" (polled {clock_time(api.last_ok, seconds=True)})"
        parts.append(drop.describe())
        if drop.last_ok is not None:
            parts[-1] += f" (listed {clock_time(drop.last_ok, seconds=True)})"
        failing = [h for h in (api, drop) if h.state in ("retrying", "down") and h.last_error]
        text = Text(" · ".join(parts))
        for health in failing:
            text.append(f" · {health.name}: ")
            text.append_text(clean_text(health.last_error or ""))
        self.main.query_one("#status-line", Static).update(text)

    def ring(self) -> None:
        """The terminal bell, when the user asked for it."""
        if self.config.ui.bell:
            self.bell()

    def show_error(self, error: EttuiError) -> None:
        """The one place errors are shown (host keys have their own modal); the same one again stays quiet."""
        if self.toast_once((error.title, error.message), error.message, title=error.title):
            self.activity.record(f"{error.title}: {error.message}")

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
        # the panes' actions are hidden while a viewer or dialog is up
        return not (len(self.screen_stack) > 1 and action in PANE_ACTIONS)

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
        self.push_screen(HelpScreen(entries_from(live), notes=self._download_note()))

    def _download_note(self) -> str:
        """What ``d`` does for this profile: the help and the README say the same."""
        extract = self.session.profile.extract_after_download if self.session else True
        if extract:
            return (
                "d downloads the zip, verifies every member's CRC, then extracts it "
                "(extract_after_download = true, the default); x extracts again."
            )
        return "d downloads the zip and verifies every member's CRC (extract_after_download = false); x extracts it."

    def action_activity(self) -> None:
        self.push_screen(ActivityScreen(self.activity.lines, str(self.activity.path or "memory only")))

    def save_ui_state(self) -> None:
        """Write the remembered settings; a failure is said once, then the app carries on."""
        try:
            self.ui_state.save(self._state_path)
        except OSError as exc:
            if not self._state_error_shown:
                self._state_error_shown = True
                self.notify(f"Settings cannot be saved to {self._state_path}: {exc.strerror or exc}.", severity="warning")

    def _theme_changed(self, theme: object) -> None:
        if self.theme == SIXTEEN and self.ui_state.theme is None:
            return  # picked for a 16-colour terminal: a truecolour one next time keeps its own
        if self.ui_state.theme != self.theme:
            self.ui_state.theme = self.theme
            self.save_ui_state()

    def action_filter(self) -> None:
        pane = self.current_pane()
        if pane == "compose":
            pane = "jobs"
            self.action_focus_pane("jobs")
        field = self.main.query_one(f"#{pane}-filter", Input)
        field.add_class("-visible")
        field.focus()

    def _filter_target(self, field: Input) -> JobBoard | DropBrowser:
        return self.board if field.id == "jobs-filter" else self.drop

    @on(Input.Changed, ".filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        """Filter as the user types; a term that cannot be read is one sentence under the field."""
        event.stop()
        target = self._filter_target(event.input)
        status = self.main.query_one(f"#{event.input.id}-status", Static)
        known = (JOB_FIELDS, JOB_DURATIONS) if target is self.board else (FILE_FIELDS, FILE_DURATIONS)
        try:
            query = Query.parse(event.value, *known)
        except FilterError as exc:
            status.set_classes("filter-status -visible -bad")
            status.update(clean_text(exc.message))  # it quotes what was typed: never markup
            return
        target.set_query(query)
        self._show_match_count(event.input)

    def _show_match_count(self, field: Input) -> None:
        target = self._filter_target(field)
        status = self.main.query_one(f"#{field.id}-status", Static)
        if target.filter_query.empty:
            status.set_classes("filter-status")
            status.update("")
            return
        total = len(target.jobs) if isinstance(target, JobBoard) else len(target.files)
        noun = "job" if isinstance(target, JobBoard) else "file"
        status.set_classes("filter-status -visible")
        status.update(f"{target.row_count:,} of {plural(total, noun)} match · enter keeps it · esc clears")

    @on(Input.Submitted, ".filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        target = self._filter_target(event.input)
        status = self.main.query_one(f"#{event.input.id}-status", Static)
        if status.has_class("-bad"):
            return  # the sentence stays until the term is fixed or esc clears it
        if not target.filter_query.empty:
            self.ui_state.remember_filter(target.filter_query.text)
            self.save_ui_state()
        else:
            event.input.remove_class("-visible")
        status.set_classes("filter-status")
        target.focus()

    @on(FilterInput.Closed)
    def _filter_closed(self, event: FilterInput.Closed) -> None:
        target = self._filter_target(event.field)
        target.set_query(Query())
        event.field.remove_class("-visible")
        self.main.query_one(f"#{event.field.id}-status", Static).set_classes("filter-status")
        target.focus()

    def action_sort(self) -> None:
        label = self.board.cycle_sort()
        self._sort_changed(label)

    def action_reverse_sort(self) -> None:
        label = self.board.reverse_sort()
        self._sort_changed(label)

    def _sort_changed(self, label: str) -> None:
        self.ui_state.sort, self.ui_state.sort_reverse = self.board.sort_mode.label, self.board.sort_reverse
        self.save_ui_state()
        self.notify(f"Jobs sorted by {label} (s next column, S reverses).", timeout=2)

    def action_new_request(self) -> None:
        self.action_focus_pane("compose")
        self.compose_pane.clear()
        self.action_focus_pane("compose")

    def action_submit(self) -> None:
        if self.readonly:
            self.notify("Read-only session (--readonly): submitting is off.", severity="warning", timeout=3)
            return
        if self.current_pane() != "compose":
            # A stray ctrl+s on the board must not send the last request again.
            self.notify("ctrl+s submits from Compose: press 1 (or c to clone this job), check the form, then ctrl+s.", timeout=4)
            return
        self.compose_pane.submit()

    @on(ComposePane.SubmitRequested, "#compose")
    def _submit_requested(self, message: ComposePane.SubmitRequested) -> None:
        if self.readonly:
            return
        request = message.request
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

        self.push_screen(ConfirmScreen("Submit again?", question, "Submit"), go)

    def _recent_twin(self, request: BatchRequest) -> Job | None:
        """The newest job with the same call and parameters submitted within ``DUPLICATE_WINDOW``."""
        now = self.now()
        twins = [
            job for job in self.board.jobs.values()
            if job.call == request.call and job.params == request.params and now - job.submitted_at < DUPLICATE_WINDOW
        ]
        return max(twins, key=lambda j: j.submitted_at, default=None)

    @work(exclusive=False, group="submit")
    async def submit_request(self, request: ComposePane.SubmitRequested | object) -> None:
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

    def action_clone(self) -> None:
        """Put the selected job's request into Compose, to check and submit again."""
        job = self.board.selected_job if self.current_pane() == "jobs" else None
        if job is None:
            self.notify("Pick a job on the board (2) to clone it into Compose.", timeout=3)
            return
        if not self.compose_pane.fill(job.call, job.params):
            self.notify(f"This profile's API has no call {job.call}; {job.label} cannot be cloned here.", severity="warning")
            return
        self.action_focus_pane("compose")
        self.notify(f"{job.label.capitalize()}'s {job.call} request is in Compose: check it, then ctrl+s.", timeout=3)

    def action_hide_job(self) -> None:
        """Archive the selected finished job: off the board until ``H`` shows hidden jobs."""
        job = self.board.selected_job if self.current_pane() == "jobs" else None
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
        self.save_ui_state()
        self.board.set_hidden(hidden, self.board.show_hidden)
        self._retitle()
        self.notify(message, timeout=3)

    def action_toggle_hidden(self) -> None:
        show = not self.board.show_hidden
        self.ui_state.show_hidden = show
        self.save_ui_state()
        self.board.set_hidden(self.ui_state.hidden_jobs, show)
        self._retitle()
        count = self.board.hidden_count
        self.notify(f"Showing {plural(count, 'hidden job')}." if show else f"{plural(count, 'job')} hidden.", timeout=2)

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
        if self.readonly:
            self.notify("Read-only session (--readonly): dismissing is off.", severity="warning", timeout=3)
            return
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
        if self.readonly:
            self.notify("Read-only session (--readonly): resubmitting is off.", severity="warning", timeout=3)
            return
        if self.session is None or job is None or job.status is not JobStatus.UNCONFIRMED:
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
        if self.session.paused:
            self.notify("Polling is paused, so nothing polls now; p resumes.", timeout=3)
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
            self.push_screen(
                ConfirmScreen("Quit", "Downloads are still running; quitting stops them (they resume next time). Quit?", "Quit"),
                go,
            )
        else:
            self.exit(0)

    async def on_unmount(self) -> None:
        await self._close_session()
        self.activity.close()
        gc.unfreeze()  # let what this app held be collected (tests run many apps in one process)


NO_TERMINAL_EXIT = 2
"""Exit code when there is no terminal to draw on (a usage error)."""


def run_app(config: Config, profile_name: str | None = None, readonly: bool = False) -> int:
    """Run the TUI until the user quits; returns the process exit code.

    Without a terminal (output to a file or a pipe, no tty on stdin) it says so
    in one sentence instead of writing escape codes and waiting forever.
    """
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        print(
            "ettui needs a terminal to draw the TUI (stdin and stdout are not one); "
            "run it in a terminal, or use a headless command such as `ettui status` or `ettui watch`.",
            file=sys.stderr,
        )
        return NO_TERMINAL_EXIT
    app = EttuiApp(config, profile_name, readonly=readonly)
    result = app.run()
    return int(result or 0) if app.return_code is None else app.return_code
