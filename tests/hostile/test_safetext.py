"""The boundary itself: every attack comes out visible, inert and never markup."""

from __future__ import annotations

import json

import pytest
from rich.console import Console
from textual.content import Content

from ettui.safetext import clean, clean_json, clean_text
from tests.hostile.hostile import HOSTILE_VALUES, assert_terminal_safe


@pytest.mark.parametrize("value", HOSTILE_VALUES.values(), ids=HOSTILE_VALUES.keys())
def test_clean_leaves_nothing_a_terminal_acts_on(value: str) -> None:
    shown = clean(value)
    assert_terminal_safe(shown.encode())
    assert "\n" not in shown and "\t" not in shown


def test_convention_is_python_escapes() -> None:
    assert clean("a\x1b]52;c;x\x1b\\") == "a\\x1b]52;c;x\\x1b\\"
    assert clean("ok\rFAKE") == "ok\\rFAKE"
    assert clean("\x9b31m") == "\\x9b31m"
    assert clean("line\nnext\ttab", multiline=True) == "line\nnext\ttab"
    assert clean("line\nnext\ttab") == "line\\nnext\\ttab"
    assert clean("caf\udce9") == "caf\\xe9"  # surrogateescape: the original byte
    assert clean("\u202egnp.exe") == "\\u202egnp.exe"


@pytest.mark.parametrize("value", HOSTILE_VALUES.values(), ids=HOSTILE_VALUES.keys())
def test_clean_text_is_never_markup(value: str) -> None:
    text = clean_text(value)
    assert text.plain == clean(value)  # the brackets are there as typed
    assert not text.spans
    content = Content.from_rich_text(text)
    assert content.plain == clean(value) and not content.spans  # no @click meta, no bold
    console = Console(record=True, width=200, color_system=None)
    console.print(text)
    assert clean(value) in console.export_text()


@pytest.mark.parametrize("value", HOSTILE_VALUES.values(), ids=HOSTILE_VALUES.keys())
def test_clean_json_is_exact_and_safe(value: str) -> None:
    document = json.dumps({"name": value, "more": "\x7f\u0085\u202e\ud800"}, ensure_ascii=False)
    safe = clean_json(document)
    assert_terminal_safe(safe.encode("utf-8", "surrogatepass"))
    assert json.loads(safe) == json.loads(document)


def test_json_with_ensure_ascii_off_would_leak_c1() -> None:
    """Why ``print_json`` keeps ``ensure_ascii``: JSON alone escapes C0 only."""
    assert "\x9b" in json.dumps("\x9b", ensure_ascii=False)
    assert "\x9b" not in json.dumps("\x9b")
