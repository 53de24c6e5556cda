"""The headless commands. Same services as the UI (``Session``), never textual.

Exit codes (``ettui.errors.ExitCode``): 0 ok, 1 failure, 2 usage, 3 validation,
4 service error, 5 connection error, 6 drop/file error, 7 configuration.
Every user-caused failure prints one sentence on stderr, never a traceback
(set ``ETTUI_DEBUG=1`` to see one).

Everything printed for a human goes through :func:`ettui.safetext.clean`
(remote names, reply values, error sentences that quote them); ``--json`` is
exact and escaped by JSON itself; CSV/JSONL from ``preview`` are byte-exact to
a file or pipe and cleaned only when stdout is a terminal.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import sys
from collections.abc import Awaitable, Callable, Iterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from ettui import __version__, paths
from ettui import config as config_mod
from ettui.cli_output import ProgressBar, drop_json, job_json, jobs_table, print_json, text_table
from ettui.config_rules import RULES
from ettui.errors import ConfigError, EttuiError, ExitCode, HostKeyUnknown, ServerIdentityUnknown, library_error
from ettui.model import DIALECTS, BatchRequest, JobStatus, format_duration, parse_duration
from ettui.safetext import clean, clean_cells, clean_json


class UsageError(EttuiError):
    title = "Usage"
    exit_code = ExitCode.USAGE


def parse_age(text: str) -> timedelta:
    """``30m``, ``6h``, ``2d``, ``1w`` -> a timedelta."""
    age = parse_duration(text)
    if age is None:
        raise UsageError(f"--since takes an age like 30m, 6h, 2d or 1w, not {text!r}.")
    return age


# -- session plumbing ------------------------------------------------------------


def _load_config(args: argparse.Namespace) -> config_mod.Config:
    path = Path(args.config).expanduser() if args.config else None
    return config_mod.load(path)


async def _with_session(args: argparse.Namespace, body: Callable[[Any], Awaitable[int]], **open_kw: Any) -> int:
    from ettui.session import Session

    cfg = _load_config(args)
    name = args.profile
    if getattr(args, "api", None):
        import dataclasses

        profile = cfg.with_dialect(name, args.api)
        cfg = dataclasses.replace(cfg, profiles={**cfg.profiles, profile.name: profile})
        name = profile.name
    session = await Session.open(cfg, name, **open_kw)
    try:
        return await body(session)
    finally:
        await session.close()


# -- commands -------------------------------------------------------------------


def cmd_config(args: argparse.Namespace) -> int:
    if args.action == "path":
        cfg_file = Path(args.config) if args.config else paths.config_file()
        rows = {
            "config": str(cfg_file),
            "state": str(paths.state_dir()),
            "job_store": str(paths.job_store()),
            "activity_log": str(paths.activity_log()),
            "error_log": str(paths.error_log()),
            "known_hosts": str(paths.known_hosts()),
            "sandbox": str(paths.sandbox_dir()),
            "cache": str(paths.cache_dir()),
            "downloads": str(paths.downloads_dir()),
        }
        if args.json:
            print_json(rows)
        else:
            for key, value in rows.items():
                print(f"{key:13} {clean(value)}")
        return ExitCode.OK
    # `check` runs the same validation as every other command, but reports
    # every problem instead of stopping at the first start-up refusal.
    cfg, problems = config_mod.check(Path(args.config).expanduser() if args.config else None)
    if cfg is None:
        if args.json:
            print_json({"path": str(_checked_path(args)), "ok": False, "problems": problems})
        else:
            for problem in problems:
                print(f"ettui: {clean(problem)}", file=sys.stderr)  # problems quote the file's values
            plural = "s" if len(problems) != 1 else ""
            print(f"ettui: {len(problems)} problem{plural}; fix them and run `ettui config check` again.", file=sys.stderr)
        return ExitCode.CONFIG
    warning = config_mod.check_permissions(cfg.path) if cfg.exists else None
    if args.json:
        print_json({"path": str(cfg.path), "ok": True, "problems": [], "exists": cfg.exists, "profiles": sorted(cfg.profiles),
                    "default_profile": cfg.default_profile, "warning": warning})
    else:
        where = str(cfg.path) if cfg.exists else f"{cfg.path} (absent: built-in sandbox profile only)"
        print(clean(f"config ok: {where}"))
        print(clean(f"profiles: {', '.join(sorted(cfg.profiles))} (default {cfg.default_profile})"))
        if warning:
            print(clean(f"warning: {warning}"), file=sys.stderr)
    return ExitCode.OK


def _checked_path(args: argparse.Namespace) -> Path:
    return Path(args.config).expanduser() if args.config else paths.config_file()


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

    return await _with_session(args, body, start_poller=False)


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
        if args.json:
            print_json(job_json(job))
        else:
            print(clean(job.batch_id))
        return ExitCode.OK

    return await _with_session(args, body, start_poller=False)


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
                # The store may say Complete before this process's feed announced it: show the end too.
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

    return await _with_session(args, body, start_poller=args.watch)


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
    cfg = _load_config(args)
    profile = _jobs_profile(args, cfg)
    store = await open_store(cfg)
    try:
        if action == "dismiss":
            job_id = _job_id(args)
            job = await store.get(job_id)
            if job is None or job.profile != profile:
                raise UsageError(f"No job {job_id} for profile {profile!r} in the job store; see `ettui jobs`.")
            job = await store.dismiss(job_id, at=utcnow())
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

    cfg = _load_config(args)
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


async def _resubmit(args: argparse.Namespace) -> int:
    job_id = _job_id(args)

    async def body(session: Any) -> int:
        job = await session.resubmit(job_id, on_wait=_print_wait)
        if args.json:
            print_json(job_json(job))
        else:
            print(clean(job.batch_id))
        return ExitCode.OK

    return await _with_session(args, body, start_poller=False)


async def cmd_drop(args: argparse.Namespace) -> int:
    async def body(session: Any) -> int:
        files = await _retry_host_key(session, args, session.drop_files)
        now = session.clock.now()
        if args.json:
            print_json([drop_json(f, now) for f in files])
            return ExitCode.OK
        rows: list[tuple[str, ...]] = [("NAME", "SIZE", "AGE", "TIME LEFT", "BATCH")]
        for f in files:
            left = f.expiry.time_left(now)
            left_text = "EXPIRED" if left.total_seconds() <= 0 else format_duration(left)
            shown = clean(f.path) + ("" if f.listed else "  (not in drop)")
            rows.append((shown, f"{f.size:,}", format_duration(now - f.mtime), left_text, f.batch_id or "-"))
        print(text_table(rows))
        return ExitCode.OK

    return await _with_session(args, body, start_poller=False, api=False)


async def _retry_host_key(session: Any, args: argparse.Namespace, op: Callable[[], Awaitable[Any]]) -> Any:
    """Run ``op``; on an unknown host key or certificate, accept it only when ``--accept-host-key`` /
    ``--accept-cert`` matches."""
    try:
        return await op()
    except ServerIdentityUnknown as err:
        flag = "--accept-host-key" if isinstance(err, HostKeyUnknown) else "--accept-cert"
        wanted = getattr(args, "accept_host_key", None) if isinstance(err, HostKeyUnknown) else getattr(args, "accept_cert", None)
        if wanted and not isinstance(err, HostKeyUnknown):
            from ettui.drop.certs import normalise_fingerprint

            wanted = normalise_fingerprint(wanted)
        if wanted and wanted == err.fingerprint:
            session.accept_identity(err, save=True)
            return await op()
        hint = f"it does not match {flag}" if wanted else f"check it with the server's admin, then pass {flag} {err.fingerprint}"
        details = "".join(f"\n  {line}" for line in err.description)
        err.message = f"The {err.kind} of {err.host}:{err.port} is unknown ({err.fingerprint}); {hint}.{details}"
        err.args = (err.message,)
        raise err from None


def _say_rates() -> None:
    """On a terminal (beside the progress bar), ``ettui fetch`` says the rate of a large download and what limited it.

    Not when stderr is a file or a pipe (scripts read it for the one error
    sentence), unless ``ETTUI_SHOW_RATE=1`` asks for it (the benchmark does).
    """
    rates = logging.getLogger("ettui.drop.rate")
    wanted = sys.stderr.isatty() or os.environ.get("ETTUI_SHOW_RATE") == "1"
    if wanted and not rates.handlers and not os.environ.get("ETTUI_DEBUG"):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(SentenceFormatter())
        rates.addHandler(handler)
        rates.setLevel(logging.INFO)
        rates.propagate = False


async def cmd_fetch(args: argparse.Namespace) -> int:
    if not args.json:
        _say_rates()

    async def body(session: Any) -> int:
        dest = Path(args.dest).expanduser() if args.dest else None
        show_bar = sys.stderr.isatty() and not args.json
        bar = ProgressBar() if show_bar else None
        try:
            outcome = await _retry_host_key(
                session,
                args,
                lambda: session.fetch(
                    args.target, dest=dest, extract=not args.no_extract, progress=bar.update if bar else None,
                    retries=args.retries,
                ),
            )
        finally:
            if bar:
                bar.stop()
        if args.json:
            print_json(
                {
                    "zip_path": str(outcome.zip_path),
                    "sha256": outcome.sha256,
                    "size": outcome.size,
                    "extract_dir": str(outcome.extract_dir) if outcome.extract_dir else None,
                    "files": [str(p) for p in outcome.files],
                    "batch_id": outcome.job.batch_id if outcome.job else None,
                }
            )
        else:
            print(clean(f"downloaded {outcome.zip_path} ({outcome.size:,} bytes, sha256 {outcome.sha256})"))
            for p in outcome.files:
                print(clean(f"extracted  {p}"))
        return ExitCode.OK

    return await _with_session(args, body, start_poller=False, api=False)


def cmd_preview(args: argparse.Namespace) -> int:
    from ettui.output import open_output
    from ettui.output.export import format_table

    _load_config(args)  # no command starts on a config that `config check` refuses
    path = Path(args.file).expanduser()
    if not path.exists():
        raise UsageError(f"{path} does not exist; pass an extracted XML file or a downloaded zip.")
    reader = open_output(path, args.member)
    if args.format == "table":
        first = list(reader.iter_rows(limit=args.limit or None))
        width = os.get_terminal_size().columns if sys.stdout.isatty() else 160
        print(format_table(first, reader.columns, width))
        return ExitCode.OK
    limit = args.limit or None  # --limit 0: every record
    rows: Iterator[dict[str, str]] = reader.iter_rows(limit=limit)
    # Cells hold subscriber-entered text: to a file or pipe they stay byte-exact
    # (it is data), to a terminal their controls are made visible.
    terminal = sys.stdout.isatty()
    if args.format == "jsonl":
        for row in rows:
            line = json.dumps(row, ensure_ascii=False)
            sys.stdout.write((clean_json(line) if terminal else line) + "\n")
        return ExitCode.OK
    import csv

    if limit is None:
        # Every record to a pipe: a first pass learns every column, a second
        # streams the rows, so memory stays flat and late columns get a header.
        for _ in rows:
            pass
        rows = reader.iter_rows()
    else:
        rows = iter(list(rows))
    columns = reader.columns
    if terminal:
        columns = [clean(c) for c in columns]
        rows = map(clean_cells, rows)
    writer = csv.DictWriter(sys.stdout, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return ExitCode.OK


async def cmd_sandbox(args: argparse.Namespace) -> int:
    from ettui.sandbox import Sandbox
    from ettui.wiring import sandbox_options

    # The same rules as the config's [sandbox] table, so a flag cannot start what the file may not.
    if args.time_scale is not None and (wrong := RULES["sandbox"]["time_scale"].problem(args.time_scale)):
        raise UsageError(f"--time-scale {wrong}, not {args.time_scale:g}.")
    for flag, port in (("--http-port", args.http_port), ("--sftp-port", args.sftp_port)):
        if not 0 <= port <= 65535:
            raise UsageError(f"{flag} must be between 0 (any free port) and 65535, not {port}.")
    options = sandbox_options(
        _load_config(args),
        root=Path(args.root).expanduser() if args.root else None,
        seed=args.seed,
        time_scale=args.time_scale,
        http_port=args.http_port,
        sftp_port=args.sftp_port,
        authorized_keys=Path(args.authorized_keys).expanduser() if args.authorized_keys else None,
    )
    async with Sandbox(options) as sb:
        info = sb.info.as_json()
        if args.json:
            print_json(info)
        else:
            print("ettui sandbox running (Ctrl+C to stop)")
            for key, value in info.items():
                print(f"  {key:21} {value}")
            print(f"  curl: curl -s --data-urlencode qf=xml --data-urlencode xml@request.xml {info['xml_api_url']}")
            print(f"  sftp: sftp -P {info['sftp_port']} {info['sftp_username']}@{info['sftp_host']}")
            cert = Path(info["drop_dir"]).parent / "ftps_cert.pem"
            print(f"  ftps: curl --ssl-reqd --cacert {cert} --user {info['ftps_username']}:PASSWORD "
                  f"ftp://{info['sftp_host']}:{info['ftps_port']}/")
        sys.stdout.flush()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        import signal

        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
        await stop.wait()
    return ExitCode.OK


async def cmd_watch(args: argparse.Namespace) -> int:
    from ettui.cli_watch import cmd_watch as run_watch

    return await run_watch(args)


async def cmd_demo(args: argparse.Namespace) -> int:
    from ettui.demo import run_demo

    _load_config(args)  # the demo runs on its own sandbox, but refuses a config `config check` refuses
    return await run_demo(args)


def cmd_tui(args: argparse.Namespace) -> int:
    from ettui.ui.app import run_app

    return run_app(_load_config(args), args.profile, readonly=args.readonly)


# -- parser ---------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    def options(default: Any) -> argparse.ArgumentParser:
        # Subcommands repeat the global options with SUPPRESS so that
        # `ettui --config X jobs` is not overwritten by the subparser's default.
        common = argparse.ArgumentParser(add_help=False)
        common.add_argument("--config", metavar="PATH", default=default,
                            help="config file (default: $ETTUI_CONFIG or the platform config dir)")
        common.add_argument("--profile", "-P", metavar="NAME", default=default,
                            help="profile to use (default: the config's default_profile, else sandbox)")
        return common

    common = options(argparse.SUPPRESS)
    parser = argparse.ArgumentParser(
        prog="ettui",
        description="Submit ExactTarget batch file exports, watch their status, fetch their output. "
        "With no command: the terminal UI.",
        parents=[options(None)],
    )
    parser.add_argument("--version", action="version", version=f"ettui {__version__}")
    parser.add_argument("--readonly", action="store_true", help="UI: disable submit and download")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("config", parents=[common], help="show where files live, or validate the config")
    p.add_argument("action", choices=["path", "check"])
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("calls", parents=[common], help="list the calls of the profile's API with their parameters")
    p.add_argument("--json", action="store_true")
    p.add_argument("--api", choices=DIALECTS, help="override the profile's dialect")

    p = sub.add_parser("submit", parents=[common], help="validate and submit a request; prints the batch ID")
    p.add_argument("call", help="call id from `ettui calls` (e.g. C1, C3, tracking-extract)")
    p.add_argument("--param", "-p", action="append", metavar="NAME=VALUE", help="a parameter (repeat)")
    p.add_argument("--json", action="store_true")
    p.add_argument("--api", choices=DIALECTS, help="override the profile's dialect")

    p = sub.add_parser("status", parents=[common], help="show jobs, polling the live ones")
    p.add_argument("batch_id", nargs="*")
    p.add_argument("--watch", "-w", action="store_true", help="refresh until every job is Complete or Error")
    p.add_argument("--timeout", type=float, default=None, help="with --watch: give up after this many seconds")
    p.add_argument("--json", action="store_true")
    p.add_argument("--api", choices=DIALECTS, help="override the profile's dialect")

    p = sub.add_parser("jobs", parents=[common], help="list the job history; dismiss or resubmit an Unconfirmed job")
    p.add_argument("action", nargs="?", choices=["list", "dismiss", "resubmit"], default="list")
    p.add_argument("job_id", nargs="?", metavar="ID", help="with dismiss / resubmit: the job's ID")
    p.add_argument("--api", choices=DIALECTS, help="override the profile's dialect")
    p.add_argument("--status", help="comma list: Unconfirmed,Scheduled,Processing,Complete,Error,Unknown,Dismissed")
    p.add_argument("--since", metavar="AGE", help="only jobs submitted within AGE (30m, 6h, 2d, 1w)")
    p.add_argument("--all", action="store_true", help="every profile's jobs (default: the profile's own)")
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("store", parents=[common], help="the job store: migrate it, or copy a local history into the shared one")
    p.add_argument("action", choices=["migrate", "import-sqlite"])
    p.add_argument("path", nargs="?", metavar="PATH", help="with import-sqlite: the jobs.sqlite3 to copy (default: this user's)")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("drop", parents=[common], help="the remote drop")
    p.add_argument("action", choices=["ls"])
    p.add_argument("--json", action="store_true")
    p.add_argument("--api", choices=DIALECTS, help="override the profile's dialect")
    p.add_argument("--accept-host-key", metavar="SHA256:...", help="trust this host key fingerprint if unknown")
    p.add_argument("--accept-cert", metavar="SHA256:...", help="trust this FTPS certificate fingerprint if unknown")

    p = sub.add_parser("fetch", parents=[common], help="download, verify and extract a job's output")
    p.add_argument("target", metavar="BATCH_ID|FILE")
    p.add_argument("--dest", metavar="DIR")
    p.add_argument("--no-extract", action="store_true")
    p.add_argument("--json", action="store_true")
    p.add_argument("--accept-host-key", metavar="SHA256:...", help="trust this host key fingerprint if unknown")
    p.add_argument("--accept-cert", metavar="SHA256:...", help="trust this FTPS certificate fingerprint if unknown")
    p.add_argument("--api", choices=DIALECTS, help="override the profile's dialect")
    p.add_argument(
        "--retries", type=_non_negative_int, default=5, metavar="N",
        help="reconnect and resume at most N times in a row without progress (default 5)",
    )

    from ettui.cli_watch import add_parser as add_watch_parser

    add_watch_parser(sub)

    p = sub.add_parser("preview", parents=[common], help="show the records of an output XML file or zip")
    p.add_argument("file")
    p.add_argument("--limit", type=int, default=20)
    p.add_argument("--format", choices=["table", "csv", "jsonl"], default="table")
    p.add_argument("--member", metavar="NAME", help="for a zip: which file inside it (default: the first XML or CSV)")

    p = sub.add_parser("sandbox", parents=[common], help="run the embedded sandbox in the foreground")
    p.add_argument("--json", action="store_true", help="print one JSON line with the connection details")
    p.add_argument("--time-scale", type=float, default=None, help="sandbox seconds per real second")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--authorized-keys", metavar="FILE", help="public keys allowed to log in to the SFTP server")
    p.add_argument("--root", metavar="DIR", help="where the drop and host key live (default: state dir)")
    p.add_argument("--http-port", type=int, default=0)
    p.add_argument("--sftp-port", type=int, default=0)

    p = sub.add_parser("demo", parents=[common], help="the whole job headless on the sandbox: submit, poll, fetch, preview")
    p.add_argument("--api", choices=DIALECTS, default="xml")
    p.add_argument("--json", action="store_true")
    p.add_argument("--root", metavar="DIR", help="sandbox and downloads folder (default: a temporary one)")
    return parser


COMMANDS: dict[str, Callable[[argparse.Namespace], Any]] = {
    "config": cmd_config,
    "calls": cmd_calls,
    "submit": cmd_submit,
    "status": cmd_status,
    "jobs": cmd_jobs,
    "store": cmd_store,
    "drop": cmd_drop,
    "fetch": cmd_fetch,
    "watch": cmd_watch,
    "preview": cmd_preview,
    "sandbox": cmd_sandbox,
    "demo": cmd_demo,
}


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return value


class SentenceFormatter(logging.Formatter):
    """``ettui: <sentence>``; a traceback never reaches the terminal (ETTUI_DEBUG shows everything)."""

    def __init__(self) -> None:
        super().__init__("ettui: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        record = logging.makeLogRecord({**record.__dict__, "exc_info": None, "exc_text": None, "stack_info": None})
        # A record may quote a remote value (a batch ID, a reply): one clean line.
        return clean(super().format(record))


class CleanFormatter(logging.Formatter):
    """``ETTUI_DEBUG``'s full records, tracebacks too, with every control made visible."""

    def format(self, record: logging.LogRecord) -> str:
        return clean(super().format(record), multiline=True)


