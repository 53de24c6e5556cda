"""The names the ``[ui]`` table may use: binding ids, key names and theme names.

The config layer must not import textual, yet ``config check`` has to refuse
an unknown binding id, a malformed key or a misspelt theme before the UI
starts. So the names live here, as plain data, and a UI test
(``tests/ui/test_keys_match_app.py``) asserts that they equal the app's real
bindings and ``textual.theme.BUILTIN_THEMES``: neither list can drift.
"""

from __future__ import annotations

import re
import unicodedata

BINDINGS: dict[str, tuple[str, str]] = {
    # id: (scope, default keys). A scope is where the keys are live at once:
    # the main screen, or one modal screen / widget.
    "help": ("app", "question_mark"),
    "filter": ("app", "slash"),
    "sort": ("app", "s"),
    "new_request": ("app", "n"),
    "submit": ("app", "ctrl+s"),
    "details": ("app", "enter"),
    "poll_now": ("app", "r"),
    "pause": ("app", "p"),
    "download": ("app", "d"),
    "extract": ("app", "x"),
    "open_output": ("app", "o"),
    "copy": ("app", "y"),
    "refresh_drop": ("app", "R"),
    "activity": ("app", "a"),
    "dismiss_job": ("app", "D"),
    "resubmit_job": ("app", "S"),
    "focus_compose": ("app", "1"),
    "focus_jobs": ("app", "2"),
    "focus_drop": ("app", "3"),
    "quit": ("app", "q"),
    "activity.close": ("activity", "escape,q"),
    "details.close": ("details", "escape,q"),
    "confirm.yes": ("confirm", "y"),
    "confirm.no": ("confirm", "n,escape"),
    "hostkey.save": ("hostkey", "a"),
    "hostkey.once": ("hostkey", "o"),
    "hostkey.cancel": ("hostkey", "escape,c"),
    "help.close": ("help", "escape,q,question_mark"),
    "output.close": ("output", "escape,q"),
    "output.filter": ("output", "slash"),
    "output.export": ("output", "e"),
    "output.copy": ("output", "y"),
    "compose.leave": ("compose", "escape"),
}
"""Every remappable binding of the app: id -> (scope, default keys)."""

BUILTIN_THEMES: frozenset[str] = frozenset(
    {
        "ansi-dark", "ansi-light", "atom-one-dark", "atom-one-light", "catppuccin-frappe",
        "catppuccin-latte", "catppuccin-macchiato", "catppuccin-mocha", "dracula", "flexoki",
        "gruvbox", "monokai", "nord", "rose-pine", "rose-pine-dawn", "rose-pine-moon",
        "solarized-dark", "solarized-light", "textual-dark", "textual-light", "tokyo-night",
    }
)
"""The themes Textual registers (``textual.theme.BUILTIN_THEMES``); ettui adds none."""

SPECIAL_KEYS: frozenset[str] = frozenset(
    {"escape", "enter", "return", "tab", "space", "backspace", "delete", "insert", "home", "end",
     "pageup", "pagedown", "up", "down", "left", "right"}
    | {f"f{n}" for n in range(1, 25)}
)
"""Key names that are not characters (each is a ``textual.keys.Keys`` value)."""

KEY_NAME_REPLACEMENTS: dict[str, str] = {
    "solidus": "slash", "reverse_solidus": "backslash", "commercial_at": "at",
    "hyphen_minus": "minus", "plus_sign": "plus", "low_line": "underscore",
}
"""Textual's short names for some characters (``textual.keys.KEY_NAME_REPLACEMENTS``)."""

MODIFIERS = ("ctrl", "shift", "alt", "meta", "super", "hyper")

_KEY = re.compile(r"^((?:(?:" + "|".join(MODIFIERS) + r")\+)*)(.+)$")


def key_problem(keys: str) -> str | None:
    """Why ``keys`` (comma-separated keys, e.g. ``"ctrl+r,f5"``) is not well-formed, else None."""
    if not keys.strip():
        return "is empty"
    for key in keys.split(","):
        key = key.strip()
        match = _KEY.match(key)
        if not key or match is None or not _is_key_name(match.group(2)):
            return f"has {key!r}, which is not a key (use a character, a name like f5 or escape, and ctrl+/shift+/alt+)"
    return None


def _is_key_name(base: str) -> bool:
    """A single printable character, a special key, or a character's name (``question_mark``)."""
    if len(base) == 1:
        return base.isprintable() and not base.isspace()
    if base in SPECIAL_KEYS or base in KEY_NAME_REPLACEMENTS.values():
        return True
    if not re.fullmatch(r"[a-z][a-z0-9_]*", base):
        return False
    try:
        unicodedata.lookup(base.replace("_", " ").upper())
    except KeyError:
        return False
    return True


def character_to_key(character: str) -> str:
    """The name Textual gives a key press of ``character`` (``?`` -> ``question_mark``)."""
    if character.isalnum():
        return character
    key = unicodedata.name(character, character).lower().replace("-", "_").replace(" ", "_")
    return KEY_NAME_REPLACEMENTS.get(key, key)


def normalise_keys(keys: str) -> str:
    """``keys`` as Textual matches them: no spaces, characters by name (``"ctrl+?, D"`` -> ``"ctrl+question_mark,D"``).

    Textual's keymap uses the strings verbatim, so ``"?"`` or ``" D"`` would never fire.
    Call only on keys that ``key_problem`` accepts.
    """
    out = []
    for key in keys.split(","):
        match = _KEY.match(key.strip())
        assert match is not None
        modifiers, base = match.groups()
        out.append(modifiers + (character_to_key(base) if len(base) == 1 else base))
    return ",".join(out)


def key_set(keys: str) -> set[str]:
    """The individual keys of a well-formed key string, normalised, for finding clashes."""
    return set(normalise_keys(keys).split(","))
