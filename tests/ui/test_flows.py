"""Pilot tests of every user flow, on the real sandbox with a fast queue, once per API dialect.

The ``dialect`` fixture runs each flow against the XML API sandbox and the
SOAP sandbox: the same keys, only the form's fields differ.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import cast

from textual.widgets import Button, Input, Static

from ettui.model import JobStatus
from ettui.output import open_output
from ettui.ui.screens.dialogs import ConfirmScreen
from ettui.ui.screens.help import HelpScreen
from ettui.ui.screens.output import OutputTable, OutputViewer, export_destination
from tests.ui.conftest import Dialect, make_app, wait_for


def _shown(widget: Static) -> str:
    """The text a Static shows, whatever renderable holds it."""
    content = widget.content
    return str(getattr(content, "code", None) or getattr(content, "plain", None) or content)


async def _ready(pilot, app, dialect: Dialect) -> None:  # type: ignore[no-untyped-def]
    await wait_for(pilot, lambda: app.session is not None and app.compose_pane.specs, "the session")
    await wait_for(pilot, lambda: app.query(f"#param-{dialect.first_param}"), "the form")


async def _submit(pilot, app, dialect: Dialect) -> None:  # type: ignore[no-untyped-def]
    await pilot.press("1")
    await pilot.press(*dialect.fill)
    await wait_for(pilot, lambda: app.compose_pane.valid, "a valid form")  # every key landed in its field
    await pilot.press("ctrl+s")
    await wait_for(pilot, lambda: app.board.jobs, "the job on the board")


async def _complete(pilot, app) -> None:  # type: ignore[no-untyped-def]
    await wait_for(pilot, lambda: any(j.status is JobStatus.COMPLETE for j in app.board.jobs.values()), "Complete")
    await wait_for(pilot, lambda: app.board.landed, "the file in the drop")


async def test_compose_shows_validation_error_as_you_type(tmp_path: Path, dialect: Dialect) -> None:
    app = make_app(tmp_path, dialect=dialect)
    async with app.run_test(size=(120, 40)) as pilot:
        await _ready(pilot, app, dialect)
        preview_box = app.query_one("#preview", Static)
        assert "appears here once the request is valid" in _shown(preview_box)
        await pilot.press("1", *"13/45/2026")
        field = app.query_one(f"#param-{dialect.first_param}", Input)
        await wait_for(pilot, lambda: field.has_class("-at-fault"), "the invalid mark")
        error = app.query_one(f"#error-{dialect.first_param}", Static)
        sentence = str(error.render())
        assert dialect.first_param in sentence
        assert sentence not in str(app.query_one("#compose-status", Static).render()), "the sentence shows twice"
        assert app.query_one("#submit", Button).disabled
        await pilot.press("tab")
        await pilot.pause()
        assert field.has_class("-at-fault"), "the mark went when the field lost the focus"
        await pilot.press("shift+tab")
        await pilot.press(*["backspace"] * 10, *dialect.fill)
        await wait_for(pilot, lambda: not app.query_one("#submit", Button).disabled, "a valid form")
        preview = app.compose_pane.preview_text
        assert app.session is not None and app.session.sandbox is not None
        assert "********" in preview and app.session.sandbox.api_password not in preview
        assert dialect.preview_mark in _shown(preview_box) and not preview_box.has_class("-stale")
        await pilot.press("backspace")
        await wait_for(pilot, lambda: app.query_one("#submit", Button).disabled, "an invalid form")
        assert preview_box.has_class("-stale") and "********" in _shown(preview_box)


async def test_submit_watch_download_extract_open_filter(tmp_path: Path, dialect: Dialect) -> None:
    app = make_app(tmp_path, dialect=dialect, records=300)
    async with app.run_test(size=(120, 40)) as pilot:
        await _ready(pilot, app, dialect)
        await _submit(pilot, app, dialect)
        assert app.focused is app.board
        await _complete(pilot, app)
        drawn: list[object] = []
        original = app.drop.update_transfer

        def spy(path: str, **changes: object) -> None:
            drawn.append(changes.get("progress"))
            original(path, **changes)

        app.drop.update_transfer = spy  # type: ignore[method-assign]
        await pilot.press("d")  # downloads, verifies and extracts (extract_after_download, on by default)
        await wait_for(pilot, lambda: any(t.state == "extracted" for t in app.drop.transfers.values()), "download and extraction")
        assert any(p is not None for p in drawn), "no progress was drawn"
        job = next(iter(app.board.jobs.values()))
        assert job.download_path and Path(job.download_path).exists()
        assert any("downloaded, verified and extracted" in n.message for n in app.shown_toasts)
        await pilot.press("o")
        await wait_for(pilot, lambda: isinstance(app.screen, OutputViewer), "the output viewer")
        viewer = cast(OutputViewer, app.screen)
        table = viewer.query_one(OutputTable)
        total = open_output(viewer.path).count()
        assert total > 0 and (dialect.name != "xml" or total == 300)
        await wait_for(pilot, lambda: table.row_count == total, "all rows")
        assert "EmailAddress" in [c.key for c in table.columns]
        needle = table.rows[0]["EmailAddress"]
        await pilot.press("slash", *needle, "enter")
        await wait_for(pilot, lambda: 0 < table.row_count < total and viewer.finished, "filtered rows")
        kept = [table.rows[cast(int, k)] for k in table.keys]
        assert all(needle in " ".join(row.values()) for row in kept)
        await pilot.press("e")  # exports the rows the filter keeps, not every row
        dest = export_destination(viewer.path)
        assert dest != viewer.path, "the export would replace the output it reads"
        await wait_for(pilot, dest.exists, "the CSV export")
        with open(dest, newline="", encoding="utf-8") as f:
            written = list(csv.reader(f))
        names = written[0]
        assert [dict(zip(names, r, strict=True)) for r in written[1:]] == [{n: row.get(n, "") for n in names} for row in kept]
        await wait_for(pilot, lambda: any(f"Wrote {len(kept)} row" in n.message for n in app.shown_toasts), "the export's toast")
        await pilot.press("e")  # again: the file exists, so it asks before replacing it
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the overwrite question")
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, OutputViewer), "back in the viewer")
        await pilot.press("escape")
        assert not isinstance(app.screen, OutputViewer)
    log = (tmp_path / "activity.log").read_text()
    assert f"Submitted {job.call}" in log and "-> Complete" in log and "Downloaded" in log


async def test_board_filter_sort_and_pause(tmp_path: Path, dialect: Dialect) -> None:
    app = make_app(tmp_path, dialect=dialect)
    async with app.run_test(size=(120, 40)) as pilot:
        await _ready(pilot, app, dialect)
        await _submit(pilot, app, dialect)
        await _complete(pilot, app)
        job_id = app.board.cursor_key
        await pilot.press("slash", *"status:error", "enter")
        assert app.board.row_count == 0 and len(app.board.jobs) == 1
        await pilot.press("slash", *["backspace"] * 12, *f"status:complete expires<{dialect.kept_under}", "enter")
        assert app.board.row_count == 1
        await pilot.press("slash", *["backspace"] * 40, "enter")
        assert app.board.row_count == 1 and app.board.filter_query.empty
        assert app.board.sort_label == "newest ▲"
        await pilot.press("s")
        assert app.board.sort_label == "status ▲" and app.board.cursor_key == job_id
        await pilot.press("p")
        assert app.session is not None and app.session.paused and "PAUSED" in app.sub_title
        await pilot.press("p")
        assert not app.session.paused


async def test_help_is_generated_from_live_bindings_and_keymap(tmp_path: Path, dialect: Dialect) -> None:
    app = make_app(tmp_path, dialect=dialect, keymap={"poll_now": "f5"})
    async with app.run_test(size=(120, 40)) as pilot:
        await _ready(pilot, app, dialect)
        await pilot.press("2", "question_mark")
        assert isinstance(app.screen, HelpScreen)
        rows = {e.binding_id: e for e in app.screen.entries}
        assert rows["poll_now"].keys == "f5"
        assert rows["download"].description == "Download"
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


async def test_readonly_disables_submit_and_download(tmp_path: Path, dialect: Dialect) -> None:
    app = make_app(tmp_path, dialect=dialect, readonly=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await _ready(pilot, app, dialect)
        await pilot.press("1", *dialect.fill)
        await wait_for(pilot, lambda: app.compose_pane.valid, "a valid form")
        assert app.query_one("#submit", Button).disabled
        await pilot.press("ctrl+s")
        await pilot.pause(0.3)
        assert not app.board.jobs
        assert "read-only" in app.sub_title
        await pilot.press("ctrl+s")
        await pilot.press("escape", "d")
        await pilot.pause()
        said = [n.message for n in app.shown_toasts]
        assert any("submitting is off" in m for m in said) and any("downloads are off" in m for m in said)


async def test_narrow_terminal_uses_tabs(tmp_path: Path, dialect: Dialect) -> None:
    app = make_app(tmp_path, dialect=dialect)
    async with app.run_test(size=(80, 24)) as pilot:
        await _ready(pilot, app, dialect)
        assert app.query_one("#pane-tabs").display
        assert app.query_one("#jobs-pane").display and not app.query_one("#drop-pane").display
        await pilot.press("3")
        assert app.query_one("#drop-pane").display and not app.query_one("#jobs-pane").display
        assert app.focused is app.drop
        await pilot.press("1")
        assert app.query_one("#compose-pane").display and not app.query_one("#right").display
        await pilot.press("escape")
        # cast: mypy keeps app.focused narrowed to the drop browser from the assert above, across the key presses.
        assert cast(object, app.focused) is app.board
