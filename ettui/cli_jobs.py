"""The commands that talk to the API or read the job history: ``calls``, ``submit``, ``status``, ``jobs``, ``store``."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ettui import config as config_mod
from ettui import paths
from ettui.cli_common import load_config, parse_age, with_session
from ettui.cli_output import job_json, jobs_table, print_json
from ettui.errors import EttuiError, ExitCode, UsageError
from ettui.model import BatchRequest, Job, JobStatus
from ettui.safetext import clean


async def cmd_calls(args: argparse.Namespace) -> int:
    async def body(session: Any) -> int:
        calls = session.calls()
        if args.json:
            print_json(
                [
                    {
                        "id": c.id,
                        "name": c.name,
                        "help": c.help,
                        "params": [
                            {"name": p.name, "kind": p.kind.value, "required": p.required, "help": p.help, "default": p.default}
                            for p in c.params
                        ],
                    }
                    for c in calls
                ]
            )
            return ExitCode.OK
        for c in calls:
            print(clean(f"{c.id:6} {c.name}"))
            for p in c.params:
                need = "required" if p.required else "optional"
                print(clean(f"         --param {p.name}=<{p.kind.value}>  ({need}) {p.help}"))
        return ExitCode.OK

    return await with_session(args, body, start_poller=False)


def _parse_params(pairs: Sequence[str]) -> dict[str, str]:
    params: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise UsageError(f"--param takes NAME=VALUE, not {pair!r}.")
        params[name.strip()] = value
    return params


def _print_wait(wait: Any) -> None:
    """A throttled submit's wait, on stderr: what ettui does next, and when."""
    print(
        f"ettui: the service is busy (HTTP 500); retry {wait.attempt} of {wait.retries} in {wait.seconds:.1f} s.",
        file=sys.stderr,
        flush=True,
    )


async def cmd_submit(args: argparse.Namespace) -> int:
    """Record ahead, send, confirm: exits 0 only with a Scheduled job in the store.

    A non-zero exit either says nothing was submitted, or names the
    Unconfirmed job the service may run (``SubmitUnconfirmed``).
    """
    request = BatchRequest(args.call, _parse_params(args.param or []))

    async def body(session: Any) -> int:
        try:
            job = await session.submit(request, on_wait=_print_wait)
        except (asyncio.CancelledError, KeyboardInterrupt):
            _unconfirmed_notes(list(session.pending_submits.values()), "interrupted before its acceptance was read")
            raise
        return _print_accepted(args, job)

    return await with_session(args, body, start_poller=False)


def _unconfirmed_notes(jobs: Sequence[Any], reason: str | None = None) -> None:
    """One sentence per Unconfirmed job, on stderr, under a listing."""
    from ettui.session import unconfirmed_sentence

    for job in jobs:
        if job is not None and job.status is JobStatus.UNCONFIRMED:
            why = reason or job.last_error or "no acceptance was read"
            print(f"ettui: {clean(unconfirmed_sentence(job, why))}", file=sys.stderr, flush=True)


async def cmd_status(args: argparse.Namespace) -> int:
    async def body(session: Any) -> int:
        if args.batch_id:
            jobs = []
            for batch_id in args.batch_id:
                job = await session.find(batch_id)
                if job is None:
                    raise UsageError(
                        f"No job with batch ID {batch_id} in the job store for profile {session.profile.name!r}; "
                        "see `ettui jobs`."
                    )
                jobs.append(job)
        else:
            open_statuses = [JobStatus.UNCONFIRMED, JobStatus.SCHEDULED, JobStatus.PROCESSING, JobStatus.UNKNOWN]
            jobs = await session.jobs(status=open_statuses) or await session.jobs(limit=20)
        ids = [j.id for j in jobs]
        live = [j.id for j in jobs if j.status.polled]
        if live and args.watch:
            last: dict[int, str] = {}

            def show(job: Any) -> None:
                if args.json or job is None or job.id not in ids or last.get(job.id) == job.status_raw:
                    return
                last[job.id] = job.status_raw
                line = f"{session.clock.now():%H:%M:%S}  {job.batch_id}  {job.call}  {job.status_raw}"
                if job.file_name:
                    line += f"  {job.file_name}"
                print(clean(line), flush=True)

            unsubscribe = session.subscribe(lambda event: show(event.job))
            try:
                for job in jobs:
                    show(job)
                # The wait reads the store: a change a teammate's poller made can settle it before its
                # event reaches ``show``, so the end state is shown from what the wait returns.
                for job in await session.wait_until_terminal(live, timeout=args.timeout):
                    show(job)
            except TimeoutError:
                raise EttuiError(
                    f"Jobs still not finished after {args.timeout:.0f} s; run `ettui status --watch` again later."
                ) from None
            finally:
                unsubscribe()
        failures: list[EttuiError] = []
        if live and not args.watch:
            failures = await session.refresh(live)
        jobs = [await session.job(i) for i in ids]
        if args.json:
            print_json([job_json(j) for j in jobs if j is not None])
        elif not args.watch or not live:
            print(jobs_table([j for j in jobs if j is not None], session.clock.now()))
        _unconfirmed_notes(jobs)
        if failures:
            # The table shows what the store knew; the poll that should have updated it failed.
            failure = failures[0]
            failure.message = (f"{failure.message.rstrip('.')}: the status shown is the last one known; "
                               "run `ettui status` again in a few minutes.")
            raise failure
        return ExitCode.OK

    return await with_session(args, body, start_poller=args.watch)


