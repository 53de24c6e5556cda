"""Command palette provider: every bound action, every profile, quick sorts.

Themes come from Textual's own system commands, which the app keeps. The
provider knows only :class:`PaletteHost` (the commands an app offers), not
the concrete app, so ``app.py`` imports this module and not the other way
round.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import partial
from typing import Any, NamedTuple, Protocol, runtime_checkable

from textual.app import App
from textual.binding import Binding, BindingType
from textual.command import DiscoveryHit, Hit, Hits, Provider


class PaletteCommand(NamedTuple):
    """One palette entry: what it is called, a help line, and what it runs."""

    label: str
    help: str
    run: Callable[[], object]


@runtime_checkable
class PaletteHost(Protocol):
    """An app that lists its palette commands."""

    def palette_commands(self) -> list[PaletteCommand]:
        """Every entry the palette offers, in order."""
        ...


def binding_commands(app: App[Any], bindings: Iterable[BindingType]) -> list[PaletteCommand]:
    """An entry per described binding: its description, its key (as remapped) and id, its action."""
    return [
        PaletteCommand(
            binding.description, f"{app.get_key_display(binding)} · {binding.id}", partial(app.run_action, binding.action)
        )
        for binding in bindings
        if isinstance(binding, Binding) and binding.description
    ]


class EttuiCommands(Provider):
    """Actions by their description, and ``Switch profile: NAME``."""

    def _commands(self) -> list[PaletteCommand]:
        app = self.app
        return app.palette_commands() if isinstance(app, PaletteHost) else []

    async def discover(self) -> Hits:
        for command in self._commands():
            yield DiscoveryHit(command.label, command.run, help=command.help)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for command in self._commands():
            score = matcher.match(command.label)
            if score > 0:
                yield Hit(score, matcher.highlight(command.label), command.run, help=command.help)
