"""The ettui application: it builds the panes, binds the keys, and routes the panes' messages.

The main screen (:mod:`ettui.ui.screens.main`) lays the panes out for the
terminal. Every binding has an id and the user's ``[ui.keymap]`` is applied
in one place (``__init__``). The panes own
their work: :class:`~ettui.ui.widgets.jobs_pane.JobsPane` the board, its
filter and the actions on jobs; :class:`~ettui.ui.widgets.drop_pane.DropPane`
the listing, downloads and outputs. The app picks what the keys act on and
passes the panes' messages on; the session's poller events arrive on the loop
thread and are re-posted as ``JobChanged`` messages.

Remote text (file names, batch IDs, reply values, error sentences quoting
them) is never markup here: every toast goes through :meth:`EttuiApp.notify`,
which cleans it with :mod:`ettui.safetext` and turns markup off, and titles
are ``Text``. A worker that fails unexpectedly is caught by the backstop
(:mod:`ettui.ui.backstop`) instead of ending the app.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from textual import events, on, work
from textual.app import App
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.notifications import Notification, SeverityLevel
from textual.worker import WorkerFailed

from ettui import paths
from ettui.config import Config
from ettui.errors import EttuiError
from ettui.model import DropFile, Job, JobStatus, utcnow
from ettui.safetext import clean
from ettui.ui.activity_log import ActivityLog
from ettui.ui.backstop import Backstop
from ettui.ui.commands import EttuiCommands, PaletteCommand, binding_commands
from ettui.ui.health import EndpointHealth
from ettui.ui.keymap import APP_BINDINGS, PANE_ACTIONS, keymap_problems
from ettui.ui.notices import StatusLine, Toasts
from ettui.ui.palette import SIXTEEN, SIXTEEN_COLOURS, sixteen_colours
from ettui.ui.screens.activity import ActivityScreen
from ettui.ui.screens.dialogs import ConfirmScreen
from ettui.ui.screens.help import HelpScreen, download_note, entries_from
from ettui.ui.screens.main import MainScreen
from ettui.ui.ui_state import UiState
from ettui.ui.widgets.compose import ComposePane
from ettui.ui.widgets.drop_browser import DropBrowser
from ettui.ui.widgets.drop_pane import DropPane
from ettui.ui.widgets.filter_pane import FilterPane
from ettui.ui.widgets.job_board import JobBoard
from ettui.ui.widgets.jobs_pane import JobsPane

if TYPE_CHECKING:
    from ettui.jobs.poller import JobEvent
    from ettui.session import Session

SessionFactory = Callable[[], Awaitable["Session"]]

class JobChanged(Message):
    """A poller event, re-posted on the app's queue."""

    def __init__(self, event: JobEvent) -> None:
        super().__init__()
        self.event = event


