"""The headless commands. Same services as the UI (``Session``), never textual.

Exit codes (``ettui.errors.ExitCode``): 0 ok, 1 failure, 2 usage, 3 validation,
4 service error, 5 connection error, 6 drop/file error, 7 configuration.
Every user-caused failure prints one sentence on stderr, never a traceback
(set ``ETTUI_DEBUG=1`` to see one).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
from collections.abc import Awaitable, Callable, Iterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from ettui import __version__, config as config_mod, paths
from ettui.errors import EttuiError, ExitCode, HostKeyUnknown, ServerIdentityUnknown
from ettui.cli_output import ProgressBar, drop_json, job_json, jobs_table, print_json
from ettui.model import SECONDS_PER_UNIT, BatchRequest, JobStatus, format_duration


class UsageError(EttuiError):
    title = "Usage"
    exit_code = ExitCode.USAGE


def parse_age(text: str) -> timedelta:
    """``30m``, ``6h``, ``2d``, ``1w`` -> a timedelta."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*", text)
    if not m:
        raise UsageError(f"--since takes an age like 30m, 6h, 2d or 1w, not {text!r}.")
    n, unit = float(m.group(1)), m.group(2)
    return timedelta(seconds=n * SECONDS_PER_UNIT[unit])


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
            "known_hosts": str(paths.known_hosts()),
            "sandbox": str(paths.sandbox_dir()),
            "cache": str(paths.cache_dir()),
            "downloads": str(paths.downloads_dir()),
        }
        if args.json:
            print_json(rows)
        else:
            for key, value in rows.items():
                print(f"{key:13} {value}")
        return ExitCode.OK
    cfg = _load_config(args)
    warning = config_mod.check_permissions(cfg.path) if cfg.exists else None
    if args.json:
        print_json({"path": str(cfg.path), "exists": cfg.exists, "profiles": sorted(cfg.profiles), "default_profile": cfg.default_profile, "warning": warning})
    else:
        where = str(cfg.path) if cfg.exists else f"{cfg.path} (absent: built-in sandbox profile only)"
        print(f"config ok: {where}")
        print(f"profiles: {', '.join(sorted(cfg.profiles))} (default {cfg.default_profile})")
        if warning:
            print(f"warning: {warning}", file=sys.stderr)
    return ExitCode.OK


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
            print(f"{c.id:6} {c.name}")
            for p in c.params:
                need = "required" if p.required else "optional"
                print(f"         --param {p.name}=<{p.kind.value}>  ({need}) {p.help}")
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


async def cmd_submit(args: argparse.Namespace) -> int:
    request = BatchRequest(args.call, _parse_params(args.param or []))

    async def body(session: Any) -> int:
        job = await session.submit(request)
        if args.json:
            print_json(job_json(job))
        else:
            print(job.batch_id)
        return ExitCode.OK

    return await _with_session(args, body, start_poller=False)


async def cmd_status(args: argparse.Namespace) -> int:
    async def body(session: Any) -> int:
        if args.batch_id:
            jobs = []
            for batch_id in args.batch_id:
                job = session.find(batch_id)
                if job is None:
                    raise UsageError(f"No job with batch ID {batch_id} in the job store for profile {session.profile.name!r}; see `ettui jobs`.")
                jobs.append(job)
        else:
            jobs = session.jobs(status=[JobStatus.SCHEDULED, JobStatus.PROCESSING, JobStatus.UNKNOWN]) or session.jobs(limit=20)
        ids = [j.id for j in jobs]
        live = [j.id for j in jobs if not j.terminal]
        if live:
            if args.watch:
                last: dict[int, str] = {}

                def show(_: Any = None) -> None:
                    if args.json:
                        return
                    for i in ids:
                        j = session.store.get(i)
                        if j and last.get(i) != j.status_raw:
                            last[i] = j.status_raw
                            print(f"{session.clock.now():%H:%M:%S}  {j.batch_id}  {j.call}  {j.status_raw}" + (f"  {j.file_name}" if j.file_name else ""), flush=True)

                unsubscribe = session.subscribe(show)
                try:
                    show()
                    await session.wait_until_terminal(live, timeout=args.timeout)
                except asyncio.TimeoutError:
                    raise EttuiError(f"Jobs still not finished after {args.timeout:.0f} s; run `ettui status --watch` again later.") from None
                finally:
                    unsubscribe()
            else:
                await session.refresh(live)
        jobs = [session.job(i) for i in ids]
        if args.json:
            print_json([job_json(j) for j in jobs])
        elif not args.watch or not live:
            print(jobs_table(jobs, session.clock.now()))
        return ExitCode.OK

    return await _with_session(args, body, start_poller=args.watch)


