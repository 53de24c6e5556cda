"""The drop side of a session: its one connection, the listing linked to jobs, and fetch.

``Session`` (``session.py``) opens one ``SessionDrop`` per profile and hands
its drop calls here: list the drop folders and match each file to its job
(with one store query), fetch a job's output under the job's fetch claim
(so a teammate is told, not duplicated), record the download and extract it.
The drop transport (SFTP or FTPS) is opened on first use and reopened after
the vendor closes an idle connection.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from ettui.config import Profile, SecretSource
from ettui.errors import AlreadyFetched, DropError, FetchInProgress, ServerIdentityUnknown
from ettui.jobs.base import AsyncJobStore, holder_gone, holder_id, whoami
from ettui.jobs.poller import JobEvent, Poller
from ettui.model import DropFile, Job, JobStatus

if TYPE_CHECKING:
    from ettui.drop.progress import ProgressCallback
    from ettui.drop.transport import DropTransport, RemoteEntry

FETCH_CLAIM_SECONDS = 120.0
"""A fetch claim's lease (renewed every third of it while the download runs; a crashed fetch frees it after this)."""


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


def output_folder(profile: Profile, job: Job) -> str:
    """The drop folder a job's output lands in: SOAP extracts in the Export folder, bulk async in the drop folder."""
    return profile.export_folder if job.dialect == "soap" else profile.drop_folder


def expires_after(profile: Profile, job: Job, landed: datetime) -> datetime:
    """When a job's output that landed at ``landed`` leaves the drop (its folder's retention)."""
    return landed + timedelta(hours=profile.retention_for(output_folder(profile, job)))


class SecretOnce:
    """A secret resolved on first use, in a thread, then kept for the session.

    A slow ``*_password_command`` never blocks the event loop, and a reconnect
    does not run it again. An unconfigured source gives ``None``.
    """

    def __init__(self, source: SecretSource, what: str) -> None:
        self.source = source
        self.what = what
        """What the secret is, for the error sentence ("SFTP password")."""
        self._value: str | None = None
        self._known = False
        self._lock = asyncio.Lock()

    async def get(self) -> str | None:
        """The secret (runs the command the first time only)."""
        async with self._lock:
            if not self._known:
                if self.source.configured:
                    self._value = await asyncio.to_thread(self.source.resolve, self.what)
                self._known = True
        return self._value


def drop_password(profile: Profile) -> SecretOnce:
    """The drop's password of the profile's ``drop_protocol`` (FTPS or SFTP), resolved on first use."""
    if profile.drop_protocol == "ftps":
        return SecretOnce(profile.ftps_password, "FTPS password")
    return SecretOnce(profile.sftp_password, "SFTP password")


