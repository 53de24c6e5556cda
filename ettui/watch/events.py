"""What the watcher tells its front end: one ``WatchEvent`` per happening."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from ettui import paths

EventKind = Literal[
    "watching", "submitted", "status", "landed", "fetched", "elsewhere", "failed", "expiring", "expired", "hook", "idle",
    "stopped",
]
Level = Literal["info", "warning", "error"]


@dataclass(frozen=True)
class WatchEvent:
    """One thing the watcher saw or did; ``message`` is one display-safe sentence."""

    kind: EventKind
    profile: str
    message: str
    at: datetime
    level: Level = "info"
    batch_id: str | None = None
    file: str | None = None
    """The remote file name, when the event is about one."""
    details: dict[str, Any] = field(default_factory=dict)
    """Kind-specific values for ``--json``: status, size, sha256, paths, exit status, seconds left."""

    def as_json(self) -> dict[str, Any]:
        """The ``--json`` line: raw values (JSON escapes controls itself)."""
        return {
            "event": self.kind,
            "at": self.at.isoformat(),
            "level": self.level,
            "profile": self.profile,
            "batch_id": self.batch_id,
            "file": self.file,
            "message": self.message,
            **self.details,
        }


Emit = Callable[[WatchEvent], None]


def append_activity(event: WatchEvent) -> None:
    """The activity log the TUI shows, one line per event (a convenience: never fatal)."""
    try:
        paths.ensure_private_dir(paths.activity_log().parent)
        with open(paths.activity_log(), "a", encoding="utf-8") as handle:
            handle.write(f"{event.at:%Y-%m-%d %H:%M:%S}  watch {event.profile}: {event.message}\n")
    except OSError:
        pass
