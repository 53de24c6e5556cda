"""The help screen, generated from the bindings that are live when it opens.

Whatever the user's keymap says is what this screen shows, because it reads
the bindings Textual will actually dispatch, not a hand-written list.
"""

from __future__ import annotations

from typing import ClassVar, NamedTuple

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Footer, Static


class HelpEntry(NamedTuple):
    """One row of the help: keys, what it does, and the id to remap it by."""

    keys: str
    description: str
    binding_id: str
    enabled: bool


FILTER_HELP = (
    "Filter (/, live; esc clears, up/down recall): words match anywhere; status:error, call:C1, file:name, "
    "landed:no, state:downloaded; durations: expires<6h, age>1d, next<30s, in_status>10m. "
    "Sort: s next column, S reverses (the header marks the column). "
    "Remap keys in config.toml: [ui.keymap] poll_now = \"R\"."
)


class HelpScreen(ModalScreen[None]):
    """Every active binding with its key, description and binding id."""

    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 84; max-width: 100%; height: 90%;
        border: thick $accent; background: $surface; padding: 0 1;
        scrollbar-gutter: stable;
    }
    HelpScreen #help-filter { color: $text-muted; margin-top: 1; }
    HelpScreen #help-notes { margin-top: 1; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark", "app.pop_screen", "Close", id="help.close"),
    ]

    def __init__(self, entries: list[HelpEntry], notes: str = "") -> None:
        super().__init__()
        self.entries = entries
        self.notes = notes

    def compose(self) -> ComposeResult:
        # Plain padded lines rather than a rich Table: a width-dependent table in a
        # scrolling container can re-layout forever as its scrollbar comes and goes.
        key_width = max([len(e.keys) for e in self.entries] + [3]) + 2
        action_width = max([len(e.description) for e in self.entries] + [6]) + 2
        text = Text("ettui keys\n\n", style="bold")
        text.append(f"{'Key':<{key_width}}{'Action':<{action_width}}Binding id\n", style="bold underline")
        for entry in self.entries:
            text.append(f"{entry.keys:<{key_width}}", style="bold cyan")
            text.append(f"{entry.description:<{action_width}}", style="" if entry.enabled else "dim strike")
            text.append(f"{entry.binding_id}\n", style="dim")
        with VerticalScroll():
            yield Static(text, id="help-table")
            if self.notes:
                yield Static(self.notes, id="help-notes", classes="help-note")
            yield Static(FILTER_HELP, id="help-filter")
        yield Footer()  # its own: the main screen's footer would offer the panes' keys


def entries_from(bindings: list[tuple[Binding, bool, str]]) -> list[HelpEntry]:
    """Group live bindings by action: ``(binding, enabled, key display)`` -> help rows."""
    grouped: dict[str, HelpEntry] = {}
    for binding, enabled, display in bindings:
        if not binding.description:
            continue
        key = binding.id or binding.action
        if key in grouped:
            old = grouped[key]
            if display not in old.keys.split(", "):
                grouped[key] = old._replace(keys=f"{old.keys}, {display}")
            continue
        grouped[key] = HelpEntry(display, binding.description, binding.id or "-", enabled)
    return list(grouped.values())


def download_note(extract_after_download: bool) -> str:
    """What ``d`` does for a profile: the help and the README say the same."""
    if extract_after_download:
        return (
            "d downloads the zip, verifies every member's CRC, then extracts it "
            "(extract_after_download = true, the default); x extracts again."
        )
    return "d downloads the zip and verifies every member's CRC (extract_after_download = false); x extracts it."
