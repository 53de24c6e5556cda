"""Sort by column with a marker and a reverse key, live filter, readable errors, remembered settings (issue 11, item 3)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Static

from ettui import paths
from ettui.ui.widgets.job_board import SORTS
from tests.ui.conftest import wait_for
from tests.ui.seeded import seeded_app


async def _loaded(pilot: Any) -> None:
    app = pilot.app
    await wait_for(pilot, lambda: app.session is not None and app.jobs_loaded and app.drop.files, "the seeded data")
    await pilot.pause()


def _status(app: Any, pane: str = "jobs") -> Static:
    return app.query_one(f"#{pane}-filter-status", Static)


async def test_every_sort_mode_sorts_by_what_it_says_and_reverses(tmp_path: Path) -> None:
    app = seeded_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await _loaded(pilot)
        board = app.board
        for index, mode in enumerate(SORTS):
            if index:
                await pilot.press("s")
            assert board.sort_mode is mode
            for reverse in (False, True):
                values = [mode.value(board, board.jobs[k]) for k in board.keys]  # type: ignore[index]
                present = [v for v in values if v is not None]
                assert present == sorted(present, reverse=reverse), f"{mode.label} reverse={reverse}"  # type: ignore[type-var]
                assert all(v is None for v in values[len(present):]), f"{mode.label}: jobs without a value are not last"
                arrow = "▼" if reverse else "▲"
                assert board.sort_label == f"{mode.label} {arrow}"
                marked = [str(c) for c in board.header_cells() if str(c).endswith(arrow)]
                assert len(marked) == 1, "one column carries the direction marker"
                await pilot.press("S")
        # expires: the Complete jobs in order of their file's expiry, soonest first.
        board.set_sort("expires")
        expiring = [board.expires(board.jobs[k]) for k in board.keys if board.expires(board.jobs[k])]  # type: ignore[index]
        assert expiring and expiring == sorted(expiring)  # type: ignore[type-var]


async def test_filter_is_live_counts_matches_and_esc_clears_and_closes(tmp_path: Path) -> None:
    app = seeded_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await _loaded(pilot)
        await pilot.press("2", "slash", *"status:error")
        await pilot.pause()
        assert app.board.row_count == 1, "the filter waited for enter"
        assert "1 of 8 jobs match" in str(_status(app).render())
        await pilot.press("escape")
        await pilot.pause()
        assert app.board.filter_query.empty and app.board.row_count == 8
        assert not app.query_one("#jobs-filter").has_class("-visible")
        assert app.focused is app.board
        await pilot.press("slash", *"nosuchthing")
        await pilot.pause()
        assert app.board.row_count == 0
        assert "no job matches nosuchthing" in app.board.empty_text.lower()


@pytest.mark.parametrize(
    ("term", "said"),
    [("expires<6x", "not a duration"), ("foo:bar", "'foo'"), ("nxt<30s", "Did you mean next?"),
     # Typed (or pasted) text quoted back in the sentence is never markup.
     ('[b="]x:y', '[b="]x')],
)
async def test_a_bad_filter_term_is_one_visible_sentence(tmp_path: Path, term: str, said: str) -> None:
    app = seeded_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await _loaded(pilot)
        await pilot.press("2", "slash", *term)
        await pilot.pause()
        status = _status(app)
        assert status.display and status.has_class("-bad")
        text = str(status.render())
        assert said in text and text.count(".") <= 2


async def test_drop_filter_and_gone_files_sort_last(tmp_path: Path) -> None:
    app = seeded_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await _loaded(pilot)
        drop = app.drop
        last = drop.files[drop.keys[-1]]  # type: ignore[index]
        assert not last.listed, "an expired file the drop no longer lists sorts last"
        await pilot.press("3", "slash", *"tracking")
        await pilot.pause()
        assert drop.row_count == 1 and "1 of" in str(_status(app, "drop").render())


async def test_sort_filter_history_and_theme_are_remembered(tmp_path: Path) -> None:
    app = seeded_app(tmp_path / "one")
    async with app.run_test(size=(120, 40)) as pilot:
        await _loaded(pilot)
        await pilot.press("2", "s", "s", "S")
        await pilot.press("slash", *"status:complete", "enter")
        app.theme = "nord"
        await pilot.pause()
    saved = json.loads(paths.ui_state().read_text())
    assert saved["sort"] == "expires" and saved["sort_reverse"] is True
    assert saved["filter_history"][-1] == "status:complete" and saved["theme"] == "nord"
    again = seeded_app(tmp_path / "two")
    async with again.run_test(size=(120, 40)) as pilot:
        await _loaded(pilot)
        assert again.board.sort_label == "expires ▼" and again.theme == "nord"
        await pilot.press("2", "slash", "up")
        assert again.query_one("#jobs-filter").value == "status:complete"  # type: ignore[attr-defined]
