"""Guards and flow (issue 11, item 4): submit only from Compose, ask before a twin, clone, hide, the README's session."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from textual.widgets import Input

from ettui.ui.screens.dialogs import ConfirmScreen
from ettui.ui.screens.output import OutputViewer
from tests.ui.conftest import Dialect, make_app, wait_for
from tests.ui.seeded import seeded_app


def _said(app: Any) -> list[str]:
    return [n.message for n in app.shown_toasts]


async def _seeded(pilot: Any) -> None:
    app = pilot.app
    await wait_for(pilot, lambda: app.session is not None and app.jobs_loaded and app.drop.files, "the seeded data")
    await wait_for(pilot, lambda: app.query("#param-start_date"), "the form")


async def test_ctrl_s_outside_compose_says_where_it_works(tmp_path: Path) -> None:
    app = seeded_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await _seeded(pilot)
        submitted: list[object] = []
        def fake_submit(request: object) -> None:
            submitted.append(request)

        app.jobs_pane.submit_request = fake_submit  # type: ignore[method-assign,assignment]
        await pilot.press("2", "ctrl+s")
        await pilot.pause()
        assert not submitted and any("submits from Compose" in m for m in _said(app))


async def test_an_identical_request_within_minutes_asks_first(tmp_path: Path, dialect: Dialect) -> None:
    app = make_app(tmp_path, dialect=dialect)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.session is not None and app.query(f"#param-{dialect.first_param}"), "the form")
        await pilot.press("1", *dialect.fill)
        await wait_for(pilot, lambda: app.compose_pane.valid, "a valid form")  # every key landed in its field
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: len(app.board.jobs) == 1, "the first job")
        await pilot.press("1", "ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question")
        await pilot.press("n")
        await pilot.pause(0.2)
        assert len(app.board.jobs) == 1
        assert app.current_pane() == "compose", "cancelling left Compose"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question again")
        await pilot.press("y")
        await wait_for(pilot, lambda: len(app.board.jobs) == 2, "the second job, confirmed")


async def test_clone_a_job_into_compose(tmp_path: Path) -> None:
    app = seeded_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await _seeded(pilot)
        await pilot.press("2", "G")  # the oldest: 553201, a C1
        job = app.board.selected_job
        assert job is not None and job.call == "C1"
        await pilot.press("c")
        await pilot.pause()
        assert app.current_pane() == "compose"
        assert app.query_one("#param-start_date", Input).value == "2/1/2026"
        assert app.query_one("#param-end_date", Input).value == "3/1/2026"
        await wait_for(pilot, lambda: app.compose_pane.valid, "the cloned request, valid")


async def test_hide_finished_jobs_and_show_them_again(tmp_path: Path) -> None:
    app = seeded_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await _seeded(pilot)
        await pilot.press("2", "g", "h")  # the newest is Scheduled: not finished
        assert app.board.row_count == 8 and any("only finished jobs" in m for m in _said(app))
        await pilot.press("G", "h")
        await pilot.pause()
        assert app.board.row_count == 7 and "1 hidden (H shows)" in str(app.query_one("#jobs-pane").border_title)
        assert app.ui_state.hidden_jobs
        await pilot.press("H")
        await pilot.pause()
        assert app.board.row_count == 8
    again = seeded_app(tmp_path / "again")
    again.ui_state = dataclasses.replace(app.ui_state, show_hidden=False)
    async with again.run_test(size=(120, 40)) as pilot:
        await _seeded(pilot)
        assert again.board.row_count == 7, "hidden jobs came back after a restart"


async def test_the_readme_first_session_works_as_written(tmp_path: Path) -> None:
    """`ettui`; `1`; `-7d`, tab, `today`, ctrl+s; wait for Complete; `d`; `o`."""
    app = make_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.session is not None and app.query("#param-start_date"), "the form")
        await pilot.press("1", *"-7d", "tab", *"today", "ctrl+s")
        await wait_for(pilot, lambda: any(j.status.value == "Complete" for j in app.board.jobs.values()), "Complete")
        await pilot.press("d")
        await wait_for(
            pilot, lambda: any(t.state == "extracted" for t in app.drop.transfers.values()), "downloaded and extracted"
        )
        await pilot.press("o")
        await wait_for(pilot, lambda: isinstance(app.screen, OutputViewer), "the records")


async def test_every_bad_field_is_marked_at_once(tmp_path: Path) -> None:
    app = seeded_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await _seeded(pilot)
        await pilot.press("1", *"2/30/2026", "tab", *"13/45/2026")
        start, end = app.query_one("#param-start_date", Input), app.query_one("#param-end_date", Input)
        await wait_for(pilot, lambda: start.has_class("-at-fault") and end.has_class("-at-fault"), "both fields marked")
        status = str(app.query_one("#compose-status").render())
        assert "start_date" in status and "end_date" in status
