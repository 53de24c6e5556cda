"""The `/` filter field: filters live as you type, `esc` clears and closes, up/down recall history."""

from __future__ import annotations

from typing import ClassVar

from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import Input


class FilterInput(Input):
    """An ``Input`` for the filter language, with a history shared by the panes."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "clear_close", "Clear filter", id="filter.clear"),
        Binding("up", "history(-1)", "Older filter", show=False, id="filter.older"),
        Binding("down", "history(1)", "Newer filter", show=False, id="filter.newer"),
    ]

    class Closed(Message):
        """The user pressed ``esc``: the filter was cleared and should hide."""

        def __init__(self, field: FilterInput) -> None:
            super().__init__()
            self.field = field

        @property
        def control(self) -> FilterInput:
            return self.field

    def __init__(self, history: list[str], *, placeholder: str, id: str) -> None:
        super().__init__(placeholder=placeholder, id=id, classes="filter")
        self.history = history
        """The app's list (newest last): this field reads it, the app appends to it."""
        self._position: int | None = None

    def action_clear_close(self) -> None:
        self.value = ""
        self._position = None
        self.post_message(self.Closed(self))

    def action_history(self, step: int) -> None:
        if not self.history:
            return
        position = len(self.history) if self._position is None else self._position
        position = max(0, min(len(self.history), position + step))
        self._position = position
        self.value = self.history[position] if position < len(self.history) else ""
        self.cursor_position = len(self.value)
