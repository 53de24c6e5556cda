"""Command palette provider: every bound action, every profile, quick sorts.

Themes come from Textual's own system commands, which the app keeps.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Hits, Provider

if TYPE_CHECKING:
    from ettui.ui.app import EttuiApp


class EttuiCommands(Provider):
    """Actions by their description, and ``Switch profile: NAME``."""

    def _commands(self) -> list[tuple[str, str, object]]:
        app: EttuiApp = self.app  # type: ignore[assignment]
        found: list[tuple[str, str, object]] = []
        for binding in app.BINDINGS:
            if not isinstance(binding, Binding) or not binding.description:  # pragma: no cover - tuples
                continue
            key = app.get_key_display(binding)
            found.append((binding.description, f"{key} · {binding.id}", partial(app.run_action, binding.action)))
        for name in sorted(app.config.profiles):
            label = f"Switch profile: {name}"
            found.append((label, "close this session and open that profile", partial(app.switch_profile, name)))
        return found

    async def discover(self) -> Hits:
        for label, help_text, callback in self._commands():
            yield DiscoveryHit(label, callback, help=help_text)  # type: ignore[arg-type]

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for label, help_text, callback in self._commands():
            score = matcher.match(label)
            if score > 0:
                yield Hit(score, matcher.highlight(label), callback, help=help_text)  # type: ignore[arg-type]
