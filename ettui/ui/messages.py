"""The base of the panes' messages: the pane that sent one is its ``control``."""

from __future__ import annotations

from typing import Generic, TypeVar

from textual.message import Message
from textual.widget import Widget

P = TypeVar("P", bound=Widget)


class PaneMessage(Message, Generic[P]):
    """A message from ``pane``; ``control`` is that pane, so ``@on(X, "#id")`` selects by its id."""

    def __init__(self, pane: P) -> None:
        super().__init__()
        self.pane = pane

    @property
    def control(self) -> P:
        return self.pane
