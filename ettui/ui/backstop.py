"""The TUI's backstop: an unexpected exception in a worker is reported, never fatal.

Textual ends the whole app when a worker raises (``WorkerFailed`` reaches
``App._handle_exception``). For an operator watching exports that is the worst
outcome: the board, the countdowns and running downloads all go. The app
routes a failed worker here instead: the traceback is appended to the error
log under the state dir (``ettui config path`` names it) for a bug report,
and the user sees one sentence, once per distinct failure.
"""

from __future__ import annotations

import os
import traceback
from datetime import UTC, datetime
from pathlib import Path

from ettui.errors import EttuiError, UnexpectedError, library_error
from ettui.safetext import clean


class Backstop:
    """Turns a worker's exception into one :class:`EttuiError` and a logged traceback."""

    def __init__(self, log_path: Path | None) -> None:
        self.log_path = log_path
        self._seen: set[tuple[str, str]] = set()

    def catch(self, error: BaseException, where: str = "") -> EttuiError | None:
        """The error to show for ``error``, or None when the same failure was shown already."""
        if isinstance(error, EttuiError):
            return error  # a user-caused failure some worker did not handle: its own sentence
        known = library_error(error)  # a damaged zip, an unusable job store, a failed rename
        if known is not None:
            return known
        key = (type(error).__name__, str(error))
        if key in self._seen:
            return None
        self._seen.add(key)
        logged = self._log(error, where)
        task = f" while {where}" if where else ""
        what = str(error)
        what = f"{type(error).__name__}: {what[:160]}" if what else type(error).__name__
        details = f"; the details are in {logged}" if logged else ""
        return UnexpectedError(f"Something went wrong{task} ({what}); ettui keeps running{details}.")

    def _log(self, error: BaseException, where: str) -> Path | None:
        """Append the traceback; None when the log cannot be written (that must not fail too)."""
        if self.log_path is None:
            return None
        try:
            self.log_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(self.log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o600)
            with os.fdopen(fd, "a", encoding="utf-8", errors="backslashreplace") as handle:
                stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
                # Exception texts quote remote values: the log is read with cat/tail in a terminal.
                handle.write(clean(f"--- {stamp} {where or 'worker'}") + "\n")
                handle.write(clean("".join(traceback.format_exception(type(error), error, error.__traceback__)), multiline=True))
        except OSError:
            return None
        return self.log_path
