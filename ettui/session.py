"""One object per profile that wires the API, the job store, the poller and the drop.

The UI and the CLI use this and nothing else below it. When the profile is the
sandbox, the session starts the embedded sandbox first and points every
endpoint at it, so the same client code runs as against a real account.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ettui import paths
from ettui.aio import cancelling
from ettui.api.base import BatchApi, CallSpec
from ettui.clock import Clock, WallClock
from ettui.config import Config, Profile, SecretSource, load
from ettui.errors import ConfigError, EttuiError, ServerIdentityUnknown, SubmitUnconfirmed, ThrottledError
from ettui.jobs.base import AsyncJobStore, open_store, whoami
from ettui.jobs.poller import JobEvent, Poller
from ettui.model import BatchRequest, DropFile, Job, JobStatus
from ettui.session_drop import FetchOutcome, SessionDrop, expires_after
from ettui.wiring import make_api, start_sandbox

if TYPE_CHECKING:
    from ettui.drop.progress import ProgressCallback
    from ettui.output import RowReader
    from ettui.output.export import ExportProgress, Predicate
    from ettui.sandbox import Sandbox, SandboxOptions


@dataclass(frozen=True)
class SubmitWait:
    """A throttled submit about to be retried: which retry, of how many, after how long."""

    attempt: int
    retries: int
    seconds: float
    error: EttuiError


SubmitWaitCallback = Callable[[SubmitWait], None]


def may_have_reached_service(error: BaseException) -> bool:
    """Whether a failed submit may have been received (and so may run) at the service.

    The API layer decides it per exchange (``EttuiError.maybe_sent``: sent, then
    the reply timed out, broke off or could not be read); anything that is not
    an ``EttuiError`` (a crash, a cancel) may have happened after sending.
    """
    if isinstance(error, EttuiError):
        return error.maybe_sent
    return True


def unconfirmed_sentence(job: Job, reason: str) -> str:
    """The one sentence every view shows for an Unconfirmed job."""
    return (
        f"Job {job.id} ({job.call}) is Unconfirmed: the service may have accepted it ({reason.rstrip('.')}); "
        f"check the drop or the vendor's UI for it, then resubmit it (`ettui jobs resubmit {job.id}`) "
        f"or dismiss it (`ettui jobs dismiss {job.id}`)."
    )


def _resolved(source: SecretSource, what: str) -> SecretSource:
    return SecretSource(literal=source.resolve(what)) if source.configured else source


def resolve_api_secrets(profile: Profile) -> Profile:
    """The profile with its API secrets resolved (runs ``*_command``: call it in a thread, once)."""
    if profile.dialect == "soap" and profile.soap_auth == "oauth":
        return dataclasses.replace(profile, client_secret=_resolved(profile.client_secret, "OAuth client secret"))
    return dataclasses.replace(profile, api_password=SecretSource(literal=profile.api_password.resolve("API password")))


class ApiNotOpened:
    """Stands in for the API in a session opened for the drop only (``api=False``)."""

    def __init__(self, profile: Profile) -> None:
        self.profile = profile

    def __getattr__(self, name: str) -> Any:
        raise ConfigError(
            f"This command opened profile {self.profile.name!r} for the drop only; the API is not available here."
        )

    async def aclose(self) -> None:
        pass


log = logging.getLogger(__name__)

CLOSE_STEP_DEADLINE = 10.0
"""Longest wait for each part of a session to close (seconds)."""

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
        store: AsyncJobStore,
        poller: Poller,
        clock: Clock,
        sandbox: Sandbox | None = None,
    ) -> None:
        self.config = config
        self.profile = profile
        self.api = api
        self.store = store
        self.poller = poller
        self.clock = clock
        self.sandbox = sandbox
        self.drop = SessionDrop(profile, store, poller, lock_dir=paths.download_locks_dir())
        """The drop side: its connection (``drop.transport``), listing and fetch."""
        self._background: set[asyncio.Task[Any]] = set()
        self.pending_submits: dict[int, Job] = {}
        """Write-ahead jobs whose submit is under way (left Unconfirmed if the process stops now)."""
        self._rng = random.Random()
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
        sandbox_options: SandboxOptions | None = None,
        api: bool = True,
    ) -> Session:
        """Open the profile: start the sandbox if it is one, build the API, open the store.

        ``sandbox_options`` overrides the sandbox's settings (tests, the demo).
        ``api=False`` opens the drop and the store only: no API secret is read
        (``drop ls`` and ``fetch`` need the drop's credentials only). Secrets
        are resolved here, once, in a thread: a slow ``*_password_command``
        never holds the event loop.
        """
        config = config or load()
        profile = config.profile(profile_name)
        sandbox = None
        if profile.sandbox:
            sandbox, profile = await start_sandbox(config, profile, sandbox_options)
            clock = clock or sandbox.clock
        clock = clock or WallClock()
        client: Any = None
        store: AsyncJobStore | None = None
        try:
            if api:
                client = await make_api(await asyncio.to_thread(resolve_api_secrets, profile), clock)
            else:
                client = ApiNotOpened(profile)
            store = await open_store(config, path=store_path)
            if sandbox is not None:
                # A sandbox whose folder was wiped starts its IDs again; the
                # store still holds the old ones, and a batch the service
                # accepted must always be recordable.
                newest = await store.list(profile=profile.name, status=_WITH_BATCH, limit=1)
                if newest and newest[0].batch_id and newest[0].batch_id.isdigit():
                    sandbox.queue.skip_past(int(newest[0].batch_id))
        except BaseException:
            if store is not None:
                await store.aclose()
            if client is not None:
                await client.aclose()
            if sandbox is not None:
                await sandbox.__aexit__(None, None, None)
            raise
        poller = Poller(
            store,
            client,
            profile.name,
            clock=clock,
            initial=profile.poll_initial,
            cap=profile.poll_max,
            concurrency=profile.poll_concurrency,
            lease_seconds=config.store.lease_seconds,
        )
        session = cls(config, profile, api=client, store=store, poller=poller, clock=clock, sandbox=sandbox)
        if api:
            await session._remember_output_names()
        if start_poller:
            poller.start()
        return session

    async def _remember_output_names(self) -> None:
        """A SOAP status row does not name the file: tell the API what each open extract asked for."""
        remember = getattr(self.api, "remember_file_name", None)
        if remember is None:
            return
        for job in await self.store.live(self.profile.name):
            name = job.params.get("OutputFileName")
            if name and job.batch_id:
                remember(job.batch_id, name)

    async def close(self) -> None:
        """Stop polling, close connections and the store, stop the sandbox.

        Every step has a deadline (``CLOSE_STEP_DEADLINE``): a peer or store
        that does not answer while ettui exits must not keep the process alive.
        """
        await self._bounded("the poller", self.poller.stop())
        await self._bounded("the fetch claims", self.drop.release_claims())
        await self._bounded("the drop connection", self.drop.close())
        # Expiry writes started from event callbacks: finish them (a failure there must not stop the close).
        await self._bounded("the last store writes", asyncio.gather(*self._background, return_exceptions=True))
        await self._bounded("the API client", self.api.aclose())
        await self._bounded("the job store", self.store.aclose())
        if self.sandbox is not None:
            await self._bounded("the sandbox", self.sandbox.__aexit__(None, None, None))
            self.sandbox = None

    async def _bounded(self, what: str, step: Awaitable[Any]) -> None:
        try:
            async with asyncio.timeout(CLOSE_STEP_DEADLINE):
                await step
        except TimeoutError:
            log.warning("closing %s took longer than %g s; ettui exits without waiting for it", what, CLOSE_STEP_DEADLINE)

    async def __aenter__(self) -> Session:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- requests ----------------------------------------------------------

    def calls(self) -> list[CallSpec]:
        """The catalogue of the profile's dialect."""
        return self.api.calls()

    def validate(self, request: BatchRequest) -> None:
        """Raise ``ValidationError`` naming the parameter at fault."""
        self.api.validate(request)

    def preview(self, request: BatchRequest) -> str:
        """The exact request document, password masked."""
        return self.api.preview(request)

    async def submit(
        self,
        request: BatchRequest,
        *,
        replaces: Job | None = None,
        on_wait: SubmitWaitCallback | None = None,
    ) -> Job:
        """Validate, record the job ahead (Unconfirmed), send, confirm it (Scheduled), start polling it.

        Write-ahead: the job is in the store, durably, before the request
        leaves, so a crash, a kill or a lost reply leaves an Unconfirmed job
        rather than nothing. A throttled submit (HTTP 500) is retried with
        back-off and jitter up to ``submit_retries`` times (``on_wait`` hears
        of each wait; the board shows "Submitting (retry 2 of 4)").

        Raises:
            SubmitUnconfirmed: the request may have reached the service and no
                acceptance was read; the job stays Unconfirmed.
            EttuiError: the request was not accepted (validation, login,
                throttled on every try, not sent); no job is left behind.
        """
        self.api.validate(request)
        job = await self.store.add_unconfirmed(
            profile=self.profile.name,
            dialect=self.profile.dialect,
            call=request.call,
            submitted_at=self.clock.now(),
            request_doc=self.api.preview(request),
            params=dict(request.params),
            replaces_id=replaces.id if replaces is not None else None,
            submitted_by=whoami(),
        )
        self.pending_submits[job.id] = job
        try:
            return await self._send(request, job, replaces, on_wait)
        finally:
            # Cancelled (Ctrl+C, a closed worker): the job stays Unconfirmed, and
            # the caller can still read it here to tell the user.
            if not cancelling():
                self.pending_submits.pop(job.id, None)

    async def _send(
        self, request: BatchRequest, job: Job, replaces: Job | None, on_wait: SubmitWaitCallback | None
    ) -> Job:
        self.poller.announce(JobEvent("submitting", job, note="Submitting"))
        retries = max(0, self.profile.submit_retries)
        attempt = 0
        while True:
            try:
                result = await self.api.submit(request)
                break
            except EttuiError as exc:
                if isinstance(exc, ThrottledError) and attempt < retries:
                    attempt += 1
                    wait = SubmitWait(attempt, retries, self._submit_backoff(attempt), exc)
                    note = f"Submitting (retry {attempt} of {retries})"
                    job = await self.store.note(
                        job.id, f"The service is busy (HTTP 500); retry {attempt} of {retries} in {wait.seconds:.0f} s."
                    )
                    self.poller.announce(JobEvent("submitting", job, error=exc, note=note))
                    if on_wait is not None:
                        on_wait(wait)
                    await self.clock.sleep(wait.seconds)
                    continue
                raise await self._submit_failed(job, exc, attempt) from None
            # A crash, Ctrl+C or a cancelled worker (BaseException) leaves the
            # job Unconfirmed, as written: nothing to do here.
        try:
            confirmed = await self.store.confirm(
                job.id, batch_id=result.batch_id, at=self.clock.now(), request_doc=result.request_doc
            )
        except EttuiError as exc:
            await self.store.note(job.id, f"accepted as batch {result.batch_id}, which could not be recorded: {exc.message}")
            raise SubmitUnconfirmed(
                f"The service accepted {request.call} as batch {result.batch_id}, but the job store could not record it "
                f"({exc.message}); job {job.id} stays Unconfirmed: note the batch ID.",
                job=job, cause=exc,
            ) from None
        if replaces is not None and replaces.status is JobStatus.UNCONFIRMED:
            await self.dismiss(replaces.id)
        self.poller.track(confirmed)
        return confirmed

    def _submit_backoff(self, attempt: int) -> float:
        """Seconds before retry ``attempt`` (1-based): doubling from ``poll_initial``, capped, jittered."""
        base = min(self.profile.poll_max, self.profile.poll_initial * 2 ** (attempt - 1))
        return float(base * self._rng.uniform(0.8, 1.2))

    async def _submit_failed(self, job: Job, error: EttuiError, retried: int) -> EttuiError:
        """Settle the write-ahead job after a failed submit; return the error to raise (it says what happens next)."""
        if may_have_reached_service(error):
            job = await self.store.note(job.id, error.message)
            self.poller.announce(JobEvent("status", job, previous=JobStatus.UNCONFIRMED, error=error))
            return SubmitUnconfirmed(unconfirmed_sentence(job, error.message), job=job, cause=error)
        await self.store.discard(job.id)
        self.poller.announce(JobEvent("discarded", job, error=error))
        if isinstance(error, ThrottledError):
            tries = f"{retried + 1} times" if retried else "once"
            throttled = ThrottledError(
                f"The service refused {job.call} with HTTP 500 (throttling) {tries}; nothing was submitted and ettui "
                "will not try again by itself: submit it again later.",
                call=error.call, code=error.code,
            )
            return throttled
        return error

    async def resubmit(self, job_id: int, *, on_wait: SubmitWaitCallback | None = None) -> Job:
        """Send an Unconfirmed job's request again as a new job linked to it; the old one is dismissed once accepted."""
        old = await self.store.get(job_id)
        if old is None or old.profile != self.profile.name:
            raise EttuiError(f"No job {job_id} for profile {self.profile.name!r}; see `ettui jobs`.", title="No such job")
        if old.status is not JobStatus.UNCONFIRMED:
            raise EttuiError(
                f"Job {job_id} is {old.status.value}, not Unconfirmed; compose a new request instead.", title="Resubmit"
            )
        return await self.submit(BatchRequest(old.call, dict(old.params)), replaces=old, on_wait=on_wait)

    async def dismiss(self, job_id: int) -> Job:
        """Close an Unconfirmed job (the operator checked: the service did not run it, or it was resubmitted)."""
        job = await self.store.get(job_id)
        if job is None or job.profile != self.profile.name:
            raise EttuiError(f"No job {job_id} for profile {self.profile.name!r}; see `ettui jobs`.", title="No such job")
        dismissed = await self.store.dismiss(job_id, at=self.clock.now())
        self.poller.announce(JobEvent("status", dismissed, previous=job.status))
        return dismissed

    # -- jobs --------------------------------------------------------------

    async def jobs(
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
        return await self.store.list(status=status, profile=who, since=since, limit=limit, offset=offset)

    async def job(self, job_id: int) -> Job | None:
        """One job with its status history."""
        return await self.store.get(job_id)

    async def find(self, batch_id: str) -> Job | None:
        return await self.store.find(batch_id, profile=self.profile.name)

    def subscribe(self, callback: Callable[[JobEvent], None]) -> Callable[[], None]:
        """Call ``callback`` on every job event; returns the unsubscribe function."""
        return self.poller.subscribe(callback)

    def poll_now(self, job_id: int | None = None) -> None:
        self.poller.poll_now(job_id)

    async def refresh(self, job_ids: list[int]) -> list[EttuiError]:
        """Poll these jobs once now (the headless ``status`` without ``--watch``).

        Returns the errors of the polls that failed (each is also recorded as
        its job's ``last_error``; the jobs keep their status).
        """
        wanted = set(job_ids)
        failures: list[EttuiError] = []

        def collect(event: JobEvent) -> None:
            if event.kind in ("error", "throttled") and event.error is not None and event.job and event.job.id in wanted:
                failures.append(event.error)

        unsubscribe = self.poller.subscribe(collect)
        try:
            for job_id in job_ids:
                self.poller.poll_now(job_id)
            await self.poller.sweep_once()
        finally:
            unsubscribe()
        return failures

    def pause(self) -> None:
        self.poller.pause()

    def resume(self) -> None:
        self.poller.resume()

    @property
    def paused(self) -> bool:
        return self.poller.paused

    async def wait_until_terminal(self, job_ids: list[int], timeout: float | None = None) -> list[Job]:
        """Poll until no job is still with the service (Complete, Error, or not polled), or ``timeout`` passes.

        Whoever polls them: a job another process finishes arrives through the
        poller's change feed like one of ours.
        """
        wanted = set(job_ids)
        changed = asyncio.Event()

        def note(event: JobEvent) -> None:
            if event.job is not None and event.job.id in wanted:
                changed.set()

        async def settled() -> bool:
            jobs = [await self.store.get(i) for i in job_ids]
            return all(j is None or not j.status.polled for j in jobs)

        async def wait() -> None:
            while not await settled():
                await changed.wait()
                changed.clear()

        unsubscribe = self.subscribe(note)
        try:
            if not await settled():
                self.poll_now()
                async with asyncio.timeout(timeout):  # not wait_for: in Python 3.11 it can drop a Ctrl+C
                    await wait()
        finally:
            unsubscribe()
        return [j for i in job_ids if (j := await self.store.get(i)) is not None]

    def expiry_of(self, job: Job) -> datetime | None:
        """When a Complete job's file leaves the drop: the stored expiry, else completion + retention.

        The store may not have it yet: ``_on_event`` writes it in the background
        (on PostgreSQL a read can overtake that write), and a teammate's
        process may have completed the job.
        """
        if job.expires_at is not None or job.status is not JobStatus.COMPLETE:
            return job.expires_at
        return expires_after(self.profile, job, job.status_changed_at or self.clock.now())

    def _on_event(self, event: JobEvent) -> None:
        """A job that reached Complete gets its expiry now (completion + retention).

        The drop listing later replaces it with the file's own mtime + retention.
        Subscribed first, so every other subscriber sees the expiry on the job.
        """
        job = event.job
        if event.kind != "status" or job is None or job.status is not JobStatus.COMPLETE or job.expires_at:
            return
        job.expires_at = self.expiry_of(job)
        self._in_background(self.store.set_expires(job.id, job.expires_at))

    def _in_background(self, work: Any) -> None:
        """Run a store write from a (synchronous) event callback; ``close`` waits for it."""
        task = asyncio.get_running_loop().create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # -- the drop (``SessionDrop`` does the work) ------------------------------------

    async def drop_files(self) -> list[DropFile]:
        """The drop's files with expiry, linked to their jobs; plus files jobs named but the drop lacks."""
        return await self.drop.files()

    async def fetch(
        self,
        target: Job | DropFile | str,
        *,
        dest: Path | None = None,
        extract: bool = True,
        progress: ProgressCallback | None = None,
        retries: int = 5,
        unless_fetched: bool = False,
    ) -> FetchOutcome:
        """Download (resumable, verified) into ``dest`` (default: the profile's ``download_dir``), record, extract.

        See ``SessionDrop.fetch``: ``target`` is a job, a drop file, a batch ID
        or a remote file name/path; ``unless_fetched`` raises ``AlreadyFetched``
        when someone recorded the download while this process waited for the claim.
        """
        return await self.drop.fetch(
            target, dest=dest or self.profile.download_path, extract=extract, progress=progress, retries=retries,
            unless_fetched=unless_fetched,
        )

    async def extract(self, zip_path: Path, *, job: Job | None = None) -> tuple[Path, list[Path]]:
        """Extract safely into a folder named after the zip; record it on the job."""
        return await self.drop.extract(zip_path, job=job)

    def accept_identity(self, error: ServerIdentityUnknown, *, save: bool) -> None:
        """Trust-on-first-use of a host key or certificate: accept it for this session, save it if asked."""
        self.drop.accept_identity(error, save=save)

    def open_output(self, path: Path, member: str | None = None) -> RowReader:
        """A streaming reader of an output: an extracted XML or CSV file, or a zip (one member)."""
        from ettui.output import open_output

        return open_output(path, member)

    def export_output(
        self, path: Path, dest: Path, fmt: str = "csv", *,
        predicate: Predicate | None = None, progress: ExportProgress | None = None,
    ) -> int:
        """Write an output's rows (those ``predicate`` keeps) to ``dest``; returns the count. Synchronous: call from a thread."""
        from ettui.output.export import export_output

        return export_output(self.open_output(path), dest, fmt, predicate=predicate, progress=progress)


_WITH_BATCH = [JobStatus.SCHEDULED, JobStatus.PROCESSING, JobStatus.COMPLETE, JobStatus.ERROR, JobStatus.UNKNOWN]
"""Statuses of jobs that have a batch ID."""