class EttuiApp(App[int]):
    """Compose requests, watch them, fetch and read their output, from the keyboard."""

    CSS_PATH = Path(__file__).with_name("app.tcss")
    TITLE = "ettui"
    COMMANDS = App.COMMANDS | {EttuiCommands}

    BINDINGS: ClassVar[list[BindingType]] = APP_BINDINGS

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
        self.toasts = Toasts(self.notify, self.set_timer, self._announced)
        """Merged completion toasts and quiet repeats (:mod:`ettui.ui.notices`)."""
        self.api_health = EndpointHealth("API")
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

    def get_default_screen(self) -> MainScreen:
        jobs = JobsPane(
            session=lambda: self.session, now=self.now, activity=self.activity, toasts=self.toasts,
            ui_state=self.ui_state, save_ui_state=self.save_ui_state, readonly=self.readonly, zone=self.config.ui.zone,
            auto_profiles=frozenset(name for name, p in self.config.profiles.items() if p.auto_fetch),
            id="jobs-pane", classes="pane",
        )
        drop = self.DROP_PANE(
            session=lambda: self.session, now=self.now, activity=self.activity, ui=self.config.ui,
            filter_history=self.ui_state.filter_history, id="drop-pane", classes="pane",
        )
        return MainScreen(ComposePane(readonly=self.readonly, id="compose"), jobs, drop)

    @property
    def main(self) -> MainScreen:
        """The screen with the three panes (queries must not go to a viewer on top)."""
        main = self.screen_stack[0]
        assert isinstance(main, MainScreen)
        return main

    @property
    def jobs_pane(self) -> JobsPane:
        return self.main.jobs_pane

    @property
    def board(self) -> JobBoard:
        return self.jobs_pane.board

    @property
    def jobs_loaded(self) -> bool:
        """Every page of the store is on the board."""
        return self.jobs_pane.loaded

    @property
    def drop_pane(self) -> DropPane:
        return self.main.drop_pane

    @property
    def drop(self) -> DropBrowser:
        return self.drop_pane.browser

    @property
    def downloads_running(self) -> bool:
        return self.drop_pane.downloads_running

    @property
    def compose_pane(self) -> ComposePane:
        return self.main.compose_pane

    @property
    def shown_toasts(self) -> list[Notification]:
        """The toasts the user can read now (not yet timed out or cleared), oldest first."""
        return list(self._notifications)

    def now(self) -> datetime:
        """The session's clock (the sandbox's fast clock), else the wall clock."""
        return self.session.clock.now() if self.session is not None else utcnow()

    def on_mount(self) -> None:
        for problem in self._keymap_problems:
            self.notify(problem, title="Keymap", severity="warning", timeout=15)
        if not (self.ui_state.theme or self.config.ui.theme) and sixteen_colours(self.is_headless):
            self.theme = SIXTEEN  # chosen for the terminal, not by the user: not remembered
        self.theme_changed_signal.subscribe(self, self._theme_changed)
        self.sub_title = "connecting…"

    @on(MainScreen.Ready)
    def _panes_ready(self) -> None:
        self.set_interval(1.0, self._tick)
        self.open_session()

    def on_resize(self, event: events.Resize) -> None:
        # This handler runs before App's own, which is what updates ``self.size``: use the event's.
        if self.screen_stack:
            self.main.apply_layout(event.size)

    @property
    def panes_up(self) -> bool:
        """False while starting or shutting down: workers' late messages then have nowhere to go."""
        return bool(self.screen_stack) and self.main.laid_out

    def action_zoom(self) -> None:
        """Show the focused pane alone, or all panes again (lazygit's screen mode)."""
        self.main.toggle_zoom()
        if self.main.narrow:
            self.notify("The terminal is narrow: one pane shows at a time already.", timeout=3)

    def _tick(self) -> None:
        """Once a second: redraw the visible rows whose countdowns changed, and check expiry."""
        if not self.panes_up:
            return
        if len(self.screen_stack) == 1:  # the panes are covered by a viewer or dialog otherwise
            self.board.refresh_changed()
            self.drop.refresh_changed()
        self.drop_pane.check_expiring()

    # -- the panes' messages ----------------------------------------------------------

    @on(DropBrowser.DownloadRequested, "#drop")
    def _download_requested(self, message: DropBrowser.DownloadRequested) -> None:
        if self.panes_up:  # not a late message while the app closes
            self.drop_pane.start_download(self._job_of(message.drop_file), message.drop_file)

    @on(DropPane.Listed, "#drop-pane")
    def _drop_listed(self, message: DropPane.Listed) -> None:
        if self.panes_up:
            self.board.set_landed(message.files)

    @on(DropPane.JobUpdated, "#drop-pane")
    def _drop_job_updated(self, message: DropPane.JobUpdated) -> None:
        if self.panes_up:
            self.board.upsert(message.job)

    @on(DropPane.Failed, "#drop-pane")
    @on(JobsPane.Failed, "#jobs-pane")
    def _pane_failed(self, message: DropPane.Failed | JobsPane.Failed) -> None:
        self.show_error(message.error)

    @on(DropPane.HealthChanged, "#drop-pane")
    def _drop_health_changed(self) -> None:
        self.update_status_line()

    @on(JobsPane.Accepted, "#jobs-pane")
    def _accepted(self, message: JobsPane.Accepted) -> None:
        self.action_focus_pane("jobs")
        self.board.move_cursor_to(message.job.id)

    @on(JobsPane.CloneRequested, "#jobs-pane")
    def _clone_requested(self, message: JobsPane.CloneRequested) -> None:
        job = message.job
        if not self.compose_pane.fill(job.call, job.params):
            self.notify(f"This profile's API has no call {job.call}; {job.label} cannot be cloned here.", severity="warning")
            return
        self.action_focus_pane("compose")
        self.notify(f"{job.label.capitalize()}'s {job.call} request is in Compose: check it, then ctrl+s.", timeout=3)

    @on(ComposePane.SubmitRequested, "#compose")
    def _submit_requested(self, message: ComposePane.SubmitRequested) -> None:
        self.jobs_pane.request_submit(message.request)

    @on(FilterPane.FilterKept)
    def _filter_kept(self, message: FilterPane.FilterKept) -> None:
        self.ui_state.remember_filter(message.text)
        self.save_ui_state()

    def _job_of(self, drop_file: DropFile | None) -> Job | None:
        return self.board.jobs.get(drop_file.job_id) if drop_file is not None and drop_file.job_id else None

    def selected_target(self) -> tuple[Job | None, DropFile | None]:
        """The job and drop file the user points at, from whichever pane has focus."""
        if self.current_pane() == "drop":
            drop_file = self.drop.selected_file
            return self._job_of(drop_file), drop_file
        job = self.board.selected_job
        return job, (self.board.landed.get(job.id) if job is not None else None)

    def _selected_job(self) -> Job | None:
        """The board's selected job, when the board is the pane in use."""
        return self.board.selected_job if self.current_pane() == "jobs" else None

    # -- actions ------------------------------------------------------------------------

    def action_filter(self) -> None:
        pane = self.current_pane()
        if pane == "compose":
            pane = "jobs"
            self.action_focus_pane("jobs")
        (self.drop_pane if pane == "drop" else self.jobs_pane).open_filter()

    def action_sort(self) -> None:
        self.jobs_pane.sort(reverse=False)

    def action_reverse_sort(self) -> None:
        self.jobs_pane.sort(reverse=True)

    def action_new_request(self) -> None:
        self.action_focus_pane("compose")
        self.compose_pane.clear()
        self.action_focus_pane("compose")

    def action_submit(self) -> None:
        if self.readonly:
            self.notify("Read-only session (--readonly): submitting is off.", severity="warning", timeout=3)
        elif self.current_pane() != "compose":
            # A stray ctrl+s on the board must not send the last request again.
            self.notify("ctrl+s submits from Compose: press 1 (or c to clone this job), check the form, then ctrl+s.", timeout=4)
        else:
            self.compose_pane.submit()

    def action_clone(self) -> None:
        self.jobs_pane.clone(self._selected_job())

    def action_hide_job(self) -> None:
        self.jobs_pane.hide(self._selected_job())

    def action_toggle_hidden(self) -> None:
        self.jobs_pane.toggle_hidden()

    def action_details(self) -> None:
        pane = self.current_pane()
        if pane == "jobs" and self.board.selected_job is not None:
            self.jobs_pane.show_details(self.board.selected_job.id)
        elif pane == "drop" and (drop_file := self.drop.selected_file) is not None:
            if drop_file.job_id is None:
                self.notify(f"{drop_file.path} is not linked to a job of this profile.")
            else:
                self.jobs_pane.show_details(drop_file.job_id)

    def action_dismiss_job(self) -> None:
        self.jobs_pane.ask_dismiss(self._selected_job())

    def action_resubmit_job(self) -> None:
        self.jobs_pane.ask_resubmit(self._selected_job())

    def action_poll_now(self) -> None:
        self.jobs_pane.poll_now(self._selected_job())

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

    def action_copy(self) -> None:
        job, drop_file = self.selected_target()
        if self.current_pane() == "drop":
            text = (self.drop.transfer(drop_file.path).local_path or drop_file.path) if drop_file is not None else None
        else:
            text = (job.batch_id or str(job.id)) if job is not None else None
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

    def action_help(self) -> None:
        live = [(a.binding, a.enabled, self.get_key_display(a.binding)) for a in self.screen.active_bindings.values()]
        extract = self.session.profile.extract_after_download if self.session else True
        self.push_screen(HelpScreen(entries_from(live), notes=download_note(extract)))

    def action_activity(self) -> None:
        self.push_screen(ActivityScreen(self.activity.lines, str(self.activity.path or "memory only")))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # the panes' actions are hidden while a viewer or dialog is up
        return not (len(self.screen_stack) > 1 and action in PANE_ACTIONS)

    def current_pane(self) -> str:
        """The pane holding the focus: ``compose``, ``jobs`` or ``drop``."""
        return self.main.current_pane()

    def action_focus_pane(self, pane: str) -> None:
        self.main.focus_pane(pane)

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
        self.jobs_pane.load_jobs()  # first: the store is read in a thread while the form is built
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
        switches = [
            PaletteCommand(
                f"Switch profile: {name}", "close this session and open that profile", partial(self.switch_profile, name)
            )
            for name in sorted(self.config.profiles)
        ]
        return binding_commands(self, self.BINDINGS) + switches

    def switch_profile(self, name: str) -> None:
        """Close this profile's session and open ``name`` (palette command)."""
        def go(confirmed: bool | None = True) -> None:
            if confirmed:
                self.jobs_pane.forget()
                self.drop_pane.forget()
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

    @on(JobChanged)
    def _job_changed(self, message: JobChanged) -> None:
        if not self.panes_up:
            return
        event = message.event
        if event.kind in ("paused", "resumed"):
            self._update_subtitle()
            self.activity.record(f"Polling {event.kind}")
            return
        if event.kind == "store":
            self._update_subtitle()
            self.activity.record(f"Job store: {event.note or 'connected again'}")
            if event.note is None:
                self.jobs_pane.load_jobs()  # back after a reconnect: a full resync
            return
        if event.kind in ("status", "polled", "submitted"):
            if self.api_health.ok(self.now()):
                self.update_status_line()
        elif event.kind in ("error", "throttled"):
            self.api_health.failed(self.now(), event.error.message if event.error else event.kind)
            self.update_status_line()
        self.jobs_pane.apply(event)

    # -- what the user is told ------------------------------------------------------

    def _announced(self, any_complete: bool) -> None:
        """After a merged completion toast: the bell, and a listing for the files that landed."""
        if not self.panes_up:
            return
        self.ring()
        if any_complete:
            self.drop_pane.refresh_drop()

    def update_status_line(self) -> None:
        """Each endpoint's state and the last successful refresh, on the line above the footer."""
        if self.panes_up and self.session is not None:
            self.main.query_one(StatusLine).show(self.api_health, self.drop_pane.drop_health, self.config.ui.zone)

    def ring(self) -> None:
        """The terminal bell, when the user asked for it."""
        if self.config.ui.bell:
            self.bell()

    def show_error(self, error: EttuiError) -> None:
        """The one place errors are shown (host keys have their own modal); the same one again stays quiet."""
        if self.toasts.once((error.title, error.message), error.message, title=error.title):
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

    async def on_unmount(self) -> None:
        await self._close_session()
        self.activity.close()