def _jobs_profile(args: argparse.Namespace, cfg: config_mod.Config) -> str:
    return cfg.with_dialect(args.profile, args.api).name if args.api else cfg.profile(args.profile).name


async def cmd_jobs(args: argparse.Namespace) -> int:
    """The history straight from the job store: no endpoint, secret or sandbox is touched.

    ``jobs dismiss ID`` closes an Unconfirmed job (store only); ``jobs
    resubmit ID`` sends its request again as a new job (that needs the API).
    """
    from ettui.jobs.base import open_store
    from ettui.model import utcnow

    action = getattr(args, "action", None) or "list"
    if action == "resubmit":
        return await _resubmit(args)
    cfg = load_config(args)
    profile = _jobs_profile(args, cfg)
    store = await open_store(cfg)
    try:
        if action == "dismiss":
            job_id = _job_id(args)
            job = await store.get(job_id)
            if job is None or job.profile != profile:
                raise UsageError(f"No job {job_id} for profile {profile!r} in the job store; see `ettui jobs`.")
            job = await store.dismiss(job_id, at=utcnow())
            if args.json:
                print_json(job_json(job))  # data on stdout, as every --json command
            else:
                print(clean(f"dismissed job {job.id} ({job.call})"))
            return ExitCode.OK
        statuses = None
        if args.status:
            statuses = []
            for raw in args.status.split(","):
                st = JobStatus.from_word(raw)
                if st is None:
                    raise UsageError(
                        f"--status takes Unconfirmed, Scheduled, Processing, Complete, Error, Unknown or Dismissed, not {raw!r}."
                    )
                statuses.append(st)
        now = utcnow()
        since = now - parse_age(args.since) if args.since else None
        jobs = await store.list(status=statuses, profile=None if args.all else profile, since=since, limit=args.limit)
    finally:
        await store.aclose()
    if args.json:
        print_json([job_json(j) for j in jobs])
    else:
        print(jobs_table(jobs, now))
    _unconfirmed_notes(jobs)
    return ExitCode.OK


async def cmd_store(args: argparse.Namespace) -> int:
    """``store migrate``: bring the configured store to this ettui's schema. ``store import-sqlite [PATH]``:
    copy a local SQLite history into the shared store (idempotent: run it again, nothing is copied twice)."""
    from ettui.jobs.base import open_store

    cfg = load_config(args)
    if args.action == "migrate":
        store = await open_store(cfg)  # opening applies pending migrations
        try:
            if args.json:
                print_json({"location": store.location, "schema_version": store.schema_version})
            else:
                print(f"job store {store.location} is at schema version {store.schema_version}")
        finally:
            await store.aclose()
        return ExitCode.OK
    if not cfg.store.url:
        raise UsageError(
            "`ettui store import-sqlite` copies into a shared store: set [store] url in the config first (see docs/config.md)."
        )
    source_path = Path(args.path).expanduser() if args.path else paths.job_store()
    if not source_path.exists():
        raise UsageError(f"There is no job store at {source_path}; pass the path of a jobs.sqlite3 file.")
    source = await open_store(path=source_path)
    try:
        target = await open_store(cfg)
        try:
            copied = skipped = 0
            for listed in await source.list(order="id asc"):
                job = await source.get(listed.id)  # with its history
                if job is None:
                    continue
                if await target.import_job(job):
                    copied += 1
                else:
                    skipped += 1
        finally:
            await target.aclose()
    finally:
        await source.aclose()
    if args.json:
        print_json({"from": str(source_path), "to": cfg.store.location, "copied": copied, "already_there": skipped})
    else:
        print(f"copied {copied} jobs from {source_path} to {cfg.store.location} ({skipped} were already there)")
    return ExitCode.OK


def _job_id(args: argparse.Namespace) -> int:
    if not args.job_id or not args.job_id.isdigit():
        raise UsageError(f"`ettui jobs {args.action}` takes a job ID (the ID column of `ettui jobs`).")
    return int(args.job_id)


def _print_accepted(args: argparse.Namespace, job: Job) -> int:
    """What submit and resubmit print for the job the API accepted: the job as JSON, or its batch id."""
    if args.json:
        print_json(job_json(job))
    else:
        print(clean(job.batch_id))
    return ExitCode.OK


async def _resubmit(args: argparse.Namespace) -> int:
    job_id = _job_id(args)

    async def body(session: Any) -> int:
        job = await session.resubmit(job_id, on_wait=_print_wait)
        return _print_accepted(args, job)

    return await with_session(args, body, start_poller=False)


