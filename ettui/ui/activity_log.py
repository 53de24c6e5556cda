"""The activity log: every transition, kept in memory for the screen and appended to disk.

Writes go through a queue to one daemon thread, so a slow disk never stalls
the event loop and lines keep their order.
"""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from ettui.safetext import clean

KEEP_IN_MEMORY = 1000
"""Lines the activity screen can show."""


class ActivityLog:
    """Append-only log of what happened, timestamped with the session's clock."""

    def __init__(self, path: Path | None, now: Callable[[], datetime]) -> None:
        self.path = path
        self.now = now
        self.lines: deque[str] = deque(maxlen=KEEP_IN_MEMORY)
        self._queue: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        if path is not None:
            self._thread = threading.Thread(target=self._writer, name="ettui-activity", daemon=True)
            self._thread.start()

    def record(self, text: str) -> str:
        """Add one line (``2026-01-01 10:00:00  text``) and return it.

        ``text`` quotes remote values (file names, error texts), so the line is
        cleaned here: safe on screen and for ``tail -f`` of the file, one line each.
        """
        line = f"{self.now():%Y-%m-%d %H:%M:%S}  {clean(text)}"
        self.lines.append(line)
        if self._thread is not None:
            self._queue.put(line)
        return line

    def close(self) -> None:
        """Flush pending lines and stop the writer."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=2)
            self._thread = None

    def _writer(self) -> None:
        assert self.path is not None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as handle:
                while (line := self._queue.get()) is not None:
                    handle.write(line + "\n")
                    handle.flush()
        except OSError:
            # The log is a convenience: losing it must never take the app down.
            while self._queue.get() is not None:
                pass
