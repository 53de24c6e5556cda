"""Command palette provider: every bound action, every profile, quick sorts.

Themes come from Textual's own system commands, which the app keeps. The
provider knows only :class:`PaletteHost` (the commands an app offers), not
the concrete app, so ``app.py`` imports this module and not the other way
round.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple, Protocol, runtime_checkable

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
