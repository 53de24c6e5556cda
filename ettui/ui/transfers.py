"""The drop side of the app: listing, downloads with progress, extraction, opening outputs.

A mixin of :class:`~ettui.ui.app.EttuiApp` so the app module stays about
layout and jobs. Every call to the session runs in a worker. Download
progress arrives far more often than a terminal can show it, so callbacks
only store the latest figure per file and a 10 Hz timer draws them (the
``can_replace`` idea from toolong).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import work
from textual.timer import Timer

from ettui.errors import EttuiError, ServerIdentityUnknown
from ettui.model import DropFile, Job, JobStatus, Progress, format_duration
from ettui.ui.screens.dialogs import ConfirmScreen, HostKeyScreen
from ettui.ui.screens.output import OutputViewer

if TYPE_CHECKING:
    from textual.screen import Screen

    from ettui.session import Session
    from ettui.ui.widgets.drop_browser import DropBrowser
    from ettui.ui.widgets.job_board import JobBoard

PROGRESS_INTERVAL = 0.1
"""Seconds between progress redraws while downloads run."""
DROP_REFRESH_SECONDS = 30.0
"""Wall-clock seconds between drop listings (also refreshed on Complete)."""
OUTPUT_SUFFIXES = (".xml", ".csv")


class TransferActions:
    """Drop listing, download, extract and open-output actions (mixed into the app)."""

    # Provided by EttuiApp / App.
    session: "Session | None"
    config: Any
    readonly: bool
    notify: Callable[..., None]
    push_screen: Callable[..., Any]
    set_interval: Callable[..., Timer]
    current_pane: Callable[[], str]
    show_error: Callable[[EttuiError], None]
    ring: Callable[[], None]
    activity: Any
    now: Callable[[], Any]
    call_from_thread: Callable[..., Any]

    # Read-only properties of EttuiApp / App, for the type checker only: a real property
    # here would shadow App.screen_stack (this mixin comes first in EttuiApp's bases).
    if TYPE_CHECKING:

        @property
        def board(self) -> JobBoard: ...

        @property
        def drop(self) -> DropBrowser: ...

        @property
        def panes_up(self) -> bool: ...

        @property
        def screen_stack(self) -> list[Screen[Any]]: ...

    def init_transfers(self) -> None:
        self._known_files: set[str] | None = None
        self._warned_expiry: set[str] = set()
        self._pending_progress: dict[str, Progress] = {}
        self._progress_timer: Timer | None = None
        self._downloading: set[str] = set()
        self._refused_keys: set[str] = set()

    @property
    def downloads_running(self) -> bool:
        return bool(self._downloading)

    def on_ready(self) -> None:
        self.set_interval(DROP_REFRESH_SECONDS, self.refresh_drop)

    # -- the listing ------------------------------------------------------------

    def action_refresh_drop(self) -> None:
        self.refresh_drop(manual=True)

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
            self.show_error(exc)
            return
        if not self.panes_up:
            return  # the app closed while the drop was being listed
        self._announce_landed(files)
        self.drop.load(files)
        self._restore_transfers(files)
        self.board.set_landed(files)

    def _restore_transfers(self, files: list[DropFile]) -> None:
        """Files the job store says were downloaded (or extracted), in this session or an earlier one."""
        for drop_file in files:
            if drop_file.local_path is None or drop_file.path in self._downloading:
                continue
            transfer = self.drop.transfers.get(drop_file.path)
            if transfer is not None and transfer.state in ("downloaded", "extracted"):
                continue
            state = "extracted" if drop_file.extract_dir else "downloaded"
            self.drop.update_transfer(
                drop_file.path, state=state, local_path=drop_file.local_path, extract_dir=drop_file.extract_dir
            )

    def _announce_landed(self, files: list[DropFile]) -> None:
        listed = {f.path for f in files if f.listed}
        if self._known_files is not None:
            for drop_file in files:
                if drop_file.listed and drop_file.path not in self._known_files:
                    who = f" (batch {drop_file.batch_id})" if drop_file.batch_id else ""
                    self.activity.record(f"File landed: {drop_file.path}{who}")
                    self.notify(f"{drop_file.name}{who} is in the drop.", title="File landed")
                    self.ring()
        self._known_files = listed

    def check_expiring(self) -> None:
        """Warn once per file that is not downloaded and has under ``expiring_soon_hours`` left."""
        hours = float(self.config.ui.expiring_soon_hours)
        now = self.now()
        fresh: list[DropFile] = []
        for drop_file in self.drop.files.values():
            if not drop_file.listed or drop_file.path in self._warned_expiry:
                continue
            left = (drop_file.expires_at - now).total_seconds()
            transfer = self.drop.transfers.get(drop_file.path)
            fetched = drop_file.local_path is not None or (
                transfer is not None and transfer.state in ("downloaded", "extracted")
            )
            if 0 < left < hours * 3600 and not fetched:
                self._warned_expiry.add(drop_file.path)
                fresh.append(drop_file)
        for drop_file in fresh[:3]:
            left = format_duration(drop_file.expires_at - now)
            self.activity.record(f"Expiring soon: {drop_file.path} ({left} left)")
            self.notify(f"{drop_file.name} is swept from the drop in {left}; press d to download it.", title="Expiring soon", severity="warning")
        if len(fresh) > 3:
            self.notify(f"{len(fresh) - 3} more files expire within {hours:g} h.", title="Expiring soon", severity="warning")
        if fresh:
            self.ring()

    # -- host keys --------------------------------------------------------------

    def ask_host_key(self, error: ServerIdentityUnknown, retry: Callable[[], object], *, manual: bool = True) -> None:
        """The trust-on-first-use modal; on accept, trust the key and retry.

        One modal at a time, and a key the user refused is not asked about
        again by the periodic refresh (only when the user acts: ``R``, ``d``).
        """
        if any(isinstance(screen, HostKeyScreen) for screen in self.screen_stack):
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

        self.push_screen(
            HostKeyScreen(error.host, error.port, error.fingerprint, kind=error.kind, details=error.description), answered
        )

    # -- targets ----------------------------------------------------------------

    def selected_target(self) -> tuple[Job | None, DropFile | None]:
        """The job and drop file the user points at, from whichever pane has focus."""
        if self.current_pane() == "drop":
            drop_file = self.drop.selected_file
            job = self.board.jobs.get(drop_file.job_id) if drop_file and drop_file.job_id else None
            return job, drop_file
        job = self.board.selected_job
        return job, (self.board.landed.get(job.id) if job is not None else None)

    @staticmethod
    def _key(job: Job | None, drop_file: DropFile | None) -> str:
        if drop_file is not None:
            return drop_file.path
        return f"job:{job.id}" if job is not None else ""

    def _local_zip(self, job: Job | None, drop_file: DropFile | None) -> Path | None:
        transfer = self.drop.transfers.get(self._key(job, drop_file))
        if transfer is not None and transfer.local_path:
            return Path(transfer.local_path)
        if drop_file is not None and drop_file.local_path:
            return Path(drop_file.local_path)
        return Path(job.download_path) if job is not None and job.downloaded and job.download_path else None

    # -- download ---------------------------------------------------------------

    def action_download(self) -> None:
        if self.readonly:
            return
        job, drop_file = self.selected_target()
        if drop_file is None and (job is None or job.status is not JobStatus.COMPLETE):
            self.notify("Pick a Complete job or a file in the drop to download.", severity="warning")
            return
        key = self._key(job, drop_file)
        if key in self._downloading:
            self.notify("That file is already downloading.", timeout=2)
            return
        local = self._local_zip(job, drop_file)
        if local is not None and local.exists():

            def go(confirmed: bool | None) -> None:
                if confirmed:
                    self.download(job, drop_file)

            self.push_screen(ConfirmScreen(
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
        self.drop.update_transfer(key, state="downloading", progress=None, error=None)
        self._start_progress_timer()
        try:
            outcome = await session.fetch(target, extract=False, progress=lambda p: self._on_progress(key, p))
        except ServerIdentityUnknown as exc:
            self.drop.update_transfer(key, state="queued")
            self.ask_host_key(exc, lambda: self.download(job, drop_file))
            return
        except EttuiError as exc:
            self.drop.update_transfer(key, state="failed", error=exc.title)
            self.show_error(exc)
            return
        except Exception:
            # The backstop reports it (a failed rename as its own sentence); the row must not stay "downloading".
            self.drop.update_transfer(key, state="failed", error="see the error")
            raise
        finally:
            self._downloading.discard(key)
            self._pending_progress.pop(key, None)
        self.drop.update_transfer(key, state="downloaded", progress=None, local_path=str(outcome.zip_path))
        if outcome.job is not None:
            self.board.upsert(outcome.job)
        self.activity.record(f"Downloaded {outcome.zip_path} ({outcome.size:,} bytes, sha256 {outcome.sha256[:12]}…)")
        self.notify(f"{outcome.zip_path.name} downloaded and verified; x extracts, o opens.", title="Downloaded")

    def _on_progress(self, key: str, progress: Progress) -> None:
        """Keep only the latest figure; the first one is drawn at once so short downloads show too."""
        first = self.drop.transfer(key).progress is None
        self._pending_progress[key] = progress
        if first:
            self._flush_progress()

    def _start_progress_timer(self) -> None:
        if self._progress_timer is None:
            self._progress_timer = self.set_interval(PROGRESS_INTERVAL, self._flush_progress)

    def _flush_progress(self) -> None:
        for key, progress in list(self._pending_progress.items()):
            transfer = self.drop.transfer(key)
            if transfer.state == "downloading" and transfer.progress is not progress:
                self.drop.update_transfer(key, progress=progress)
        if not self._downloading and self._progress_timer is not None:
            self._progress_timer.stop()
            self._progress_timer = None

    # -- extract and open -----------------------------------------------------------

    def action_extract(self) -> None:
        job, drop_file = self.selected_target()
        zip_path = self._local_zip(job, drop_file)
        if zip_path is None:
            self.notify("Download the file first (d).", severity="warning")
            return
        folder = zip_path.with_suffix("")

        def go(confirmed: bool | None) -> None:
            if confirmed:
                self.extract(zip_path, job, drop_file)

        if folder.exists():
            self.push_screen(ConfirmScreen("Extract again", f"{folder} exists; extracting again overwrites its files. Extract?", "Extract"), go)
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
            self.show_error(exc)
            return
        key = self._key(job, drop_file)
        if key:
            self.drop.update_transfer(key, state="extracted", local_path=str(zip_path), extract_dir=str(folder))
        if job is not None and session is not None:
            updated = await session.job(job.id)
            if updated is not None:
                self.board.upsert(updated)
        self.activity.record(f"Extracted {zip_path.name} into {folder} ({len(files)} files)")
        self.notify(f"{len(files)} file(s) in {folder}; press o to open.", title="Extracted")

    def action_open_output(self) -> None:
        job, drop_file = self.selected_target()
        transfer = self.drop.transfers.get(self._key(job, drop_file))
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
            self.call_from_thread(self.notify, "No output file found; extract it again (x).", severity="warning")
            return
        self.call_from_thread(self.push_screen, OutputViewer(self.session, target))
