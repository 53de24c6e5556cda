"""Check the user's ``[ui.keymap]`` before it is applied: conflicts and unknown ids become sentences.

Textual applies a keymap by moving the key to the named binding; a binding
that had the key before silently loses it (``poll_now = "R"`` took ``R`` from
Refresh drop). This module says so, once, in words.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from textual.binding import Binding


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
