"""The Drop pane: the listing, downloads with progress, extraction, opening outputs, host keys.

It owns what the drop side knows: the listing and which files just landed,
each file's download (progress is drawn by a 10 Hz timer from the latest
figure per file: the ``can_replace`` idea from toolong, since a fetch
reports far more often than a terminal can show), and the host keys the
user refused. Every call to the session runs in a worker of this widget.

What the rest of the app needs to hear is posted as messages (each carries
its ``control``): :class:`Listed` (link files to jobs on the board),
:class:`JobUpdated`, :class:`Failed` (the app's one place for errors) and
:class:`HealthChanged` (the status line). The app decides *what* to fetch
(the pane or the board the user points at) and calls :meth:`start_download`,
:meth:`extract_for` and :meth:`open_for`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from textual import on, work
from textual.app import ComposeResult
from textual.message import Message
from textual.timer import Timer
from textual.widgets import Static

from ettui.errors import EttuiError, ServerIdentityUnknown
from ettui.model import DropFile, Job, Progress, format_duration
from ettui.ui.activity_log import ActivityLog
from ettui.ui.formatting import plural
from ettui.ui.health import EndpointHealth
from ettui.ui.messages import PaneMessage
from ettui.ui.screens.dialogs import ConfirmScreen, HostKeyScreen
from ettui.ui.screens.output import OutputViewer
from ettui.ui.widgets.drop_browser import FILTER_DURATIONS, FILTER_FIELDS, DropBrowser
from ettui.ui.widgets.filter_input import FilterInput
from ettui.ui.widgets.filter_pane import FilterPane

if TYPE_CHECKING:
    from ettui.config import UiSettings
    from ettui.session import Session

PROGRESS_INTERVAL = 0.1
"""Seconds between progress redraws while downloads run."""
DROP_REFRESH_SECONDS = 30.0
"""Wall-clock seconds between drop listings (also refreshed on Complete)."""
OUTPUT_SUFFIXES = (".xml", ".csv")


class DropPane(FilterPane):
    """The drop's filter, its file table, and everything that lists or fetches from it."""

    FILTER_FIELDS = FILTER_FIELDS
    FILTER_DURATIONS = FILTER_DURATIONS
    NOUN = "file"

    class Listed(PaneMessage["DropPane"]):
        """A listing arrived: the board links its files to jobs."""

        def __init__(self, pane: DropPane, files: list[DropFile]) -> None:
            super().__init__(pane)
            self.files = files

    class JobUpdated(PaneMessage["DropPane"]):
        """A download or an extraction changed a job (its paths, its hash)."""

        def __init__(self, pane: DropPane, job: Job) -> None:
            super().__init__(pane)
            self.job = job

    class Failed(PaneMessage["DropPane"]):
        """Listing, fetching or extracting failed with a sentence for the user."""

        def __init__(self, pane: DropPane, error: EttuiError) -> None:
            super().__init__(pane)
            self.error = error

    class HealthChanged(PaneMessage["DropPane"]):
        """The drop's connection state changed (connected, retrying, down since)."""

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, DropPane.HealthChanged) and message.control is self.control

    def __init__(
        self,
        *,
        session: Callable[[], Session | None],
        now: Callable[[], datetime],
        activity: ActivityLog,
        ui: UiSettings,
        filter_history: list[str],
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(id=id, classes=classes)
        self._session_of = session
        self.now = now
        self.activity = activity
        self.ui = ui
        self._filter_history = filter_history
        self._known_files: set[str] | None = None
        self.warned_expiry: set[str] = set()
        """Files already warned about as "expiring soon" (each is warned about once)."""
        self._pending_progress: dict[str, Progress] = {}
        self._progress_timer: Timer | None = None
        self._downloading: set[str] = set()
        self._refused_keys: set[str] = set()
        self.drop_health = EndpointHealth("drop")
        """The drop's connection state, for the status line."""

    def compose(self) -> ComposeResult:
        yield FilterInput(
            self._filter_history, placeholder="filter files: words, expires<6h, state:downloaded (esc clears)", id="drop-filter"
        )
        yield Static("", id="drop-filter-status", classes="filter-status")
        yield DropBrowser(self.now, zone=self.ui.zone, id="drop")

    def on_mount(self) -> None:
        self.set_interval(DROP_REFRESH_SECONDS, self.refresh_drop)

    @property
    def session(self) -> Session | None:
        """The app's session of the moment (None while switching profile)."""
        return self._session_of()

    @property
    def browser(self) -> DropBrowser:
        return self.query_one(DropBrowser)

    @property
    def filtered(self) -> DropBrowser:
        return self.browser

    @on(DropBrowser.ViewChanged, "#drop")
    def _view_changed(self) -> None:
        self.retitle()

    def title(self) -> str:
        drop = self.browser
        drop_filter = f" · filter: {drop.filter_query.text}" if not drop.filter_query.empty else ""
        return f"3 Drop · {plural(drop.row_count, 'file')}{drop_filter}"

    @property
    def total(self) -> int:
        return len(self.browser.files)

    @property
    def downloads_running(self) -> bool:
        return bool(self._downloading)

    def _ring(self) -> None:
        if self.ui.bell:
            self.app.bell()

    def forget(self) -> None:
        """A new profile: its drop is another one (nothing landed yet, nothing warned)."""
        self._known_files = None
        self.warned_expiry.clear()
        self.browser.load([])

    # -- the listing ------------------------------------------------------------

    @work(exclusive=True, group="drop-list")
    async def refresh_drop(self, manual: bool = False) -> None:
        """List the drop and link files to jobs; announce files that just landed.

        ``manual``: the user asked (``R``), so a host key refused earlier is asked about again.
        """
        session = self.session
        if session is None:
            return
        try:
            files = await session.drop_files()
        except ServerIdentityUnknown as exc:
            self.ask_host_key(exc, self.refresh_drop, manual=manual)
            return
        except EttuiError as exc:
            self.drop_health.failed(self.now(), exc.message)
            self.post_message(self.HealthChanged(self))
            if self.is_attached and not self.browser.files:
                # Not "the drop is empty": nobody knows what is on it.
                self.browser.empty_text = (
                    f"The drop cannot be listed ({exc.title}); R tries again. The line below says since when."
                )
                self.browser.refresh()
            self.post_message(self.Failed(self, exc))
            return
        if not self.is_attached:
            return  # the app closed while the drop was being listed
        self.drop_health.ok(self.now())
        self.post_message(self.HealthChanged(self))
        self._announce_landed(files)
        self.browser.load(files)
        self._restore_transfers(files)
        self.post_message(self.Listed(self, files))

    def _restore_transfers(self, files: list[DropFile]) -> None:
        """Files the job store says were downloaded (or extracted), in this session or an earlier one."""
        for drop_file in files:
            if drop_file.local_path is None or drop_file.path in self._downloading:
                continue
            transfer = self.browser.transfers.get(drop_file.path)
            if transfer is not None and transfer.state in ("downloaded", "extracted"):
                continue
            state = "extracted" if drop_file.extract_dir else "downloaded"
            self.browser.update_transfer(
                drop_file.path, state=state, local_path=drop_file.local_path, extract_dir=drop_file.extract_dir
            )

    def _announce_landed(self, files: list[DropFile]) -> None:
        listed = {f.path for f in files if f.listed}
        if self._known_files is not None:
            landed = [f for f in files if f.listed and f.path not in self._known_files]
            for drop_file in landed:
                who = f" (batch {drop_file.batch_id})" if drop_file.batch_id else ""
                self.activity.record(f"File landed: {drop_file.path}{who}")
            if len(landed) == 1:
                who = f" (batch {landed[0].batch_id})" if landed[0].batch_id else ""
                self.notify(f"{landed[0].name}{who} is in the drop.", title="File landed", markup=False)
            elif landed:
                self.notify(
                    f"{plural(len(landed), 'new file')} in the drop; 3 shows them.",
                    title=f"{len(landed)} files landed",
                    markup=False,
                )
            if landed:
                self._ring()
        self._known_files = listed

    def check_expiring(self) -> None:
        """Warn once per file that is not downloaded and has under ``expiring_soon_hours`` left."""
        hours = float(self.ui.expiring_soon_hours)
        now = self.now()
        fresh: list[DropFile] = []
        for drop_file in self.browser.files.values():
            if not drop_file.listed or drop_file.path in self.warned_expiry:
                continue
            left = (drop_file.expires_at - now).total_seconds()
            transfer = self.browser.transfers.get(drop_file.path)
            fetched = drop_file.local_path is not None or (
                transfer is not None and transfer.state in ("downloaded", "extracted")
            )
            if 0 < left < hours * 3600 and not fetched:
                self.warned_expiry.add(drop_file.path)
                fresh.append(drop_file)
        for drop_file in fresh[:3]:
            time_left = format_duration(drop_file.expires_at - now)
            self.activity.record(f"Expiring soon: {drop_file.path} ({time_left} left)")
            self.notify(
                f"{drop_file.name} is swept from the drop in {time_left}; press d to download it.",
                title="Expiring soon",
                severity="warning",
            )
        if len(fresh) > 3:
            self.notify(f"{len(fresh) - 3} more files expire within {hours:g} h.", title="Expiring soon", severity="warning")
        if fresh:
            self._ring()

    # -- host keys --------------------------------------------------------------

    def ask_host_key(self, error: ServerIdentityUnknown, retry: Callable[[], object], *, manual: bool = True) -> None:
        """The trust-on-first-use modal; on accept, trust the key and retry.

        One modal at a time, and a key the user refused is not asked about
        again by the periodic refresh (only when the user acts: ``R``, ``d``).
        """
        if any(isinstance(screen, HostKeyScreen) for screen in self.app.screen_stack):
            return
        if error.fingerprint in self._refused_keys and not manual:
            return

        def answered(choice: str | None) -> None:
            if choice is None or self.session is None:
                self._refused_keys.add(error.fingerprint)
                self.notify(f"{error.kind.capitalize()} not trusted; the drop stays closed (R asks again).", severity="warning")
                return
            self._refused_keys.discard(error.fingerprint)
            self.session.accept_identity(error, save=choice == "save")
            self.activity.record(f"{error.kind.capitalize()} {error.fingerprint} for {error.host} accepted ({choice})")
            retry()

        self.app.push_screen(
            HostKeyScreen(error.host, error.port, error.fingerprint, kind=error.kind, details=error.description), answered
        )

    # -- targets ----------------------------------------------------------------

    @staticmethod
    def _key(job: Job | None, drop_file: DropFile | None) -> str:
        if drop_file is not None:
            return drop_file.path
        return f"job:{job.id}" if job is not None else ""

    def _local_zip(self, job: Job | None, drop_file: DropFile | None) -> Path | None:
        transfer = self.browser.transfers.get(self._key(job, drop_file))
        if transfer is not None and transfer.local_path:
            return Path(transfer.local_path)
        if drop_file is not None and drop_file.local_path:
            return Path(drop_file.local_path)
        return Path(job.download_path) if job is not None and job.downloaded and job.download_path else None

    # -- download ---------------------------------------------------------------

    def start_download(self, job: Job | None, drop_file: DropFile | None) -> None:
        """Download unless it runs already; a file downloaded before asks first."""
        key = self._key(job, drop_file)
        if key in self._downloading:
            self.notify("That file is already downloading.", timeout=2)
            return
        local = self._local_zip(job, drop_file)
        if local is not None and local.exists():

            def go(confirmed: bool | None) -> None:
                if confirmed:
                    self.download(job, drop_file)

            self.app.push_screen(ConfirmScreen(
                "Download again",
                f"{local.name} is already downloaded and verified at {local}. Fetch it again?",
                "Download",
            ), go)
            return
        self.download(job, drop_file)

    @work(group="download")
    async def download(self, job: Job | None, drop_file: DropFile | None) -> None:
        """Fetch one file (resumable, verified); progress is drawn by the timer."""
        session = self.session
        key = self._key(job, drop_file)
        if session is None or not key:
            return
        target: Job | DropFile = drop_file if drop_file is not None else job  # type: ignore[assignment]
        self._downloading.add(key)
        self.browser.update_transfer(key, state="downloading", progress=None, error=None)
        self._start_progress_timer()
        extract = session.profile.extract_after_download
        try:
            outcome = await session.fetch(target, extract=extract, progress=lambda p: self._on_progress(key, p))
        except ServerIdentityUnknown as exc:
            self.browser.update_transfer(key, state="queued")
            self.ask_host_key(exc, lambda: self.download(job, drop_file))
            return
        except EttuiError as exc:
            self.browser.update_transfer(key, state="failed", error=exc.title)
            self.post_message(self.Failed(self, exc))
            return
        except Exception:
            # The backstop reports it (a failed rename as its own sentence); the row must not stay "downloading".
            self.browser.update_transfer(key, state="failed", error="see the error")
            raise
        finally:
            self._downloading.discard(key)
            self._pending_progress.pop(key, None)
        self.browser.update_transfer(key, state="downloaded", progress=None, local_path=str(outcome.zip_path))
        if outcome.job is not None:
            self.post_message(self.JobUpdated(self, outcome.job))
        self.activity.record(f"Downloaded {outcome.zip_path} ({outcome.size:,} bytes, sha256 {outcome.sha256[:12]}…)")
        if outcome.extract_dir is not None:
            self.browser.update_transfer(key, state="extracted", extract_dir=str(outcome.extract_dir))
            self.activity.record(
                f"Extracted {outcome.zip_path.name} into {outcome.extract_dir} ({plural(len(outcome.files), 'file')})"
            )
            self.notify(
                f"{outcome.zip_path.name} downloaded, verified and extracted ({plural(len(outcome.files), 'file')}); o opens.",
                title="Downloaded",
            )
        else:
            self.notify(f"{outcome.zip_path.name} downloaded and verified; x extracts, o opens.", title="Downloaded")

    def _on_progress(self, key: str, progress: Progress) -> None:
        """Keep only the latest figure; the first one is drawn at once so short downloads show too."""
        first = self.browser.transfer(key).progress is None
        self._pending_progress[key] = progress
        if first:
            self._flush_progress()

    def _start_progress_timer(self) -> None:
        if self._progress_timer is None:
            self._progress_timer = self.set_interval(PROGRESS_INTERVAL, self._flush_progress)

    def _flush_progress(self) -> None:
        for key, progress in list(self._pending_progress.items()):
            transfer = self.browser.transfer(key)
            if transfer.state == "downloading" and transfer.progress is not progress:
                self.browser.update_transfer(key, progress=progress)
        if not self._downloading and self._progress_timer is not None:
            self._progress_timer.stop()
            self._progress_timer = None

    # -- extract and open -----------------------------------------------------------

    def extract_for(self, job: Job | None, drop_file: DropFile | None) -> None:
        """Extract the downloaded zip of a job or file, asking first when its folder exists."""
        zip_path = self._local_zip(job, drop_file)
        if zip_path is None:
            self.notify("Download the file first (d).", severity="warning")
            return
        folder = zip_path.with_suffix("")

        def go(confirmed: bool | None) -> None:
            if confirmed:
                self.extract(zip_path, job, drop_file)

        if folder.exists():
            self.app.push_screen(
                ConfirmScreen("Extract again", f"{folder} exists; extracting again overwrites its files. Extract?", "Extract"), go
            )
        else:
            go(True)

    @work(group="extract")
    async def extract(self, zip_path: Path, job: Job | None, drop_file: DropFile | None) -> None:
        """Extract safely next to the zip and record it on the job."""
        session = self.session
        if session is None:
            return
        try:
            folder, files = await session.extract(zip_path, job=job)
        except EttuiError as exc:
            self.post_message(self.Failed(self, exc))
            return
        key = self._key(job, drop_file)
        if key:
            self.browser.update_transfer(key, state="extracted", local_path=str(zip_path), extract_dir=str(folder))
        if job is not None and session is not None:
            updated = await session.job(job.id)
            if updated is not None:
                self.post_message(self.JobUpdated(self, updated))
        self.activity.record(f"Extracted {zip_path.name} into {folder} ({plural(len(files), 'file')})")
        self.notify(f"{plural(len(files), 'file')} in {folder}; press o to open.", title="Extracted")

    def open_for(self, job: Job | None, drop_file: DropFile | None) -> None:
        """Open the output of a job or file in the viewer (extracted, else the zip)."""
        transfer = self.browser.transfers.get(self._key(job, drop_file))
        folder = (transfer.extract_dir if transfer else None) or (job.extract_dir if job else None)
        zip_path = self._local_zip(job, drop_file)
        if folder is None and zip_path is None:
            self.notify("Download the file first (d); o opens it, zipped or extracted.", severity="warning")
            return
        self.open_output(Path(folder) if folder else None, zip_path)

    @work(thread=True, group="open-output")
    def open_output(self, folder: Path | None, zip_path: Path | None) -> None:
        """Find the output file (extracted XML, else the zip itself) and show the viewer."""
        target = zip_path
        if folder is not None and folder.is_dir():
            found = sorted(p for p in folder.rglob("*") if p.suffix.lower() in OUTPUT_SUFFIXES)
            target = found[0] if found else target
        if target is None or self.session is None:
            self.app.call_from_thread(self.notify, "No output file found; extract it again (x).", severity="warning")
            return
        self.app.call_from_thread(self.app.push_screen, OutputViewer(self.session, target))
