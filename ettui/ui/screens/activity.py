"""The activity log on screen: the same lines the app appends to the log file."""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import ModalScreen
from textual.widgets import RichLog

from ettui.safetext import clean_text


class ActivityScreen(ModalScreen[None]):
    """The latest transitions, newest at the bottom."""

    DEFAULT_CSS = """
    ActivityScreen { align: center middle; }
    ActivityScreen > RichLog {
        width: 110; max-width: 100%; height: 90%;
        border: thick $accent; background: $surface;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "app.pop_screen", "Close", id="activity.close"),
    ]

    def __init__(self, lines: Iterable[str], path: str) -> None:
        super().__init__()
        self.lines = list(lines)
        self.path = path

    def compose(self) -> ComposeResult:
        yield RichLog(wrap=True, markup=False, id="activity-log")

    def on_mount(self) -> None:
        log = self.query_one(RichLog)
        log.border_title = clean_text(f"Activity (kept in {self.path})")
        for line in self.lines or ["Nothing has happened yet."]:
            log.write(line)
