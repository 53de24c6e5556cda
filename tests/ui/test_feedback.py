"""Keys that say why (issue 11, item 7): keymap conflicts, paused polling, modal footers, no terminal."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ettui.ui.keymap import keymap_problems
from ettui.ui.run import NO_TERMINAL_EXIT, run_app
from tests.ui.conftest import make_app, sandbox_config, wait_for
from tests.ui.seeded import seeded_app


def _said(app: Any) -> list[str]:
    return [n.message for n in app.shown_toasts]


def test_a_remap_that_takes_a_key_is_reported() -> None:
    from ettui.ui.app import EttuiApp

    problems = keymap_problems([b for b in EttuiApp.BINDINGS if hasattr(b, "id")], {"poll_now": "R", "nope": "x"})  # type: ignore[misc]
    assert any("takes R from refresh_drop" in p for p in problems)
    assert any("'nope'" in p for p in problems)
    assert keymap_problems([b for b in EttuiApp.BINDINGS if hasattr(b, "id")], {"poll_now": "f5"}) == []  # type: ignore[misc]


async def test_keymap_conflicts_show_at_start(tmp_path: Path) -> None:
    app = make_app(tmp_path, keymap={"poll_now": "R"})
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.session is not None and app.query("#param-start_date"), "the form")
        assert any("takes R from refresh_drop" in m for m in _said(app))


async def test_poll_now_while_paused_says_why(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.session is not None and app.query("#param-start_date"), "the form")
        await pilot.press("2", "p", "r")
        await pilot.pause()
        assert any("Polling is paused" in m for m in _said(app))


async def test_modal_footer_does_not_offer_quit(tmp_path: Path) -> None:
    app = seeded_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.session is not None and app.jobs_loaded, "the seeded data")
        await pilot.press("question_mark")
        await pilot.pause()
        shown = {b.binding.action: b.enabled for b in app.screen.active_bindings.values()}
        assert app.check_action("quit_app", ()) is False
        assert "app.pop_screen" in shown


def test_no_terminal_is_one_sentence(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_app(sandbox_config(tmp_path)) == NO_TERMINAL_EXIT
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "needs a terminal" in err and "\x1b" not in err
