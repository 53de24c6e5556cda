"""What the TUI remembers between runs, in one small JSON file under the state dir.

Sort mode and direction, the filter history, the theme, and the jobs the
user hid (archived) with whether hidden jobs show. The job store has no
column for "hidden", so it is a UI-level setting here. A file that cannot be
read is ignored (the app starts with defaults); a write that fails is
reported once by the caller, never fatal.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

HISTORY_LIMIT = 50
"""Filter texts remembered, newest last."""


@dataclass
class UiState:
    """The remembered settings (see the module docstring)."""

    sort: str = "newest"
    sort_reverse: bool = False
    filter_history: list[str] = field(default_factory=list)
    theme: str | None = None
    hidden_jobs: list[int] = field(default_factory=list)
    """Job ids archived with ``h``, per store; shown again with ``H``."""
    show_hidden: bool = False

    @classmethod
    def load(cls, path: Path | None) -> UiState:
        """Read ``path``; defaults when it is missing or unreadable."""
        if path is None:
            return cls()
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return cls()
        if not isinstance(data, dict):
            return cls()
        state = cls()
        if isinstance(data.get("sort"), str):
            state.sort = data["sort"]
        state.sort_reverse = bool(data.get("sort_reverse", False))
        history = data.get("filter_history")
        if isinstance(history, list):
            state.filter_history = [h for h in history if isinstance(h, str)][-HISTORY_LIMIT:]
        if isinstance(data.get("theme"), str):
            state.theme = data["theme"]
        hidden = data.get("hidden_jobs")
        if isinstance(hidden, list):
            state.hidden_jobs = [h for h in hidden if isinstance(h, int)]
        state.show_hidden = bool(data.get("show_hidden", False))
        return state

    def remember_filter(self, text: str) -> None:
        """Add a filter text to the history (once, as the newest)."""
        text = text.strip()
        if not text:
            return
        if text in self.filter_history:
            self.filter_history.remove(text)
        self.filter_history.append(text)
        del self.filter_history[:-HISTORY_LIMIT]

    def save(self, path: Path | None) -> None:
        """Write atomically (a crash mid-write leaves the old file); raises OSError."""
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        temp = path.with_suffix(".tmp")
        temp.write_text(json.dumps(asdict(self), indent=1), encoding="utf-8")
        os.replace(temp, path)
