"""The TUI's error log (``ettui config path`` names it, for bug reports) held remote text raw.

The activity log cleans every line "for ``tail -f`` of the file"; the backstop's
error log appends the traceback as is, so an exception quoting a hostile file
name (an ``OSError`` on ``.../x<OSC 52>.zip``, an error quoting a zip member)
writes the operator's clipboard when they ``cat`` or ``tail`` it.
"""

from __future__ import annotations

from pathlib import Path

from tests.hostile.hostile import OSC52, assert_terminal_safe


def test_the_error_log_holds_no_control_from_a_hostile_exception(tmp_path: Path) -> None:
    from ettui.ui.backstop import Backstop

    log = tmp_path / "errors.log"
    name = f"/dl/a{OSC52}\rFAKE.zip"
    try:
        raise RuntimeError(f"There is no item named {name!s} in the archive\x9b2J")
    except RuntimeError as exc:
        Backstop(log).catch(exc, "viewer")
    data = log.read_bytes()
    assert b"There is no item named" in data
    assert_terminal_safe(data, "errors.log")
