"""``ettui watch``: the watcher (``ettui.watch``) as a headless command, fit for cron and systemd.

Output: every event is one line. Without ``--json``, ordinary events go to
stdout and problems (a failed fetch or hook, a file about to expire) to stderr,
so ``ettui watch --exit-when-idle >/dev/null`` under cron mails only problems.
With ``--json``, every event is a JSON line on stdout and problems are also one
plain line on stderr. Under systemd (``JOURNAL_STREAM`` names our stream) each
line starts with its syslog priority (``<3>`` error, ``<4>`` warning, ``<6>``
info), which journald files as the entry's priority; colour only on a
terminal, never with ``NO_COLOR``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
from typing import TextIO

from ettui import config as config_mod
from ettui.safetext import clean
from ettui.watch import Watcher, WatchEvent

_PRIORITY = {"error": 3, "warning": 4, "info": 6}
_COLOUR = {"error": "\x1b[1;31m", "warning": "\x1b[1;33m"}


def _journal_stream(stream: TextIO) -> bool:
    """True when ``stream`` is the journald stream systemd connected us to (``JOURNAL_STREAM=dev:inode``)."""
    wanted = os.environ.get("JOURNAL_STREAM", "")
    dev, _, inode = wanted.partition(":")
    try:
        st = os.fstat(stream.fileno())
        return bool(wanted) and (st.st_dev, st.st_ino) == (int(dev), int(inode))
    except (OSError, ValueError, AttributeError):
        return False


class EventPrinter:
    """Writes ``WatchEvent`` lines as described in the module docstring."""

    def __init__(self, *, as_json: bool, out: TextIO | None = None, err: TextIO | None = None) -> None:
        self.as_json = as_json
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self._journal = {id(s): _journal_stream(s) for s in (self.out, self.err)}
        no_colour = bool(os.environ.get("NO_COLOR"))
        self._colour = {id(s): not no_colour and s.isatty() and not self._journal[id(s)] for s in (self.out, self.err)}

    def __call__(self, event: WatchEvent) -> None:
        problem = event.level != "info"
        if self.as_json:
            print(json.dumps(event.as_json(), separators=(",", ":")), file=self.out, flush=True)
        if problem or not self.as_json:
            self._line(self.err if problem else self.out, event)

    def _line(self, stream: TextIO, event: WatchEvent) -> None:
        # The watcher cleans remote values, but a profile name (a shared team
        # config) reaches here raw, in the line and in messages that quote it.
        text = clean(f"{event.profile} {event.kind}: {event.message}")
        if self._journal[id(stream)]:
            text = f"<{_PRIORITY[event.level]}>{text}"
        elif self._colour[id(stream)] and event.level in _COLOUR:
            text = f"{_COLOUR[event.level]}{text}\x1b[0m"
        if not self._journal[id(stream)]:
            text = f"{event.at:%Y-%m-%d %H:%M:%S} {text}"
        print(text, file=stream, flush=True)


async def cmd_watch(args: argparse.Namespace) -> int:
    """Run the watcher until idle (``--exit-when-idle``) or until SIGTERM / SIGINT, which exit 0."""
    from pathlib import Path

    cfg = config_mod.load(Path(args.config).expanduser() if args.config else None)
    names = args.watch_profiles or ([args.profile] if isinstance(args.profile, str) and args.profile else None)
    watcher = Watcher(
        cfg,
        names,
        emit=EventPrinter(as_json=args.json),
        exit_when_idle=args.exit_when_idle,
        rerun_hooks=args.rerun_hooks,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    return await watcher.run(stop)


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The ``watch`` subcommand; ``--profile`` repeats here (the global option takes one)."""
    config_only = argparse.ArgumentParser(add_help=False)
    config_only.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS, help="config file")
    p = sub.add_parser(
        "watch",
        parents=[config_only],
        help="fetch every output that lands for profiles with auto_fetch, once, and run on_fetched",
        description="Poll the live jobs of the profiles, fetch (download, verify, extract) every output that lands "
        "for profiles with auto_fetch = true, run their on_fetched hook, and warn of files about to expire unfetched. "
        "Runs until SIGTERM (exit 0) unless --exit-when-idle.",
    )
    p.add_argument("--profile", "-P", dest="watch_profiles", action="append", metavar="NAME",
                   help="a profile to watch (repeat; default: every profile with auto_fetch = true)")
    p.add_argument("--exit-when-idle", action="store_true",
                   help="exit when no job is live and nothing is left to fetch: 0, or 6 if a file is left unfetched near expiry")
    p.add_argument("--json", action="store_true", help="one JSON line per event on stdout")
    p.add_argument("--rerun-hooks", action="store_true", help="run on_fetched again for files whose hook failed")