def _setup_logging() -> None:
    """Only ettui's own notices reach stderr, as sentences.

    Without any handler Python prints library warnings through its last-resort
    handler: a server dying mid-download made asyncio print "socket.send()
    raised exception." up to 11 times before ettui's one sentence. Library
    loggers (asyncio, asyncssh, httpx, zeep) therefore go nowhere unless
    ``ETTUI_DEBUG`` is set, which shows everything with its logger's name.
    """
    root = logging.getLogger()
    if os.environ.get("ETTUI_DEBUG"):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(CleanFormatter("%(name)s: %(message)s"))
        logging.basicConfig(level=logging.DEBUG, handlers=[handler])
        return
    if not root.handlers:
        root.addHandler(logging.NullHandler())  # keeps the last-resort handler quiet
    ours = logging.getLogger("ettui")
    if not any(isinstance(h.formatter, SentenceFormatter) for h in ours.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(SentenceFormatter())
        handler.setLevel(logging.WARNING)
        ours.addHandler(handler)
    # "ettui" keeps propagating: the root has only a NullHandler here, and an
    # embedding program's (or a test's) own handlers still see the records.


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``ettui`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    _setup_logging()
    handler = COMMANDS.get(args.command, cmd_tui) if args.command else cmd_tui
    try:
        result = handler(args)
        if asyncio.iscoroutine(result):
            result = asyncio.run(result)
        return int(result or 0)
    except EttuiError as exc:
        if os.environ.get("ETTUI_DEBUG"):
            raise
        # One line: an LF or CR in a remote value must not fake a line of its own. A config
        # error lists every problem of the operator's own file, one per line.
        print(f"ettui: {clean(exc.message, multiline=isinstance(exc, ConfigError))}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("ettui: interrupted.", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return ExitCode.OK
    except Exception as exc:
        # A damaged zip, an unusable job store, a failed rename: one sentence, not a traceback.
        known = library_error(exc)
        if known is None or os.environ.get("ETTUI_DEBUG"):
            raise
        print(f"ettui: {clean(known.message)}", file=sys.stderr)
        return known.exit_code


if __name__ == "__main__":
    raise SystemExit(main())
