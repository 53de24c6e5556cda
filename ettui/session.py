"""One object per profile that wires the API, the job store, the poller and the drop.

The UI and the CLI use this and nothing else below it. When the profile is the
sandbox, the session starts the embedded sandbox first and points every
endpoint at it, so the same client code runs as against a real account.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from ettui import paths
from ettui.api.base import BatchApi, CallSpec
from ettui.clock import Clock, WallClock
from ettui.config import Config, Profile, load
from ettui.wiring import make_api, start_sandbox
from ettui.errors import DropError, EttuiError, ServerIdentityUnknown
from ettui.jobs.poller import JobEvent, Poller
from ettui.jobs.store import JobStore
from ettui.model import BatchRequest, DropFile, Job, JobStatus, Progress

if TYPE_CHECKING:
    from ettui.drop.transport import DropTransport, RemoteEntry
    from ettui.output import AnyReader
    from ettui.sandbox import Sandbox, SandboxOptions

ProgressCallback = Callable[[Progress], None]


@dataclass(frozen=True)
class FetchOutcome:
    """A downloaded, verified and (optionally) extracted output."""

    job: Job | None
    zip_path: Path
    sha256: str
    size: int
    extract_dir: Path | None
    files: list[Path]
    """The extracted files (XML for bulk async, CSV for tracking extracts)."""


class Session:
    """A profile's API, job store, poller and drop, opened together.

    Use ``await Session.open(...)`` (or ``async with await Session.open(...)``)
    and ``await session.close()``.
    """

    def __init__(
        self,
        config: Config,
        profile: Profile,
        *,
        api: BatchApi,
        store: JobStore,
        poller: Poller,
        clock: Clock,
        sandbox: "Sandbox | None" = None,
    ) -> None:
        self.config = config
        self.profile = profile
        self.api = api
        self.store = store
        self.poller = poller
        self.clock = clock
        self.sandbox = sandbox
        self._drop: DropTransport | None = None
        self._drop_lock = asyncio.Lock()
        self._accepted_fingerprint: str | None = None
        self._unsubscribe = poller.subscribe(self._on_event)

    # -- lifecycle ---------------------------------------------------------

    @classmethod
    async def open(
        cls,
        config: Config | None = None,
        profile_name: str | None = None,
        *,
        store_path: Path | None = None,
        clock: Clock | None = None,
        start_poller: bool = True,
        sandbox_options: "SandboxOptions | None" = None,
    ) -> "Session":
        """Open the profile: start the sandbox if it is one, build the API, open the store.

        ``sandbox_options`` overrides the sandbox's settings (tests, the demo).
        """
        config = config or load()
        profile = config.profile(profile_name)
        sandbox = None
        if profile.sandbox:
            sandbox, profile = await start_sandbox(config, profile, sandbox_options)
            clock = clock or sandbox.clock
        clock = clock or WallClock()
        try:
            api = await make_api(profile, clock)
            store = await asyncio.to_thread(JobStore, store_path or paths.job_store())
            if sandbox is not None:
                # A sandbox whose folder was wiped starts its IDs again; the
                # store still holds the old ones, and a batch the service
                # accepted must always be recordable.
                newest = store.list(profile=profile.name, limit=1)
                if newest and newest[0].batch_id.isdigit():
                    sandbox.queue.skip_past(int(newest[0].batch_id))
        except BaseException:
            if sandbox is not None:
                await sandbox.__aexit__(None, None, None)
            raise
        poller = Poller(
            store,
            api,
            profile.name,
            clock=clock,
            initial=profile.poll_initial,
            cap=profile.poll_max,
            concurrency=profile.poll_concurrency,
        )
        session = cls(config, profile, api=api, store=store, poller=poller, clock=clock, sandbox=sandbox)
        session._remember_output_names()
        if start_poller:
            poller.start()
        return session

    def _remember_output_names(self) -> None:
        """A SOAP status row does not name the file: tell the API what each open extract asked for."""
        remember = getattr(self.api, "remember_file_name", None)
        if remember is None:
            return
        for job in self.store.live(self.profile.name):
            name = job.params.get("OutputFileName")
            if name:
                remember(job.batch_id, name)

    async def close(self) -> None:
        """Stop polling, close connections and the store, stop the sandbox."""
        await self.poller.stop()
        if self._drop is not None:
            await self._drop.close()
            self._drop = None
        await self.api.aclose()
        self.store.close()
        if self.sandbox is not None:
            await self.sandbox.__aexit__(None, None, None)
            self.sandbox = None

    async def __aenter__(self) -> "Session":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- requests ----------------------------------------------------------

    def calls(self) -> list[CallSpec]:
        """The catalogue of the profile's dialect."""
        return self.api.calls()

    def call(self, call_id: str) -> CallSpec | None:
        return next((spec for spec in self.calls() if spec.matches(call_id)), None)

    def validate(self, request: BatchRequest) -> None:
        """Raise ``ValidationError`` naming the parameter at fault."""
        self.api.validate(request)

    def preview(self, request: BatchRequest) -> str:
        """The exact request document, password masked."""
        return self.api.preview(request)

    async def submit(self, request: BatchRequest) -> Job:
        """Validate, send, record the job (the acknowledgement point) and start polling it."""
        self.api.validate(request)
        result = await self.api.submit(request)
        job = await asyncio.to_thread(
            self.store.add,
            profile=self.profile.name,
            dialect=self.profile.dialect,
            call=request.call,
            batch_id=result.batch_id,
            submitted_at=self.clock.now(),
            request_doc=result.request_doc,
            params=dict(request.params),
        )
        self.poller.track(job)
        return job

    # -- jobs --------------------------------------------------------------

    def jobs(
        self,
        *,
        status: JobStatus | list[JobStatus] | None = None,
        all_profiles: bool = False,
        profile: str | None = None,
        since: datetime | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[Job]:
        """Jobs from the store, newest first (this profile's unless told otherwise)."""
        who = None if all_profiles else (profile or self.profile.name)
        return self.store.list(status=status, profile=who, since=since, limit=limit, offset=offset)

    def job(self, job_id: int) -> Job | None:
        """One job with its status history."""
        return self.store.get(job_id)

    def find(self, batch_id: str) -> Job | None:
        return self.store.find(batch_id, profile=self.profile.name)

    def subscribe(self, callback: Callable[[JobEvent], None]) -> Callable[[], None]:
        """Call ``callback`` on every job event; returns the unsubscribe function."""
        return self.poller.subscribe(callback)

    def poll_now(self, job_id: int | None = None) -> None:
        self.poller.poll_now(job_id)

    async def refresh(self, job_ids: list[int]) -> None:
        """Poll these jobs once now (the headless ``status`` without ``--watch``)."""
        for job_id in job_ids:
            self.poller.poll_now(job_id)
        await self.poller.sweep_once()

    def pause(self) -> None:
        self.poller.pause()

    def resume(self) -> None:
        self.poller.resume()

    @property
    def paused(self) -> bool:
        return self.poller.paused

    async def wait_until_terminal(self, job_ids: list[int], timeout: float | None = None) -> list[Job]:
        """Poll until every job is Complete or Error (or ``timeout`` seconds pass)."""
        done = asyncio.Event()

        def check(_: JobEvent | None = None) -> None:
            if all((j := self.store.get(i)) is not None and j.terminal for i in job_ids):
                done.set()

        unsubscribe = self.subscribe(check)
        try:
            check()
            if not done.is_set():
                self.poll_now()
                await asyncio.wait_for(done.wait(), timeout)
        finally:
            unsubscribe()
        return [j for i in job_ids if (j := self.store.get(i)) is not None]

    def _on_event(self, event: JobEvent) -> None:
        """A job that reached Complete gets its expiry now (completion + retention).

        The drop listing later replaces it with the file's own mtime + retention.
        Subscribed first, so every other subscriber sees the expiry on the job.
        """
        job = event.job
        if event.kind != "status" or job is None or job.status is not JobStatus.COMPLETE or job.expires_at:
            return
        folder = self.profile.export_folder if job.dialect == "soap" else self.profile.drop_folder
        base = job.status_changed_at or self.clock.now()
        job.expires_at = base + timedelta(hours=self.profile.retention_for(folder))
        self.store.set_expires(job.id, job.expires_at)

    # -- the drop ------------------------------------------------------------

    async def _drop_client(self) -> "DropTransport":
        from ettui.drop.factory import open_transport

        async with self._drop_lock:
            if self._drop is not None and not self._drop.connected:
                await self._drop.close()
                self._drop = None
            if self._drop is None:
                client = open_transport(self.profile, accept_fingerprint=self._accepted_fingerprint)
                await client.connect()
                self._drop = client
            return self._drop

    def accept_identity(self, error: ServerIdentityUnknown, *, save: bool) -> None:
        """Trust-on-first-use of a host key or certificate: accept it for this session, save it if asked."""
        from ettui.drop.factory import trust_identity

        self._accepted_fingerprint = error.fingerprint
        if save:
            trust_identity(self.profile, error)

    accept_host_key = accept_identity
    """The older name, kept for the host-key dialog."""

    def _drop_host(self) -> str:
        p = self.profile
        return p.ftps_host if p.drop_protocol == "ftps" else p.sftp_host

    async def _reset_drop(self) -> None:
        async with self._drop_lock:
            if self._drop is not None:
                await self._drop.close()
                self._drop = None

    async def _list_folders(self, folders: list[str]) -> list["RemoteEntry"]:
        """Entries of the drop folders; a missing optional folder (member ID, Export) is skipped."""
        from ettui.drop.transport import RemoteFileMissing

        client = await self._drop_client()
        entries: list[RemoteEntry] = []
        for folder in folders:
            try:
                entries.extend(await client.list(folder))
            except RemoteFileMissing:
                if folder == self.profile.drop_folder:
                    raise
        return entries

    async def drop_files(self) -> list[DropFile]:
        """The drop's files with expiry, linked to their jobs; plus files jobs named but the drop lacks."""
        folders = [self.profile.drop_folder]
        if self.profile.member_id:
            folders.append(self.profile.drop_folder.rstrip("/") + "/" + self.profile.member_id)
        if self.profile.export_folder:
            folders.append(self.profile.export_folder)
        from ettui.drop.transport import DropConnectionLost

        folders = list(dict.fromkeys(folders))
        try:
            entries = await self._list_folders(folders)
        except (DropConnectionLost, OSError):
            # The vendor closes connections idle for 10 minutes: reconnect once.
            await self._reset_drop()
            try:
                entries = await self._list_folders(folders)
            except OSError as exc:
                raise DropError(
                    f"The drop at {self._drop_host()} could not be listed ({exc}); check the connection and try again."
                ) from None
        files: list[DropFile] = []
        seen: set[str] = set()
        for entry in entries:
            if entry.is_dir:
                continue
            folder = entry.path.rsplit("/", 1)[0] or "/"
            job = self.store.find_by_file(entry.name, profile=self.profile.name)
            expires = entry.mtime + timedelta(hours=self.profile.retention_for(folder))
            files.append(DropFile(entry.path, entry.size, entry.mtime, expires, job.id if job else None, job.batch_id if job else None))
            seen.add(entry.name)
            if job is not None and job.expires_at != expires:
                self.store.set_expires(job.id, expires)
        for job in self.store.list(status=JobStatus.COMPLETE, profile=self.profile.name, limit=500):
            if job.file_name and job.file_name not in seen and job.download_path is None:
                base = job.status_changed_at or job.submitted_at
                folder = self.profile.export_folder if job.dialect == "soap" else self.profile.drop_folder
                expires = base + timedelta(hours=self.profile.retention_for(folder))
                path = folder.rstrip("/") + "/" + job.file_name
                files.append(DropFile(path, 0, base, expires, job.id, job.batch_id, listed=False))
        files.sort(key=lambda f: f.expires_at)
        return files

    def _remote_path_for(self, job: Job) -> str:
        if not job.file_name:
            raise DropError(f"Batch {job.batch_id} has no output file yet (status {job.status_raw}); wait for Complete.")
        folder = self.profile.export_folder if job.dialect == "soap" else self.profile.drop_folder
        return folder.rstrip("/") + "/" + job.file_name

    async def fetch(
        self,
        target: Job | DropFile | str,
        *,
        dest: Path | None = None,
        extract: bool = True,
        progress: ProgressCallback | None = None,
    ) -> FetchOutcome:
        """Download (resumable, verified), record it on the job, and extract.

        ``target`` is a job, a drop file, a batch ID or a remote file name/path.
        """
        from ettui.drop.fetch import fetch_file

        job, remote = self._resolve_target(target)
        if remote is None and job is not None:
            remote = await self._locate(job)
        assert remote is not None
        dest = dest or self.profile.download_path
        result = await fetch_file(self._drop_client, remote, dest, progress=progress)
        if job is not None:
            await asyncio.to_thread(self.store.record_download, job.id, path=str(result.path), sha256=result.sha256)
        extract_dir: Path | None = None
        files: list[Path] = []
        if extract:
            extract_dir, files = await self.extract(result.path, job=job)
        if job is not None:
            job = self.store.get(job.id)
        return FetchOutcome(job, result.path, result.sha256, result.size, extract_dir, files)

    def _resolve_target(self, target: Job | DropFile | str) -> tuple[Job | None, str | None]:
        if isinstance(target, Job):
            return target, None
        if isinstance(target, DropFile):
            job = self.store.get(target.job_id) if target.job_id else None
            return job, target.path
        job = self.find(target)
        if job is not None:
            return job, None
        name = target.rsplit("/", 1)[-1]
        job = self.store.find_by_file(name, profile=self.profile.name)
        if job is not None and not target.startswith("/"):
            return job, None  # the job knows its folder
        path = target if target.startswith("/") else self.profile.drop_folder.rstrip("/") + "/" + target
        return job, path

    async def _locate(self, job: Job) -> str:
        """The job's file in the drop: its folder, else a member-ID subfolder."""
        path = self._remote_path_for(job)
        for f in await self.drop_files():
            if f.listed and f.name == job.file_name:
                return f.path
        return path

    async def extract(self, zip_path: Path, *, job: Job | None = None) -> tuple[Path, list[Path]]:
        """Extract safely into a folder named after the zip; record it on the job."""
        from ettui.drop.extract import extract_zip

        folder = zip_path.with_suffix("")
        files = await asyncio.to_thread(extract_zip, zip_path, folder)
        if job is not None:
            await asyncio.to_thread(self.store.record_extract, job.id, path=str(folder))
        return folder, files

    def open_output(self, path: Path, member: str | None = None) -> "AnyReader":
        """A streaming reader of an output: an extracted XML or CSV file, or a zip (one member)."""
        from ettui.output import open_output

        return open_output(path, member)

    def export_output(self, path: Path, dest: Path, fmt: str = "csv") -> int:
        """Write an output's rows to ``dest`` (CSV); returns the row count. Synchronous: call from a thread."""
        from ettui.output.export import export_csv

        from ettui.output.export import export_jsonl

        writers = {"csv": export_csv, "jsonl": export_jsonl}
        if fmt not in writers:
            raise EttuiError(f"Export format {fmt!r} is not supported; use csv or jsonl.", title="Export")
        return writers[fmt](self.open_output(path), dest)  # type: ignore[arg-type]
