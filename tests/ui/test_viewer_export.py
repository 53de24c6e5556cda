"""The viewer's CSV export (issue 11): the filtered rows, a progress bar, and no file replaced silently."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import cast

from textual.widgets import ProgressBar

from ettui.ui.screens.dialogs import ConfirmScreen
from ettui.ui.screens.output import OutputTable, OutputViewer, export_destination
from tests.ui.conftest import wait_for
from tests.ui.seeded import sample_output, seeded_app


def _written(dest: Path) -> list[list[str]]:
    with open(dest, newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


async def test_export_writes_the_filtered_rows_with_a_progress_bar(tmp_path: Path) -> None:
    output = sample_output(tmp_path / "out.xml", records=6000)
    app = seeded_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.session is not None, "the session")
        assert app.session is not None
        app.push_screen(OutputViewer(app.session, output))
        await wait_for(pilot, lambda: isinstance(app.screen, OutputViewer), "the viewer")
        viewer = cast(OutputViewer, app.screen)
        await wait_for(pilot, lambda: viewer.query(OutputTable) and viewer.table.row_count > 0, "the first rows")
        await pilot.press("slash", *"EventType:Click", "enter")
        await wait_for(pilot, lambda: viewer.finished and viewer.table.row_count > 0, "the filtered rows")
        table = viewer.query_one(OutputTable)
        kept = [table.rows[cast(int, k)] for k in table.keys]
        assert 0 < len(kept) < 6000 and all(row["EventType"] == "Click" for row in kept)
        await pilot.press("e")
        dest = export_destination(output)
        await wait_for(pilot, lambda: any("Wrote" in n.message for n in app.shown_toasts), "the export")
        rows = _written(dest)
        assert [dict(zip(rows[0], r, strict=True)) for r in rows[1:]] == kept
        bar = viewer.query_one("#export-progress", ProgressBar)
        await wait_for(pilot, lambda: bar.progress == 1.0, "the bar at the end")
        assert not bar.has_class("-running"), "the bar stays up after the export"
        said = [n.message for n in app.shown_toasts]
        assert any(f"rows matching EventType:Click to {dest}" in m for m in said), said
        assert any(f"Wrote {len(kept):,} rows to {dest}" in m for m in said), said


async def test_a_csv_output_is_exported_beside_itself_never_over_itself(tmp_path: Path) -> None:
    output = tmp_path / "Sent.csv"
    output.write_text("SubscriberKey,EventType\r\nS1,Sent\r\nS2,Open\r\n", encoding="utf-8")
    before = output.read_bytes()
    app = seeded_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.session is not None, "the session")
        assert app.session is not None
        app.push_screen(OutputViewer(app.session, output))
        await wait_for(pilot, lambda: isinstance(app.screen, OutputViewer) and app.screen.finished, "the rows")
        await pilot.press("e")
        dest = tmp_path / "Sent.export.csv"
        await wait_for(pilot, dest.exists, "the export")
        assert output.read_bytes() == before
        assert _written(dest) == [["SubscriberKey", "EventType"], ["S1", "Sent"], ["S2", "Open"]]
        dest.write_text("an earlier export\n", encoding="utf-8")
        await pilot.press("e")  # the name is taken: it asks, and "no" leaves the file alone
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the overwrite question")
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, OutputViewer), "back in the viewer")
        assert dest.read_text(encoding="utf-8") == "an earlier export\n"
