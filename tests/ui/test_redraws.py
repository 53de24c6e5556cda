"""The board and drop redraw only what changed: countdown ticks, cursor moves, re-sorts."""

from __future__ import annotations

from pathlib import Path

from ettui.clock import ManualClock
from tests.ui.conftest import wait_for
from tests.ui.seeded import seeded_app


async def test_tick_redraws_only_rows_whose_countdown_changed(tmp_path: Path) -> None:
    app = seeded_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.session is not None and app.jobs_loaded and app.drop.files, "the seeded data")
        await pilot.pause()
        assert app.board.refresh_changed() == 0, "nothing changed, yet rows were redrawn"
        assert app.drop.refresh_changed() == 0
        assert app.session is not None and isinstance(app.session.clock, ManualClock)
        app.session.clock.advance(5)
        # Seconds show on the jobs still polling (next poll, age) and the drop's youngest file; days-long ones stay.
        changed = app.board.refresh_changed()
        assert 0 < changed < app.board.row_count
        await pilot.pause()
        assert app.board.refresh_changed() == 0, "a redrawn row still differs from its drawing"


async def test_cursor_shows_in_the_row_it_moved_to(tmp_path: Path) -> None:
    app = seeded_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.session is not None and app.jobs_loaded, "the seeded data")
        await pilot.press("down", "down")
        await pilot.pause()
        cursor = app.board.get_component_rich_style("virtual-table--cursor")
        lines = app.board.render_lines(app.board.region.reset_offset)
        styled = [y for y, strip in enumerate(lines) if any(seg.style and seg.style.bgcolor == cursor.bgcolor for seg in strip)]
        assert styled == [3], f"cursor drawn on lines {styled}"  # the header is line 0
