"""The one boundary that turns text from outside into safe display text.

Everything ettui shows comes from somewhere else: remote file names, API reply
values, error texts, the cells of export files. Any of them can carry terminal
escape sequences (OSC 52 writes the operator's clipboard, ``ESC[2J`` clears the
screen, a bare CR overwrites a line) or Textual/Rich markup. Before such text
reaches a terminal it passes through :func:`clean` (plain strings, for the CLI)
or :func:`clean_text` (a ``rich.text.Text``, for the TUI: never parsed as
markup).

The convention, used everywhere: a control character becomes its Python escape,
visible and unambiguous -- ESC is ``\\x1b``, CR is ``\\r``, DEL is ``\\x7f``,
C1 controls are ``\\x9b``..., and the invisible Unicode format characters that
can reorder or hide text (bidi overrides, zero-width joiners) become
``\\u202e`` and so on. ``\\n`` and ``\\t`` are kept only where a multi-line
value is legitimate (``multiline=True``). Bytes that were not UTF-8 (a file name
read with ``surrogateescape``) become ``\\xNN`` of the original byte.

``--json`` output needs none of this: JSON escapes control characters itself.
Data written to a file (CSV, JSONL, an export) stays byte-exact.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.text import Text

# C0 (but \t and \n, handled by the caller's choice), DEL, C1; lone surrogates
# (undecodable bytes); Unicode format characters that reorder or hide text:
# soft hyphen, Arabic letter mark, Mongolian vowel separator, zero-width and
# directional marks, line/paragraph separators, bidi embeddings/overrides/
# isolates, word joiner and invisible operators, BOM, interlinear annotations.
_UNSAFE = (
    "\x00-\x08\x0b-\x1f\x7f-\x9f"
    "\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u206f"
    "\ufeff\ufff9-\ufffb"
    "\ud800-\udfff"
)
_ONE_LINE = re.compile(f"[\t\n{_UNSAFE}]")
_MULTI_LINE = re.compile(f"[{_UNSAFE}]")


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    if char == "\n":
        return "\\n"
    if char == "\t":
        return "\\t"
    if char == "\r":
        return "\\r"
    if 0xDC80 <= code <= 0xDCFF:  # surrogateescape: the original byte
        return f"\\x{code - 0xDC00:02x}"
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}"


def clean(text: object, *, multiline: bool = False) -> str:
    """``text`` (any value; ``str()`` of it) with every control made visible.

    ``multiline``: keep ``\\n`` and ``\\t`` as they are (an error description,
    a details body). A CR is always escaped: it can overwrite what was printed.
    """
    value = text if isinstance(text, str) else str(text)
    pattern = _MULTI_LINE if multiline else _ONE_LINE
    if pattern.search(value) is None:
        return value
    return pattern.sub(_escape, value)


def is_clean(text: str, *, multiline: bool = False) -> bool:
    """True when :func:`clean` would leave ``text`` as it is."""
    return (_MULTI_LINE if multiline else _ONE_LINE).search(text) is None


def clean_text(text: object, *, multiline: bool = False, style: str = "") -> Text:
    """A ``rich.text.Text`` of the cleaned value: safe to show, never markup.

    Use it wherever the TUI shows remote text: ``notify()``, labels, table
    cells, the activity log, details, dialogs.
    """
    from rich.text import Text  # lazy: the CLI's start-up does not pay for rich

    return Text(clean(text, multiline=multiline), style=style)


_JSON_UNSAFE = re.compile(f"[{_UNSAFE}]")


def _json_escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def clean_json(document: str) -> str:
    """A JSON document (``json.dumps(..., ensure_ascii=False)``) safe for a terminal.

    ``json.dumps`` escapes C0 controls itself, but with ``ensure_ascii=False``
    DEL, C1 controls (``\\x9b`` is a one-byte CSI), bidi overrides and lone
    surrogates pass through raw. Outside strings JSON is plain ASCII, so each
    of them is inside a string, where ``\\uXXXX`` is its exact JSON spelling:
    the result parses to the same value and shows no control.
    """
    if _JSON_UNSAFE.search(document) is None:
        return document
    return _JSON_UNSAFE.sub(_json_escape, document)


def clean_cells(row: dict[str, str], *, multiline: bool = True) -> dict[str, str]:
    """A row of output cells with every value (and column name) cleaned for a terminal."""
    return {clean(k): clean(v, multiline=multiline) for k, v in row.items()}
