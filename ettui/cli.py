"""The headless commands. Same services as the UI (``Session``), never textual.

The API and job-history commands are in ``cli_jobs``, the drop and file ones
in ``cli_drop``, what they share in ``cli_common``; this module keeps the local
ones (``config``, ``sandbox``, ``demo``, the TUI), the parser and ``main``.

Exit codes (``ettui.errors.ExitCode``, the README's table): 0 ok, 1 failure,
2 usage, 3 validation, 4 service error, 5 connection error (any protocol),
6 drop/file error, 7 configuration, 8 output error. Every user-caused failure
prints one sentence on stderr, never a traceback (set ``ETTUI_DEBUG=1`` to see
one); with ``--json`` that sentence is one JSON object on stderr.

Everything printed for a human goes through :func:`ettui.safetext.clean`
(remote names, reply values, error sentences that quote them); ``--json`` is
exact and escaped by JSON itself; CSV/JSONL from ``preview`` are byte-exact to
a file or pipe and cleaned only when stdout is a terminal.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import contextlib
import json
import logging
import os
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from ettui import __version__, paths
from ettui import config as config_mod
from ettui.cli_common import CleanFormatter, SentenceFormatter, load_config
from ettui.cli_drop import cmd_drop, cmd_fetch, cmd_preview
from ettui.cli_jobs import cmd_calls, cmd_jobs, cmd_status, cmd_store, cmd_submit
from ettui.cli_output import print_json
from ettui.config_rules import RULES
from ettui.errors import ConfigError, EttuiError, ExitCode, Interrupted, UsageError, library_error
from ettui.model import DIALECTS
from ettui.safetext import clean

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
        load_config(args),
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

    load_config(args)  # the demo runs on its own sandbox, but refuses a config `config check` refuses
    return await run_demo(args)


def cmd_tui(args: argparse.Namespace) -> int:
    from ettui.ui.run import run_app

    return run_app(load_config(args), args.profile, readonly=args.readonly)


# -- parser ---------------------------------------------------------------------


class _ArgumentsRefused(Exception):
    """argparse refused the command line; ``parser`` is the (sub)command whose usage applies."""

    def __init__(self, parser: argparse.ArgumentParser, message: str) -> None:
        super().__init__(message)
        self.parser = parser


class _Parser(argparse.ArgumentParser):
    """Raises instead of exiting, so ``main`` can say it as JSON under ``--json`` (subcommands inherit the class)."""

    def error(self, message: str) -> NoReturn:
        raise _ArgumentsRefused(self, message)


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
    parser: argparse.ArgumentParser = _Parser(  # its subcommands are _Parser too (argparse uses type(self))
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


def say_error(error: EttuiError, *, as_json: bool) -> int:
    """Tell ``error`` on stderr and return its exit code.

    Plain: ``ettui: <sentence>``, one line (an LF or CR in a remote value must
    not fake a line of its own; a config error lists every problem of the
    operator's own file, one per line). With ``--json``: one JSON object,
    ``{"error", "title", "exit_code"}``, values exact and escaped by JSON, so
    stdout holds only data.
    """
    if as_json:
        document = {"error": error.message, "title": error.title, "exit_code": error.exit_code}
        print(json.dumps(document, separators=(",", ":"), ensure_ascii=True), file=sys.stderr, flush=True)
    else:
        print(f"ettui: {clean(error.message, multiline=isinstance(error, ConfigError))}", file=sys.stderr, flush=True)
    return error.exit_code


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``ettui`` console script."""
    words = list(sys.argv[1:] if argv is None else argv)
    wants_json = "--json" in words
    parser = build_parser()
    try:
        args = parser.parse_args(words)
    except _ArgumentsRefused as refused:
        if wants_json:
            return say_error(UsageError(f"{refused}; see `{refused.parser.prog} --help`."), as_json=True)
        refused.parser.print_usage(sys.stderr)  # argparse's own way, for a human
        print(f"{refused.parser.prog}: error: {refused}", file=sys.stderr)
        return ExitCode.USAGE
    _setup_logging()
    as_json = bool(getattr(args, "json", False))
    handler = COMMANDS.get(args.command, cmd_tui) if args.command else cmd_tui
    try:
        result = handler(args)
        if asyncio.iscoroutine(result):
            result = asyncio.run(result)
        return int(result or 0)
    except EttuiError as exc:
        if os.environ.get("ETTUI_DEBUG"):
            raise
        return say_error(exc, as_json=as_json)
    except KeyboardInterrupt:
        return say_error(Interrupted("interrupted."), as_json=as_json)
    except BrokenPipeError:
        return ExitCode.OK
    except Exception as exc:
        # A damaged zip, an unusable job store, a failed rename: one sentence, not a traceback.
        known = library_error(exc)
        if known is None or os.environ.get("ETTUI_DEBUG"):
            raise
        return say_error(known, as_json=as_json)

def run() -> NoReturn:
    """The ``ettui`` console script and ``python -m ettui``: :func:`main`, then exit without the interpreter's teardown.

    When ``main`` returns, every file it wrote is fsynced, renamed and closed,
    and so are the job store and the connections. What is left is CPython
    freeing its modules and objects one by one: 60-90 ms of a 1 KiB ``ettui
    fetch`` here, a quarter of the command. So the exit handlers run (logging
    flushes its handlers there), the standard streams are flushed, and the
    process ends. With another thread still alive the exit is the usual one,
    which waits for it.
    """
    code = main()
    if threading.active_count() > 1:
        raise SystemExit(code)
    run_exit_handlers = getattr(atexit, "_run_exitfuncs", None)
    if run_exit_handlers is None:  # not CPython: its own exit
        raise SystemExit(code)
    run_exit_handlers()
    # A reader that went away (`ettui jobs | head`) is no error, as in main.
    with contextlib.suppress(OSError, ValueError):
        sys.stdout.flush()
    with contextlib.suppress(OSError, ValueError):
        sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    run()

