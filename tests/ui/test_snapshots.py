"""Snapshot tests of each pane, the help screen and the output viewer, at 80x24, 120x40 and 200x60.

Plus the main view with 25 jobs and 25 files (no sideways scrollbar, names
whole at 200 columns), zoomed, filtered, and in the 16-colour palette.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ettui.ui.screens.output import OutputTable, OutputViewer
from tests.ui.conftest import wait_for
from tests.ui.seeded import sample_output, seeded_app

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 40), id="120x40"), pytest.param((200, 60), id="200x60")]


async def _steady(pilot: Any) -> None:
    """Stop every text cursor blinking: a snapshot must not depend on when it is taken."""
    from textual.widgets import Input

    for field in pilot.app.screen.query(Input):
        field.cursor_blink = False
    await pilot.pause()


async def _loaded(pilot: Any) -> None:
    app = pilot.app
    await wait_for(pilot, lambda: app.session is not None and app.jobs_loaded and app.drop.files, "the seeded data")
    await wait_for(pilot, lambda: app.compose_pane.specs and app.query("#param-start_date"), "the form")
    await pilot.pause()


@pytest.mark.parametrize("size", SIZES)
def test_jobs_pane(snap_compare: Any, tmp_path: Path, size: tuple[int, int]) -> None:
    assert snap_compare(seeded_app(tmp_path), terminal_size=size, run_before=_loaded)


@pytest.mark.parametrize("size", SIZES)
def test_drop_pane(snap_compare: Any, tmp_path: Path, size: tuple[int, int]) -> None:
    async def run_before(pilot: Any) -> None:
        await _loaded(pilot)
        await pilot.press("3")
        await pilot.pause()
        await pilot.press("down")

    assert snap_compare(seeded_app(tmp_path), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_compose_with_validation_error(snap_compare: Any, tmp_path: Path, size: tuple[int, int]) -> None:
    async def run_before(pilot: Any) -> None:
        await _loaded(pilot)
        await pilot.press("1")
        await pilot.pause()
        await pilot.press(*"2/30/2026", "tab", *"3/1/2026")
        await pilot.press("shift+tab")
        app = pilot.app
        await wait_for(pilot, lambda: app.query_one("#param-start_date").has_class("-at-fault"), "the error mark")
        await _steady(pilot)

    assert snap_compare(seeded_app(tmp_path), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_compose_with_preview(snap_compare: Any, tmp_path: Path, size: tuple[int, int]) -> None:
    async def run_before(pilot: Any) -> None:
        await _loaded(pilot)
        await pilot.press("1")
        await pilot.pause()
        await pilot.press(*"2/1/2026", "tab", *"3/1/2026")
        await wait_for(pilot, lambda: pilot.app.compose_pane.valid, "a valid request")
        await _steady(pilot)

    assert snap_compare(seeded_app(tmp_path), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_help_screen(snap_compare: Any, tmp_path: Path, size: tuple[int, int]) -> None:
    async def run_before(pilot: Any) -> None:
        await _loaded(pilot)
        await pilot.press("question_mark")
        await pilot.pause()

    assert snap_compare(seeded_app(tmp_path), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_output_viewer(snap_compare: Any, tmp_path: Path, size: tuple[int, int]) -> None:
    output = sample_output(tmp_path / "bulkasync_10012345_20260305_1.xml")

    async def run_before(pilot: Any) -> None:
        await _loaded(pilot)
        app = pilot.app
        assert app.session is not None
        app.push_screen(OutputViewer(app.session, output))
        await wait_for(pilot, lambda: isinstance(app.screen, OutputViewer) and app.screen.finished, "the rows")
        await pilot.press("down", "down")
        await pilot.pause()
        assert app.screen.query_one(OutputTable).row_count == 60

    assert snap_compare(seeded_app(tmp_path), terminal_size=size, run_before=run_before)


async def _full(pilot: Any) -> None:
    app = pilot.app
    await wait_for(pilot, lambda: app.session is not None and app.jobs_loaded and len(app.drop.files) >= 25, "25 jobs and files")
    await pilot.pause()


@pytest.mark.parametrize("size", SIZES)
def test_full_board_last_row(snap_compare: Any, tmp_path: Path, size: tuple[int, int]) -> None:
    """25 jobs, 25 files: the columns fit, ``G`` shows the last row."""

    async def run_before(pilot: Any) -> None:
        await _full(pilot)
        await pilot.press("2", "G")
        await pilot.pause()

    assert snap_compare(seeded_app(tmp_path, jobs=25, files=25), terminal_size=size, run_before=run_before)


def test_zoomed_drop_filtered(snap_compare: Any, tmp_path: Path) -> None:
    async def run_before(pilot: Any) -> None:
        await _full(pilot)
        await pilot.press("3", "z", "slash", *"expires<3d")
        await _steady(pilot)

    assert snap_compare(seeded_app(tmp_path, jobs=25, files=25), terminal_size=(120, 40), run_before=run_before)


def test_bad_filter_sentence(snap_compare: Any, tmp_path: Path) -> None:
    async def run_before(pilot: Any) -> None:
        await _loaded(pilot)
        await pilot.press("2", "slash", *"nxt<30s")
        await _steady(pilot)

    assert snap_compare(seeded_app(tmp_path), terminal_size=(80, 24), run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_main_view_16_colours(snap_compare: Any, tmp_path: Path, size: tuple[int, int], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEXTUAL_COLOR_SYSTEM", "standard")

    async def run_before(pilot: Any) -> None:
        await _loaded(pilot)
        assert pilot.app.theme == "ettui-16"
        await pilot.press("down")
        await pilot.pause()

    assert snap_compare(seeded_app(tmp_path), terminal_size=size, run_before=run_before)
