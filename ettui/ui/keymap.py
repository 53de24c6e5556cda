"""The app's keys, each binding with an id, and the check of the user's ``[ui.keymap]``.

Conflicts and unknown ids in the keymap become sentences before it is applied.

Textual applies a keymap by moving the key to the named binding; a binding
that had the key before silently loses it (``poll_now = "R"`` took ``R`` from
Refresh drop). This module says so, once, in words.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from textual.binding import Binding, BindingType

APP_BINDINGS: list[BindingType] = [
    Binding("question_mark", "help", "Help", id="help"),
    Binding("slash", "filter", "Filter", id="filter"),
    Binding("s", "sort", "Sort", id="sort", show=False),
    Binding("S", "reverse_sort", "Reverse sort", id="reverse_sort", show=False),
    Binding("n", "new_request", "New", id="new_request"),
    Binding("ctrl+s", "submit", "Submit", id="submit", show=False),
    Binding("enter", "details", "Details", id="details", show=False),
    Binding("r", "poll_now", "Poll now", id="poll_now", show=False),
    Binding("p", "toggle_pause", "Pause", id="pause", show=False),
    Binding("d", "download", "Download", id="download"),
    Binding("x", "extract", "Extract", id="extract", show=False),
    Binding("o", "open_output", "Open output", id="open_output"),
    Binding("y", "copy", "Copy", id="copy", show=False),
    Binding("D", "dismiss_job", "Dismiss unconfirmed", id="dismiss_job", show=False),
    Binding("U", "resubmit_job", "Resubmit unconfirmed", id="resubmit_job", show=False),
    Binding("R", "refresh_drop", "Refresh drop", id="refresh_drop", show=False),
    Binding("a", "activity", "Activity log", id="activity", show=False),
    Binding("1", "focus_pane('compose')", "Compose pane", id="focus_compose", show=False),
    Binding("2", "focus_pane('jobs')", "Jobs pane", id="focus_jobs", show=False),
    Binding("3", "focus_pane('drop')", "Drop pane", id="focus_drop", show=False),
    Binding("z", "zoom", "Zoom pane", id="zoom", show=False),
    Binding("c", "clone", "Clone into Compose", id="clone", show=False),
    Binding("h", "hide_job", "Hide finished job", id="hide_job", show=False),
    Binding("H", "toggle_hidden", "Show/hide hidden jobs", id="toggle_hidden", show=False),
    Binding("q", "quit_app", "Quit", id="quit"),
]
"""The app's bindings; every id can be remapped in ``[ui.keymap]``."""

PANE_ACTIONS = {
    "filter", "sort", "reverse_sort", "new_request", "submit", "details", "poll_now", "toggle_pause", "download",
    "extract", "open_output", "copy", "refresh_drop", "activity", "focus_pane", "zoom",
    "clone", "hide_job", "toggle_hidden", "quit_app", "help", "dismiss_job", "resubmit_job",
}
"""Actions that act on the main panes, hidden while a viewer or dialog is on top."""


def keymap_problems(bindings: Iterable[Binding], keymap: Mapping[str, str]) -> list[str]:
    """Sentences for each remap that takes a key from another binding, or names no binding."""
    by_id = {b.id: b for b in bindings if b.id}
    problems: list[str] = []
    for binding_id, keys in keymap.items():
        if binding_id not in by_id:
            problems.append(f"Keymap: no binding has the id {binding_id!r}; ? lists the ids.")
            continue
        for key in (k.strip() for k in keys.split(",") if k.strip()):
            for other in by_id.values():
                if other.id == binding_id or other.id in keymap:
                    continue  # a binding the user remapped too keeps only its new keys
                if key in (k.strip() for k in other.key.split(",")):
                    problems.append(
                        f"Keymap: {binding_id} = {key!r} takes {key} from {other.id} ({other.description}), "
                        f"which now has no key; give it one in [ui.keymap]."
                    )
    return problems
