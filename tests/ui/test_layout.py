"""Tables that fit and a layout that follows the terminal (issue 11, items 1 and 2).

The board and the drop have no horizontal scrollbar at 80 columns and up, the
last row is reachable and drawn, file names are whole when there is room, and
a resize re-lays the panes out without a key press.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import pytest

from ettui.ui.widgets.table import Column, VirtualTable, fit_columns
from tests.ui.conftest import wait_for
from tests.ui.seeded import seeded_app

SIZES = [(80, 24), (120, 40), (200, 60)]


async def _full(pilot: Any) -> None:
    app = pilot.app
    await wait_for(pilot, lambda: app.session is not None and app.jobs_loaded and len(app.drop.files) >= 25, "25 jobs and files")
    await pilot.pause()


def _fits(table: VirtualTable) -> bool:
    return not table.show_horizontal_scrollbar and table.virtual_size.width <= table.size.width



def test_fit_shrinks_then_hides_lowest_priority_and_grows_names() -> None:
    columns = [
        Column("id", "ID", 10, min_width=6, priority=10),
        Column("note", "Note", 10, min_width=4, priority=1),
        Column("name", "Name", 10, priority=5, grow=True),
    ]
    assert fit_columns(columns, 33) == [(columns[0], 10), (columns[1], 10), (columns[2], 10)]
    # Too narrow: the low-priority column shrinks first...
    assert dict((c.key, w) for c, w in fit_columns(columns, 28)) == {"id": 10, "note": 5, "name": 10}
    # ...then the high one, and only when minimums do not fit does the low one hide.
    assert dict((c.key, w) for c, w in fit_columns(columns, 23)) == {"id": 6, "note": 4, "name": 10}
    assert [c.key for c, _ in fit_columns(columns, 20)] == ["id", "name"]
    # Spare width goes to the growing column, up to its natural width.
    wide = dict((c.key, w) for c, w in fit_columns(columns, 80, lambda c: 40 if c.grow else None))
    assert wide == {"id": 10, "note": 10, "name": 40}


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
async def test_no_horizontal_scrollbar_and_last_row_shows(tmp_path: Path, size: tuple[int, int]) -> None:
    app = seeded_app(tmp_path, jobs=25, files=25)
    async with app.run_test(size=size) as pilot:
        await _full(pilot)
        for pane in ("2", "3"):
            await pilot.press(pane)
            await pilot.pause()
            table: VirtualTable = app.board if pane == "2" else app.drop
            assert _fits(table), f"{type(table).__name__} scrolls sideways at {size}"
            await pilot.press("G")
            await pilot.pause()
            assert table.cursor_row == table.row_count - 1
            top = int(table.scroll_offset.y)
            assert top <= table.cursor_row < top + table.size.height - 1, "the last row is under the edge"
            last = table.keys[-1]
            shown = app.board.jobs[cast(int, last)].batch_id if pane == "2" else app.drop.files[cast(str, last)].name[-12:]
            assert shown is not None and shown in app.export_screenshot(), f"the last row is not drawn at {size}"


async def test_file_names_are_whole_at_200_columns(tmp_path: Path) -> None:
    app = seeded_app(tmp_path, jobs=25, files=25)
    async with app.run_test(size=(200, 60)) as pilot:
        await _full(pilot)
        widths = {c.key: w for c, w in app.drop.column_layout}
        assert widths["name"] >= max(len(f.name) for f in app.drop.files.values())
        board = {c.key: w for c, w in app.board.column_layout}
        assert board["file"] >= max(len(j.file_name or "") for j in app.board.jobs.values())
        svg = app.export_screenshot()
        first = app.drop.files[app.drop.keys[0]].name  # type: ignore[index]
        assert len(first) > 30 and first in svg


async def test_new_rows_at_the_top_come_into_view(tmp_path: Path) -> None:
    app = seeded_app(tmp_path, jobs=25, files=25)
    async with app.run_test(size=(120, 40)) as pilot:
        await _full(pilot)
        board = app.board
        newest = board.keys[0]
        assert board.cursor_row == 0
        later = board.jobs[cast(int, newest)]
        import dataclasses

        arrivals = [
            dataclasses.replace(later, id=1000 + i, batch_id=f"99000{i}", submitted_at=later.submitted_at.replace(minute=59))
            for i in range(5)
        ]
        for job in arrivals:
            board.upsert(job)
        await wait_for(pilot, lambda: board.row_count == 30, "the new rows")
        assert board.cursor_row == 0 and int(board.scroll_offset.y) == 0
        assert board.cursor_key in {j.id for j in arrivals}, "the view kept the old top row"
        # Away from the top, the cursor stays on its job.
        await pilot.press("j", "j", "j")
        held = board.cursor_key
        board.upsert(
            dataclasses.replace(later, id=2000, batch_id="990100", submitted_at=later.submitted_at.replace(minute=59, second=30))
        )
        await wait_for(pilot, lambda: board.row_count == 31, "one more row")
        assert board.cursor_key == held


async def test_layout_follows_a_resize_both_ways(tmp_path: Path) -> None:
    app = seeded_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.session is not None and app.jobs_loaded, "the seeded data")
        assert app.query_one("#compose-pane").display and not app.query_one("#pane-tabs").display
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        assert app.query_one("#pane-tabs").display and not app.query_one("#compose-pane").display
        assert app.query_one("#jobs-pane").display
        await pilot.resize_terminal(120, 40)
        await pilot.pause()
        assert not app.query_one("#pane-tabs").display
        assert all(app.query_one(f"#{p}-pane").display for p in ("compose", "jobs", "drop"))


async def test_zoom_shows_the_focused_pane_alone_and_back(tmp_path: Path) -> None:
    app = seeded_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.session is not None and app.jobs_loaded, "the seeded data")
        await pilot.press("3", "z")
        await pilot.pause()
        assert app.query_one("#drop-pane").display
        assert not app.query_one("#jobs-pane").display and not app.query_one("#compose-pane").display
        assert "zoomed" in str(app.query_one("#drop-pane").border_title)
        assert app.focused is app.drop
        await pilot.press("z")
        await pilot.pause()
        assert all(app.query_one(f"#{p}-pane").display for p in ("compose", "jobs", "drop"))


async def test_compose_preview_is_the_exact_document_scrolling_sideways(tmp_path: Path) -> None:
    from rich.syntax import Syntax
    from textual.containers import ScrollableContainer
    from textual.widgets import Static

    app = seeded_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.session is not None and app.query("#param-start_date"), "the form")
        await pilot.press("1", *"2/1/2026", "tab", *"3/1/2026")
        await wait_for(pilot, lambda: app.compose_pane.valid, "a valid request")
        await pilot.pause()
        content = app.query_one("#preview", Static).content
        assert isinstance(content, Syntax) and not content.word_wrap
        box = app.query_one("#preview-box", ScrollableContainer)
        longest = max(len(line) for line in app.compose_pane.preview_text.splitlines())
        assert box.virtual_size.width >= longest > box.size.width, "long lines wrap instead of scrolling"


def test_optional_columns_take_only_what_is_left() -> None:
    columns = [
        Column("name", "Name", 10, grow=True),
        Column("at", "At", 11, priority=3, optional=True),
    ]
    natural = lambda c: 40 if c.grow else None  # noqa: E731
    assert [c.key for c, _ in fit_columns(columns, 45, natural)] == ["name"], "the optional column squeezed the name"
    assert dict((c.key, w) for c, w in fit_columns(columns, 60, natural)) == {"name": 40, "at": 11}


async def test_details_show_the_absolute_expiry(tmp_path: Path) -> None:
    from textual.widgets import Static

    from ettui.ui.screens.details import JobDetailsScreen

    app = seeded_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.session is not None and app.jobs_loaded and app.board.landed, "the seeded data")
        job_id = next(iter(app.board.landed))
        app.board.move_cursor_to(job_id)
        await pilot.press("2", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, JobDetailsScreen), "the details")
        expires = app.board.landed[job_id].expires_at.astimezone()
        app.screen.query_one("#job-details", Static)
        import html

        shown = html.unescape(app.export_screenshot()).replace("\xa0", " ")
        assert f"{expires:%Y-%m-%d %H:%M}" in shown


async def test_absolute_times_follow_the_configured_time_zone(tmp_path: Path) -> None:
    """``[ui] time_zone``: the details, the Expires at columns and the status line all show that zone's clock."""
    import html
    from zoneinfo import ZoneInfo

    from ettui.config import UiSettings
    from ettui.ui.screens.details import JobDetailsScreen
    from tests.ui.seeded import NOW

    zone = ZoneInfo("Pacific/Kiritimati")  # UTC+14: no machine's local clock reads the same
    app = seeded_app(tmp_path, ui=UiSettings(expiring_soon_hours=0, time_zone="Pacific/Kiritimati"))
    async with app.run_test(size=(200, 60)) as pilot:
        await wait_for(pilot, lambda: app.session is not None and app.jobs_loaded and app.board.landed, "the seeded data")
        job_id = next(iter(app.board.landed))
        expires = app.board.landed[job_id].expires_at.astimezone(zone)
        main = html.unescape(app.export_screenshot()).replace("\xa0", " ")
        assert f"{expires:%m-%d %H:%M}" in main, "the Expires at column"
        assert f"(listed {NOW.astimezone(zone):%H:%M:%S})" in main, "the status line"
        app.board.move_cursor_to(job_id)
        await pilot.press("2", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, JobDetailsScreen), "the details")
        shown = html.unescape(app.export_screenshot()).replace("\xa0", " ")
        assert f"{expires:%a %Y-%m-%d %H:%M} +14" in shown


async def test_details_say_a_change_was_noticed_not_when_it_happened(tmp_path: Path) -> None:
    """The replies carry no time of the change: the details say when ettui noticed it, in local time."""
    import html

    from ettui.ui.screens.details import JobDetailsScreen

    app = seeded_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.session is not None and app.jobs_loaded, "the seeded data")
        job = next(j for j in app.board.jobs.values() if j.status_changed_at is not None and j.terminal)
        app.board.move_cursor_to(job.id)
        await pilot.press("2", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, JobDetailsScreen), "the details")
        await pilot.pause()
        shown = html.unescape(app.export_screenshot()).replace("\xa0", " ")
        assert job.status_changed_at is not None
        assert f"noticed at {job.status_changed_at.astimezone():%Y-%m-%d %H:%M}" in shown