def cmd_jobs(args: argparse.Namespace) -> int:
    """The history straight from the job store: no endpoint, secret or sandbox is touched."""
    from ettui.jobs.store import JobStore
    from ettui.model import utcnow

    cfg = _load_config(args)
    profile = cfg.with_dialect(args.profile, args.api).name if args.api else cfg.profile(args.profile).name
    statuses = None
    if args.status:
        statuses = []
        for raw in args.status.split(","):
            st = JobStatus.parse(raw)
            if st is JobStatus.UNKNOWN and raw.strip().lower() != "unknown":
                raise UsageError(f"--status takes Scheduled, Processing, Complete, Error or Unknown, not {raw!r}.")
            statuses.append(st)
    now = utcnow()
    since = now - parse_age(args.since) if args.since else None
    with JobStore(paths.job_store()) as store:
        jobs = store.list(status=statuses, profile=None if args.all else profile, since=since, limit=args.limit)
    if args.json:
        print_json([job_json(j) for j in jobs])
    else:
        print(jobs_table(jobs, now))
    return ExitCode.OK


async def cmd_drop(args: argparse.Namespace) -> int:
    async def body(session: Any) -> int:
        files = await _retry_host_key(session, args, session.drop_files)
        now = session.clock.now()
        if args.json:
            print_json([drop_json(f, now) for f in files])
            return ExitCode.OK
        rows = [("NAME", "SIZE", "AGE", "TIME LEFT", "BATCH")]
        for f in files:
            left = f.expiry.time_left(now)
            left_text = "EXPIRED" if left.total_seconds() <= 0 else format_duration(left)
            rows.append((f.path + ("" if f.listed else "  (not in drop)"), f"{f.size:,}", format_duration(now - f.mtime), left_text, f.batch_id or "-"))
        widths = [max(len(r[i]) for r in rows) for i in range(5)]
        print("\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows))
        return ExitCode.OK

    return await _with_session(args, body, start_poller=False)


async def _retry_host_key(session: Any, args: argparse.Namespace, op: Callable[[], Awaitable[Any]]) -> Any:
    """Run ``op``; on an unknown host key or certificate, accept it only when ``--accept-host-key`` / ``--accept-cert`` matches."""
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


async def cmd_fetch(args: argparse.Namespace) -> int:
    async def body(session: Any) -> int:
        dest = Path(args.dest).expanduser() if args.dest else None
        show_bar = sys.stderr.isatty() and not args.json
        bar = ProgressBar() if show_bar else None
        try:
            outcome = await _retry_host_key(
                session,
                args,
                lambda: session.fetch(args.target, dest=dest, extract=not args.no_extract, progress=bar.update if bar else None),
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
            print(f"downloaded {outcome.zip_path} ({outcome.size:,} bytes, sha256 {outcome.sha256})")
            for p in outcome.files:
                print(f"extracted  {p}")
        return ExitCode.OK

    return await _with_session(args, body, start_poller=False)


def cmd_preview(args: argparse.Namespace) -> int:
    from ettui.output import open_output
    from ettui.output.export import format_table

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
    if args.format == "jsonl":
        for row in rows:
            sys.stdout.write(json.dumps(row, ensure_ascii=False) + "\n")
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
    writer = csv.DictWriter(sys.stdout, fieldnames=reader.columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return ExitCode.OK


async def cmd_sandbox(args: argparse.Namespace) -> int:
    from ettui.sandbox import Sandbox
    from ettui.wiring import sandbox_options

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
            print(f"  ftps: curl --ssl-reqd --cacert {Path(info['drop_dir']).parent / 'ftps_cert.pem'} --user {info['ftps_username']}:PASSWORD ftp://{info['sftp_host']}:{info['ftps_port']}/")
        sys.stdout.flush()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        import signal

        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, stop.set)
            except (NotImplementedError, RuntimeError):
                pass
        await stop.wait()
    return ExitCode.OK


async def cmd_demo(args: argparse.Namespace) -> int:
    from ettui.demo import run_demo

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
        common.add_argument("--config", metavar="PATH", default=default, help="config file (default: $ETTUI_CONFIG or the platform config dir)")
        common.add_argument("--profile", "-P", metavar="NAME", default=default, help="profile to use (default: the config's default_profile, else sandbox)")
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
    p.add_argument("--api", choices=["xml", "soap"], help="override the profile's dialect")

    p = sub.add_parser("submit", parents=[common], help="validate and submit a request; prints the batch ID")
    p.add_argument("call", help="call id from `ettui calls` (e.g. C1, C3, tracking-extract)")
    p.add_argument("--param", "-p", action="append", metavar="NAME=VALUE", help="a parameter (repeat)")
    p.add_argument("--json", action="store_true")
    p.add_argument("--api", choices=["xml", "soap"], help="override the profile's dialect")

    p = sub.add_parser("status", parents=[common], help="show jobs, polling the live ones")
    p.add_argument("batch_id", nargs="*")
    p.add_argument("--watch", "-w", action="store_true", help="refresh until every job is Complete or Error")
    p.add_argument("--timeout", type=float, default=None, help="with --watch: give up after this many seconds")
    p.add_argument("--json", action="store_true")
    p.add_argument("--api", choices=["xml", "soap"], help="override the profile's dialect")

    p = sub.add_parser("jobs", parents=[common], help="list the job history")
    p.add_argument("--api", choices=["xml", "soap"], help="override the profile's dialect")
    p.add_argument("--status", help="comma list: Scheduled,Processing,Complete,Error,Unknown")
    p.add_argument("--since", metavar="AGE", help="only jobs submitted within AGE (30m, 6h, 2d, 1w)")
    p.add_argument("--all", action="store_true", help="every profile's jobs (default: the profile's own)")
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("drop", parents=[common], help="the remote drop")
    p.add_argument("action", choices=["ls"])
    p.add_argument("--json", action="store_true")
    p.add_argument("--api", choices=["xml", "soap"], help="override the profile's dialect")
    p.add_argument("--accept-host-key", metavar="SHA256:...", help="trust this host key fingerprint if unknown")
    p.add_argument("--accept-cert", metavar="SHA256:...", help="trust this FTPS certificate fingerprint if unknown")

    p = sub.add_parser("fetch", parents=[common], help="download, verify and extract a job's output")
    p.add_argument("target", metavar="BATCH_ID|FILE")
    p.add_argument("--dest", metavar="DIR")
    p.add_argument("--no-extract", action="store_true")
    p.add_argument("--json", action="store_true")
    p.add_argument("--accept-host-key", metavar="SHA256:...", help="trust this host key fingerprint if unknown")
    p.add_argument("--accept-cert", metavar="SHA256:...", help="trust this FTPS certificate fingerprint if unknown")
    p.add_argument("--api", choices=["xml", "soap"], help="override the profile's dialect")

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
    p.add_argument("--api", choices=["xml", "soap"], default="xml")
    p.add_argument("--json", action="store_true")
    p.add_argument("--root", metavar="DIR", help="sandbox and downloads folder (default: a temporary one)")
    return parser


COMMANDS: dict[str, Callable[[argparse.Namespace], Any]] = {
    "config": cmd_config,
    "calls": cmd_calls,
    "submit": cmd_submit,
    "status": cmd_status,
    "jobs": cmd_jobs,
    "drop": cmd_drop,
    "fetch": cmd_fetch,
    "preview": cmd_preview,
    "sandbox": cmd_sandbox,
    "demo": cmd_demo,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``ettui`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = COMMANDS.get(args.command, cmd_tui) if args.command else cmd_tui
    try:
        result = handler(args)
        if asyncio.iscoroutine(result):
            result = asyncio.run(result)
        return int(result or 0)
    except EttuiError as exc:
        if os.environ.get("ETTUI_DEBUG"):
            raise
        print(f"ettui: {exc.message}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("ettui: interrupted.", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return ExitCode.OK
    except OSError as exc:
        if os.environ.get("ETTUI_DEBUG"):
            raise
        where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
        print(f"ettui: {exc.strerror or exc}{where}; check the path and permissions.", file=sys.stderr)
        return ExitCode.FAILURE


if __name__ == "__main__":
    raise SystemExit(main())
