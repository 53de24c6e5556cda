"""Start the TUI: the terminal check, the one-time garbage-collector freeze, the exit code."""

from __future__ import annotations

import gc
import sys

from ettui.config import Config

NO_TERMINAL_EXIT = 2
"""Exit code when there is no terminal to draw on (a usage error)."""


def run_app(config: Config, profile_name: str | None = None, readonly: bool = False) -> int:
    """Run the TUI until the user quits; returns the process exit code.

    Without a terminal (output to a file or a pipe, no tty on stdin) it says so
    in one sentence instead of writing escape codes and waiting forever.
    """
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        print(
            "ettui needs a terminal to draw the TUI (stdin and stdout are not one); "
            "run it in a terminal, or use a headless command such as `ettui status` or `ettui watch`.",
            file=sys.stderr,
        )
        return NO_TERMINAL_EXIT
    from ettui.ui.app import EttuiApp

    app = EttuiApp(config, profile_name, readonly=readonly)
    # Once, before the first frame: everything imported and built at start (Textual, the
    # parsers, the app's widgets) is long-lived, and frozen, full collections stop walking
    # it, so they no longer land on keystrokes as 50 ms pauses while the poller churns.
    gc.freeze()
    result = app.run()
    return int(result or 0) if app.return_code is None else app.return_code