class SessionDrop:
    """A profile's drop: one transport, the listing linked to jobs, fetch and extract.

    Args:
        profile: The profile (its drop settings, folders and retention).
        store: The job store the listing and the fetch records read and write.
        poller: Where job changes are announced (``JobEvent("updated", ...)``).
        lock_dir: The folder of the per-download lock files (``fetch_file``).
    """

    def __init__(self, profile: Profile, store: AsyncJobStore, poller: Poller, *, lock_dir: Path) -> None:
        self.profile = profile
        self.store = store
        self.poller = poller
        self.lock_dir = lock_dir
        self.password = drop_password(profile)
        self._transport: DropTransport | None = None
        self._lock = asyncio.Lock()
        self._accepted_fingerprint: str | None = None
        self._claims: dict[int, str] = {}
        """Job id -> holder of the fetch claims this session holds now."""

    # -- the connection ----------------------------------------------------------

    @property
    def transport(self) -> DropTransport | None:
        """The open transport (``DropClient`` or ``FtpsClient``), None before the first drop call or after ``close``.

        For diagnostics and tests: read ``connected`` and ``where`` from it; its
        owner is this object, which reopens and closes it.
        """
        return self._transport

    async def connect(self) -> DropTransport:
        """The connected transport: opened on first use, reopened when the last one broke."""
        from ettui.drop.factory import open_transport

        async with self._lock:
            if self._transport is not None and not self._transport.connected:
                await self._transport.close()
                self._transport = None
            if self._transport is None:
                password = await self.password.get()
                client = open_transport(self.profile, accept_fingerprint=self._accepted_fingerprint, password=password)
                await client.connect()
                self._transport = client
            return self._transport

    async def release_claims(self) -> None:
        """Let go of every fetch claim this session holds (``Session.close`` does, while the store is open).

        A fetch a stop is still unwinding may not get to release its own, and a
        teammate (or the next run) would wait out the lease.
        """
        for job_id, holder in list(self._claims.items()):
            with contextlib.suppress(Exception):  # it runs out on its own
                await self.store.release_fetch(job_id, holder=holder)
            self._claims.pop(job_id, None)

    async def close(self) -> None:
        """Close the transport (the next drop call opens a new one); safe to call twice."""
        client, self._transport = self._transport, None
        if client is not None:
            await client.close()

    def accept_identity(self, error: ServerIdentityUnknown, *, save: bool) -> None:
        """Trust-on-first-use of a host key or certificate: accept it for this session, save it if asked."""
        from ettui.drop.factory import trust_identity

        self._accepted_fingerprint = error.fingerprint
        if save:
            trust_identity(self.profile, error)

    def _host(self) -> str:
        p = self.profile
        return p.ftps_host if p.drop_protocol == "ftps" else p.sftp_host

    # -- the listing ---------------------------------------------------------------

    def folders(self) -> list[str]:
        """The folders listed: the drop folder, its member-ID subfolder, the Export folder (each once)."""
        p = self.profile
        folders = [p.drop_folder]
        if p.member_id:
            folders.append(p.drop_folder.rstrip("/") + "/" + p.member_id)
        if p.export_folder:
            folders.append(p.export_folder)
        return list(dict.fromkeys(folders))

    async def _list_folders(self, folders: list[str]) -> list[RemoteEntry]:
        """Entries of the drop folders; a missing optional folder (member ID, Export) is skipped."""
        from ettui.drop.transport import RemoteFileMissing

        client = await self.connect()
        entries: list[RemoteEntry] = []
        for folder in folders:
            try:
                entries.extend(await client.list(folder))
            except RemoteFileMissing:
                if folder == self.profile.drop_folder:
                    raise
        return entries

    async def files(self) -> list[DropFile]:
        """The drop's files with expiry, linked to their jobs; plus files jobs named but the drop lacks."""
        from ettui.drop.transport import DropConnectionLost

        folders = self.folders()
        try:
            entries = await self._list_folders(folders)
        except (DropConnectionLost, OSError):
            # The vendor closes connections idle for 10 minutes: reconnect once.
            await self.close()
            try:
                entries = await self._list_folders(folders)
            except OSError as exc:
                raise DropError(
                    f"The drop at {self._host()} could not be listed ({exc}); check the connection and try again."
                ) from None
        files: list[DropFile] = []
        seen: set[str] = set()
        entries = [entry for entry in entries if not entry.is_dir]
        # A name that is not UTF-8 (its bytes kept as surrogates) cannot be any job's
        # file name: those passed reply validation. Only the others are looked up.
        by_name = await self.store.find_by_files(
            [entry.name for entry in entries if _utf8(entry.name)], profile=self.profile.name
        )
        for entry in entries:
            folder = entry.path.rsplit("/", 1)[0] or "/"
            job = by_name.get(entry.name)
            expires = entry.mtime + timedelta(hours=self.profile.retention_for(folder))
            files.append(_drop_file(entry.path, entry.size, entry.mtime, expires, job))
            seen.add(entry.name)
            if job is not None and job.expires_at != expires:
                self.poller.announce(JobEvent("updated", await self.store.set_expires(job.id, expires)))
        for job in await self.store.list(status=JobStatus.COMPLETE, profile=self.profile.name, limit=500):
            if job.file_name and job.file_name not in seen and job.download_path is None:
                landed = job.status_changed_at or job.submitted_at
                path = self.remote_path(job)
                files.append(_drop_file(path, 0, landed, expires_after(self.profile, job, landed), job, listed=False))
        files.sort(key=lambda f: f.expires_at)
        return files

    def remote_path(self, job: Job) -> str:
        """Where the job's output is on the drop (its folder's path; ``DropError`` before it has a file)."""
        if not job.file_name:
            raise DropError(f"{job.label.capitalize()} has no output file yet (status {job.status_raw}); wait for Complete.")
        return output_folder(self.profile, job).rstrip("/") + "/" + job.file_name

    async def _resolve(self, target: Job | DropFile | str) -> tuple[Job | None, str]:
        """The target's job (if any) and its path on the drop."""
        if isinstance(target, DropFile):
            return (await self.store.get(target.job_id) if target.job_id else None), target.path
        job = target if isinstance(target, Job) else await self.store.find(target, profile=self.profile.name)
        if job is not None:
            return job, await self._locate(job)
        assert isinstance(target, str)
        name = target.rsplit("/", 1)[-1]
        job = await self.store.find_by_file(name, profile=self.profile.name)
        if job is not None and not target.startswith("/"):
            return job, await self._locate(job)  # the job knows its folder
        return job, target if target.startswith("/") else self.profile.drop_folder.rstrip("/") + "/" + target

    async def _locate(self, job: Job) -> str:
        """The job's file in the drop: its folder, else a member-ID subfolder."""
        path = self.remote_path(job)
        for f in await self.files():
            if f.listed and f.name == job.file_name:
                return f.path
        return path

    # -- fetching ------------------------------------------------------------------

    async def fetch(
        self,
        target: Job | DropFile | str,
        *,
        dest: Path,
        extract: bool = True,
        progress: ProgressCallback | None = None,
        retries: int = 5,
        unless_fetched: bool = False,
    ) -> FetchOutcome:
        """Download (resumable, verified), record it on the job, and extract.

        ``target`` is a job, a drop file, a batch ID or a remote file name/path.
        ``unless_fetched``: once this process holds the job's fetch claim, check
        the store again and raise ``AlreadyFetched`` if someone recorded the
        download meanwhile (a watcher must never fetch a file twice; an operator
        asking to fetch again leaves it False).
        """
        from ettui.drop.fetch import fetch_file

        job, remote = await self._resolve(target)
        if job is None:
            result = await fetch_file(
                self.connect, remote, dest, lock_dir=self.lock_dir, progress=progress, retries=retries
            )
        else:
            async with self._fetch_claim(job):
                fresh = await self.store.get(job.id) if unless_fetched else None
                if fresh is not None and fresh.download_path:
                    who = f" by {fresh.fetched_by}" if fresh.fetched_by else ""
                    raise AlreadyFetched(f"{job.label.capitalize()} was fetched{who} meanwhile; it is not fetched again.")
                result = await fetch_file(
                    self.connect, remote, dest, lock_dir=self.lock_dir, progress=progress, retries=retries
                )
                # Recorded before the claim is let go: a teammate who takes the claim next sees it fetched.
                job = await self.store.record_download(
                    job.id, path=str(result.path), sha256=result.sha256, fetched_by=whoami()
                )
            self.poller.announce(JobEvent("updated", job))
        extract_dir: Path | None = None
        files: list[Path] = []
        if extract:
            extract_dir, files = await self.extract(result.path, job=job)
        if job is not None:
            job = await self.store.get(job.id)
        return FetchOutcome(job, result.path, result.sha256, result.size, extract_dir, files)

    @contextlib.asynccontextmanager
    async def _fetch_claim(self, job: Job) -> AsyncIterator[None]:
        """Hold the job's fetch claim for the download (renewed meanwhile), so a teammate is told, not duplicated."""
        holder = holder_id()
        who = await self.store.claim_fetch(job.id, holder=holder, lease_seconds=FETCH_CLAIM_SECONDS)
        if who is not None and holder_gone(who):
            await self.store.release_fetch(job.id, holder=who)  # its process died here: not worth waiting out
            who = await self.store.claim_fetch(job.id, holder=holder, lease_seconds=FETCH_CLAIM_SECONDS)
        if who is not None:
            raise FetchInProgress(
                f"{job.label.capitalize()} is being fetched by {who} right now; wait for that download "
                "(`ettui jobs` shows it Downloaded when done) or try again in a few minutes.",
                holder=who,
            )
        self._claims[job.id] = holder

        async def renew() -> None:
            while True:
                await asyncio.sleep(FETCH_CLAIM_SECONDS / 3)
                with contextlib.suppress(Exception):  # a lapse only lets a teammate start too
                    await self.store.claim_fetch(job.id, holder=holder, lease_seconds=FETCH_CLAIM_SECONDS)

        renewing = asyncio.get_running_loop().create_task(renew())
        try:
            yield
        finally:
            renewing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewing
            if self._claims.pop(job.id, None) is not None:  # not let go by ``release_claims`` already
                with contextlib.suppress(Exception):  # it runs out on its own
                    await self.store.release_fetch(job.id, holder=holder)

    async def extract(self, zip_path: Path, *, job: Job | None = None) -> tuple[Path, list[Path]]:
        """Extract safely into a folder named after the zip; record it on the job."""
        from ettui.drop.extract import extract_zip

        folder = zip_path.with_suffix("")
        files = await asyncio.to_thread(extract_zip, zip_path, folder)
        if job is not None:
            self.poller.announce(JobEvent("updated", await self.store.record_extract(job.id, path=str(folder))))
        return folder, files


def _utf8(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _drop_file(path: str, size: int, mtime: datetime, expires: datetime, job: Job | None, *, listed: bool = True) -> DropFile:
    """A drop file linked to its job, carrying the job's download and extract state from the store."""
    if job is None:
        return DropFile(path, size, mtime, expires, listed=listed)
    downloaded = job.download_path if job.downloaded else None
    return DropFile(
        path, size, mtime, expires, job.id, job.batch_id, listed=listed,
        local_path=downloaded, extract_dir=job.extract_dir if downloaded else None,
    )
