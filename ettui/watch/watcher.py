"""The watcher: fetch every output that lands, once, and run a hook for it.

``Watcher`` opens a ``Session`` per watched profile, lets each session's poller
follow the live jobs, and in *passes* (at start, when a job finishes, when a
retry falls due, and every ``poll_max`` seconds) lists the drop of every profile
with ``auto_fetch = true`` and fetches what is new, oldest-expiring first, one
file at a time (well inside the vendor's connection limit). Every happening is
a ``WatchEvent`` handed to the front end's ``emit``; the watcher never prints.

Never twice: a job whose download is recorded in the job store (path and
SHA-256) is never fetched again; a drop file no job produced
(``auto_fetch_unknown``) is remembered in the watcher's own state file. Never
lost: a failed fetch is retried with back-off (the ``.part`` resumes); a file
nobody fetched that is within ``[ui] expiring_soon_hours`` of expiry is an
``expiring`` warning, and with ``exit_when_idle`` a non-zero exit.

The hook (``on_fetched``, see ``hook.py``) runs once per fetched file; its
outcome is kept in the state file (``state.py``), so a failed hook is not run
again for the same file unless ``rerun_hooks``, and a hook interrupted by a
stop runs again at the next start.

What a run knows of each profile, and every Session call it makes, is in
``profile_watch.ProfileWatch``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import re
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ettui.aio import cancelling
from ettui.config import Config
from ettui.errors import AlreadyFetched, ConfigError, EttuiError, ExitCode, FetchInProgress, HostKeyUnknown
from ettui.model import DropFile, Job, JobStatus
from ettui.safetext import clean
from ettui.watch.events import Emit, EventKind, Level, WatchEvent, append_activity
from ettui.watch.hook import HOOK_TIMEOUT, hook_key, run_hook
from ettui.watch.profile_watch import ProfileWatch, Retry, fetched_key, file_key
from ettui.watch.state import WatchState

if TYPE_CHECKING:
    from ettui.jobs.poller import JobEvent
    from ettui.sandbox import SandboxOptions

VENDOR_NAME = re.compile(r"bulkasync_\d+_\d{17}_\d+\.zip", re.IGNORECASE)
"""The bulk async output name (spec §4, "Output file name"): what ``auto_fetch_unknown`` takes."""

RETRY_FIRST = 2.0
RETRY_CAP = 300.0
"""Real seconds between attempts at a failing fetch: doubling from the first, up to the cap."""

ATTEMPTS_WHEN_IDLE = 3
"""With ``exit_when_idle``: attempts at one file in one run before it is left for the next run."""

CLAIM_RECHECK = 3.0
"""Seconds before looking again at a file a teammate is fetching (done, or their claim lapsed)."""

UNWIND_SECONDS = 2.0
"""Seconds a stop lets the current fetch unwind before the sessions are closed under it."""

STOP_GRACE = 10.0
"""Seconds a stop then waits for the sessions to close."""

# -- the watcher ----------------------------------------------------------------------


class Watcher:
    """Watch profiles' jobs and drops; fetch, verify, extract and hook every output once.

    Args:
        config: The loaded config.
        profiles: Profile names; None: every profile with ``auto_fetch = true``.
        emit: Called (on the event loop) with every ``WatchEvent``.
        exit_when_idle: ``run`` returns once no job is live and nothing is left to fetch.
        rerun_hooks: Run failed hooks again (for files still on disk) at start.
        store_path: The job store (default: the state dir's).
        sandbox_options: For sandbox profiles (tests).
        hook_timeout: Seconds an ``on_fetched`` command may run.
        state: The durable watch state (default: ``watch.json`` in the state dir).
    """

    def __init__(
        self,
        config: Config,
        profiles: list[str] | None,
        *,
        emit: Emit,
        exit_when_idle: bool = False,
        rerun_hooks: bool = False,
        store_path: Path | None = None,
        sandbox_options: SandboxOptions | None = None,
        hook_timeout: float = HOOK_TIMEOUT,
        state: WatchState | None = None,
    ) -> None:
        self.config = config
        self.profile_names = self.choose_profiles(config, profiles)
        self.emit = emit
        self.exit_when_idle = exit_when_idle
        self.rerun_hooks = rerun_hooks
        self.store_path = store_path
        self.sandbox_options = sandbox_options
        self.hook_timeout = hook_timeout
        self.state = state or WatchState()
        self.soon = timedelta(hours=config.ui.expiring_soon_hours)
        self._watches: list[ProfileWatch] = []
        self._wake = asyncio.Event()
        self._problem = False
        """With ``exit_when_idle``: a file left unfetched near its expiry, or given up on."""

    @staticmethod
    def choose_profiles(config: Config, names: list[str] | None) -> list[str]:
        """The named profiles (each must exist), else every profile with ``auto_fetch``."""
        if names:
            return [config.profile(name).name for name in dict.fromkeys(names)]
        chosen = [p.name for p in config.profiles.values() if p.auto_fetch]
        if not chosen:
            raise ConfigError(
                f"No profile in {config.path} has auto_fetch = true; set it on the profiles to fetch, "
                "or name profiles to watch with --profile."
            )
        return chosen

    # -- running ---------------------------------------------------------------

    async def run(self, stop: asyncio.Event | None = None) -> int:
        """Watch until ``stop`` is set (or, with ``exit_when_idle``, until idle); returns the exit code.

        A stop cancels the fetch in progress between two writes: the ``.part``
        keeps every byte written and its sidecar, so the next run resumes it.
        """
        from ettui.session import Session

        stop = stop or asyncio.Event()
        body: asyncio.Future[None] | None = None
        try:
            for name in self.profile_names:
                session = await Session.open(
                    self.config, name, store_path=self.store_path, sandbox_options=self.sandbox_options
                )
                watch = ProfileWatch(session)
                self._watches.append(watch)
                session.subscribe(self._listener(watch))
                await self._start(watch)
            body = asyncio.ensure_future(self._loop())
            stopper = asyncio.ensure_future(stop.wait())
            await asyncio.wait({body, stopper}, return_when=asyncio.FIRST_COMPLETED)
            stopper.cancel()
            if not body.done():
                body.cancel()
                # Unwinding may wait on the drop (closing a remote handle); closing
                # the sessions below breaks such a wait if the drop has stalled.
                await asyncio.wait({body}, timeout=UNWIND_SECONDS)
                for w in self._watches:
                    self._say(w, "stopped", "Stopped; a download in progress resumes from its .part at the next start.")
                return ExitCode.OK
            body.result()  # an error in the loop propagates
            expiring = [job for w in self._watches for job in await self._expiring_unfetched(w)]
            return ExitCode.DROP if self._problem or expiring else ExitCode.OK
        finally:
            closing = [asyncio.ensure_future(w.session.close()) for w in self._watches]
            if closing:
                await asyncio.wait(closing, timeout=STOP_GRACE)
            if body is not None and not body.done():
                await asyncio.wait({body}, timeout=STOP_GRACE)
            self._watches = []

    async def _loop(self) -> None:
        await self._resume_hooks()
        while True:
            self._wake.clear()
            for watch in self._watches:
                await self._pass(watch)
            if self.exit_when_idle and await self._idle():
                for watch in self._watches:
                    self._say(watch, "idle", "No job is live and nothing is left to fetch.")
                return
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._next_wait())

    def _next_wait(self) -> float:
        now = time.monotonic()
        dues = [w.rescan_at for w in self._watches]
        dues += [r.due for w in self._watches for k, r in w.retries.items() if k not in w.given_up]
        return max(0.05, min(dues, default=now + 60.0) - now)

    async def _idle(self) -> bool:
        for w in self._watches:
            if w.live or w.list_failures or await self._left_to_fetch(w):
                return False
        return True

    async def _left_to_fetch(self, w: ProfileWatch) -> list[DropFile]:
        return [f for f in await self._candidates(w) if file_key(f) not in w.given_up]

    # -- events from the pollers --------------------------------------------------

    def _listener(self, w: ProfileWatch) -> Callable[[JobEvent], None]:
        return lambda event: self._on_job_event(w, event)

    def _on_job_event(self, w: ProfileWatch, event: JobEvent) -> None:
        job = event.job
        if job is None:
            return
        if event.kind == "error":
            self._poll_failed(w, job, event)
            return
        if event.kind in ("status", "polled"):
            w.poll_errors.pop(job.id, None)
            w.stuck.discard(job.id)
        if event.kind != "status":
            return
        # The poller may find a job another process submitted before a pass does.
        self._announce(w, job)
        previous = w.known.get(job.id) or (event.previous.value if event.previous else "?")
        w.known[job.id] = job.status_raw
        text = f"Batch {clean(job.batch_id)} ({clean(job.call)}): {clean(previous)} -> {clean(job.status_raw)}"
        if job.status is JobStatus.ERROR and job.last_error:
            text += f" ({clean(job.last_error)})"
        self._say(
            w, "status", text + ".", level="error" if job.status is JobStatus.ERROR else "info", job=job,
            details={"status": job.status_raw, "previous": previous},
        )
        if job.terminal:
            w.dirty = True
            self._wake.set()

    def _poll_failed(self, w: ProfileWatch, job: Job, event: JobEvent) -> None:
        """With ``exit_when_idle``, a job whose status cannot be had is left for the next run, not waited on forever."""
        errors = w.poll_errors[job.id] = w.poll_errors.get(job.id, 0) + 1
        if not self.exit_when_idle or errors != ATTEMPTS_WHEN_IDLE:
            return
        w.stuck.add(job.id)
        self._problem = True
        why = clean(event.error.message) if event.error else "no answer"
        self._say(w, "failed", f"Checking batch {clean(job.batch_id)} failed {errors} times in a row ({why}); "
                  "it is left for the next run.", level="error", job=job, details={"attempts": errors, "retry_in": None})
        self._wake.set()

    # -- one pass over a profile ------------------------------------------------------

    async def _pass(self, w: ProfileWatch) -> None:
        await self._follow_jobs(w)
        rescan = time.monotonic() >= w.rescan_at
        if rescan:
            w.rescan_at = time.monotonic() + w.rescan_seconds
        if w.auto_fetch and (w.dirty or rescan or self._retry_due(w)):
            await self._list(w)
        if w.auto_fetch:
            for f in await self._candidates(w):
                await self._maybe_fetch(w, f)
        await self._check_expiry(w)

    async def _start(self, w: ProfileWatch) -> None:
        """The "watching" line; the jobs live now are counted there, any later one is announced."""
        live = await w.live_jobs()
        w.announced.update(job.id for job in live)
        self._say(
            w, "watching",
            f"Watching profile {w.name}: {len(live)} live job(s); "
            + ("fetching every output that lands." if w.auto_fetch else "not fetching (auto_fetch is off)."),
            details={"live": len(live), "auto_fetch": w.auto_fetch},
        )

    async def _follow_jobs(self, w: ProfileWatch) -> None:
        """Announce live jobs other processes submitted, and make the poller look at them now."""
        live = await w.live_jobs()
        ids = {job.id for job in live}
        for job in live:
            self._announce(w, job)
            if job.id not in w.known:
                w.known[job.id] = job.status_raw
                w.session.poll_now(job.id)
        for gone in [i for i in w.known if i not in ids]:
            # Finished, perhaps polled by another process: our poller never saw the change.
            del w.known[gone]
            w.dirty = True
        w.live = len(ids - w.stuck)

    def _announce(self, w: ProfileWatch, job: Job) -> None:
        """Say once that a job appeared (the watcher submits none: every new one came from elsewhere)."""
        if job.id in w.announced:
            return
        w.announced.add(job.id)
        self._say(w, "submitted", f"Batch {clean(job.batch_id)} ({clean(job.call)}) was submitted elsewhere; watching it.",
                  job=job)

    def _retry_due(self, w: ProfileWatch) -> bool:
        now = time.monotonic()
        return any(r.due <= now for k, r in w.retries.items() if k not in w.given_up)

    async def _list(self, w: ProfileWatch) -> None:
        w.dirty = False
        try:
            w.files = await w.drop_files()
        except EttuiError as exc:
            w.list_failures += 1
            delay = min(RETRY_CAP, RETRY_FIRST * 2 ** (w.list_failures - 1))
            w.rescan_at = time.monotonic() + delay
            give_up = self.exit_when_idle and w.list_failures >= ATTEMPTS_WHEN_IDLE
            then = f"gave up after {w.list_failures} attempts." if give_up else f"retrying in {delay:.0f} s."
            self._say(w, "failed", f"Listing the drop failed: {_sentence(w, exc)} — {then}", level="error",
                      details={"attempts": w.list_failures, "retry_in": None if give_up else delay})
            if give_up:
                raise
            return
        w.list_failures = 0

    async def _candidates(self, w: ProfileWatch) -> list[DropFile]:
        """Files of the last listing still to fetch, oldest-expiring first."""
        if not w.auto_fetch:
            return []
        now = w.now()
        out = []
        for f in w.files:
            if f.job_id is not None:
                job = await w.job(f.job_id)
                if job is None or (job.download_path and job.sha256):
                    w.retries.pop(file_key(f), None)  # fetched (perhaps by a teammate): nothing left to retry
                    continue
            elif (not (w.session.profile.auto_fetch_unknown and VENDOR_NAME.fullmatch(f.name))
                  or self.state.fetched(fetched_key(w.name, f)) is not None):
                continue
            if not f.listed and f.expires_at <= now:
                if file_key(f) in w.warned or file_key(f) in w.retries:
                    self._report_expired(w, f)
                continue  # long gone: not news on every start
            out.append(f)
        return sorted(out, key=lambda f: f.expires_at)

    async def _maybe_fetch(self, w: ProfileWatch, f: DropFile) -> None:
        key = file_key(f)
        if key in w.given_up:
            return
        retry = w.retries.get(key)
        if retry is not None and retry.due > time.monotonic():
            return
        if f.listed:
            self._landed(w, f)
        if f.job_id is not None and (job := await w.job(f.job_id)) is not None and job.download_path:
            return  # another ettui fetched it since the listing
        part = w.session.profile.download_path / (f.name + ".part")
        resumed_from = part.stat().st_size if part.exists() else 0
        try:
            outcome = await w.fetch(f)
        except AlreadyFetched:
            w.retries.pop(key, None)
            return  # another watcher or operator fetched it while this one waited for the claim
        except FetchInProgress as exc:
            self._leave_to_holder(w, f, exc)
            return
        except EttuiError as exc:
            if cancelling():
                # A stop unwinding the fetch (its cleanup can fail once the sessions close):
                # not a failure to report or retry, and nothing may be said after "stopped".
                raise asyncio.CancelledError from None
            await self._fetch_failed(w, f, exc)
            return
        w.retries.pop(key, None)
        self._landed(w, f, outcome.size)  # a job's file fetched before a listing showed it: it landed all the same
        if f.job_id is None:
            await asyncio.to_thread(self.state.update, "fetched", fetched_key(w.name, f), {
                "path": str(outcome.zip_path), "sha256": outcome.sha256, "size": outcome.size, "at": w.now().isoformat(),
            })
        batch_id = outcome.job.batch_id if outcome.job else None
        resumed = f", resumed from {resumed_from:,} bytes" if resumed_from else ""
        self._say(
            w, "fetched",
            f"Fetched {clean(f.name)} ({outcome.size:,} bytes, sha256 {outcome.sha256}{resumed}), "
            f"{len(outcome.files)} file(s) extracted to {clean(outcome.extract_dir)}.",
            file=f.name, batch_id=batch_id,
            details={
                "size": outcome.size, "sha256": outcome.sha256, "zip_path": str(outcome.zip_path),
                "extract_dir": str(outcome.extract_dir) if outcome.extract_dir else None,
                "files": [str(p) for p in outcome.files], "resumed_from": resumed_from,
            },
        )
        command = w.session.profile.on_fetched
        if command:
            await self._run_hook(w.name, command, {
                "ETTUI_FILE": str(outcome.zip_path),
                "ETTUI_EXTRACT_DIR": str(outcome.extract_dir) if outcome.extract_dir else "",
                "ETTUI_FILES": "\n".join(str(p) for p in outcome.files),
                "ETTUI_BATCH_ID": batch_id or "",
                "ETTUI_PROFILE": w.name,
                "ETTUI_SHA256": outcome.sha256,
            })

    def _landed(self, w: ProfileWatch, f: DropFile, size: int | None = None) -> None:
        """Say once that the file is on the drop (``size``: as fetched, when no listing gave it)."""
        key = file_key(f)
        if key in w.landed:
            return
        w.landed.add(key)
        size = f.size if size is None else size
        self._say(w, "landed", f"{clean(f.name)} landed ({size:,} bytes).", file=f.name, batch_id=f.batch_id,
                  details={"size": size, "path": f.path, "expires_at": f.expires_at.isoformat()})

    def _leave_to_holder(self, w: ProfileWatch, f: DropFile, exc: FetchInProgress) -> None:
        """A teammate is fetching the file: not a failure; look again soon (their claim lapses if they die)."""
        key = file_key(f)
        retry = w.retries.setdefault(key, Retry())
        retry.due = time.monotonic() + CLAIM_RECHECK
        w.dirty = True
        if key not in w.left_to_others:
            w.left_to_others.add(key)
            self._say(w, "elsewhere", f"{clean(f.name)} is being fetched by {clean(exc.holder)}; "
                      f"leaving it to them (checking again every {CLAIM_RECHECK:.0f} s).", file=f.name,
                      batch_id=f.batch_id, details={"holder": exc.holder, "retry_in": CLAIM_RECHECK})

    async def _fetch_failed(self, w: ProfileWatch, f: DropFile, exc: EttuiError) -> None:
        key = file_key(f)
        job = await w.job(f.job_id) if f.job_id is not None else None
        if job is not None and job.download_path:
            # Downloaded and verified, then extraction refused the zip: fetching it again cannot help.
            w.given_up.add(key)
            self._problem = self._problem or self.exit_when_idle
            self._say(w, "failed", f"{clean(f.name)} was downloaded to {clean(job.download_path)} but not extracted: "
                      f"{clean(exc.message)} It is not fetched again.", level="error", file=f.name, batch_id=f.batch_id,
                      details={"attempts": 1, "retry_in": None})
            return
        retry = w.retries.setdefault(key, Retry())
        retry.attempts += 1
        delay = min(RETRY_CAP, RETRY_FIRST * 2 ** (retry.attempts - 1))
        retry.due = time.monotonic() + delay
        w.dirty = True  # list again before the retry: the file may have moved or gone
        if self.exit_when_idle and retry.attempts >= ATTEMPTS_WHEN_IDLE:
            w.given_up.add(key)
            self._problem = True
            then = f"gave up after {retry.attempts} attempts; the next run tries again."
        else:
            then = f"retrying in {delay:.0f} s."
        self._say(w, "failed", f"Fetching {clean(f.name)} failed: {_sentence(w, exc)} — {then}", level="error",
                  file=f.name, batch_id=f.batch_id,
                  details={"attempts": retry.attempts, "retry_in": None if key in w.given_up else delay})

    async def _expiring_unfetched(self, w: ProfileWatch) -> list[Job]:
        """Jobs of the profile whose file nobody fetched and that expire within ``[ui] expiring_soon_hours``."""
        now = w.now()
        out = []
        for job in await w.complete_jobs():
            expires = w.session.expiry_of(job)  # the store may not have it yet (written in the background)
            if not job.download_path and job.file_name and expires is not None and timedelta(0) < expires - now < self.soon:
                out.append(dataclasses.replace(job, expires_at=expires))
        return out

    async def _check_expiry(self, w: ProfileWatch) -> None:
        """Warn, once a run, of every file of ours nobody fetched that is about to expire."""
        now = w.now()
        for job in await self._expiring_unfetched(w):
            assert job.expires_at is not None
            assert job.file_name is not None
            left = job.expires_at - now
            key = f"job:{job.id}"
            if key in w.warned:
                continue
            w.warned.add(key)
            hours = left.total_seconds() / 3600
            why = "its fetch keeps failing" if key in w.retries else (
                "auto_fetch is off for this profile" if not w.auto_fetch else "it is not fetched yet")
            self._say(
                w, "expiring",
                f"{clean(job.file_name)} of batch {clean(job.batch_id)} expires in {hours:.1f} h and is not fetched ({why}); "
                f"fetch it now with `ettui --profile {w.name} fetch {clean(job.batch_id)}`.",
                level="warning", job=job, file=job.file_name,
                details={"expires_at": job.expires_at.isoformat(), "seconds_left": int(left.total_seconds())},
            )

    def _report_expired(self, w: ProfileWatch, f: DropFile) -> None:
        key = "expired:" + file_key(f)
        if key in w.warned:
            return
        w.warned.add(key)
        self._problem = self._problem or self.exit_when_idle
        self._say(w, "expired", f"{clean(f.name)} expired from the drop before it was fetched; ask for it again.",
                  level="error", file=f.name, batch_id=f.batch_id)

    # -- the hook -------------------------------------------------------------------

    async def _resume_hooks(self) -> None:
        """Run hooks a stop interrupted, and (``rerun_hooks``) those that failed, for files still on disk."""
        watched = {w.name: w for w in self._watches}
        for entry in self.state.hooks().values():
            w = watched.get(str(entry.get("profile")))
            if w is None or not w.session.profile.on_fetched:
                continue
            status = entry.get("status")
            if status == "ok" or (status != "pending" and not self.rerun_hooks):
                continue
            env = {str(k): str(v) for k, v in (entry.get("env") or {}).items()}
            if not Path(env.get("ETTUI_FILE", "")).exists():
                gone = clean(Path(env.get("ETTUI_FILE", "?")).name)
                self._say(w, "hook", f"The hook for {gone} is not run again: the file is gone.",
                          level="warning")
                continue
            await self._run_hook(w.name, w.session.profile.on_fetched, env)

    async def _run_hook(self, profile: str, command: str, env: dict[str, str]) -> None:
        """Run ``on_fetched`` once for a file; record and announce its outcome. Never raises for the hook's faults."""
        zip_path = Path(env["ETTUI_FILE"])
        key = hook_key(profile, zip_path, env["ETTUI_SHA256"])
        w = next(x for x in self._watches if x.name == profile)
        record: dict[str, Any] = {
            "profile": profile, "command": command, "env": env, "status": "pending", "at": w.now().isoformat(),
        }
        await asyncio.to_thread(self.state.update, "hooks", key, record)
        outcome = await run_hook(command, env, self.hook_timeout)
        record.update(status=outcome.status, exit=outcome.exit, output=outcome.output, at=w.now().isoformat())
        await asyncio.to_thread(self.state.update, "hooks", key, record)
        first = "; ".join(clean(line) for line in outcome.output)
        what = outcome.describe(self.hook_timeout)
        again = "" if outcome.status == "ok" else " It is not run again for this file unless `ettui watch --rerun-hooks`."
        batch = env.get("ETTUI_BATCH_ID") or None
        self._say(
            w, "hook", f"on_fetched for {clean(zip_path.name)} {what}{': ' + first if first else ''}.{again}",
            level="info" if outcome.status == "ok" else "error", batch_id=batch, file=zip_path.name,
            details={"exit": outcome.exit, "status": outcome.status, "output": outcome.output, "command": command},
        )

    # -- announcing -----------------------------------------------------------------

    def _say(
        self,
        w: ProfileWatch,
        kind: EventKind,
        message: str,
        *,
        level: Level = "info",
        job: Job | None = None,
        batch_id: str | None = None,
        file: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        event = WatchEvent(
            kind, w.name, message, w.now(), level,
            batch_id=batch_id or (job.batch_id if job else None),
            file=file or (job.file_name if job else None),
            details=details or {},
        )
        append_activity(event)
        self.emit(event)


def _sentence(w: ProfileWatch, exc: EttuiError) -> str:
    """The error's sentence; an unknown host key says how to trust it, since a watcher never does so by itself."""
    text = clean(exc.message)
    if isinstance(exc, HostKeyUnknown):
        text += (f" A watcher never trusts a key on its own: check it, then run "
                 f"`ettui --profile {w.name} drop ls --accept-host-key {clean(exc.fingerprint)}` once.")
    return text


__all__ = ["ATTEMPTS_WHEN_IDLE", "VENDOR_NAME", "Watcher"]
