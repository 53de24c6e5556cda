"""Calm notifications (issue 11, item 5): merged completions, quiet repeats, a status line per endpoint."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from textual.widgets import Static

from ettui.errors import DropError, EttuiError
from ettui.jobs.poller import JobEvent
from ettui.model import JobStatus
from ettui.ui.app import JobChanged
from tests.ui.conftest import make_app, wait_for
from tests.ui.seeded import seeded_app


def _toasts(app: Any) -> list[tuple[str, str]]:
    return [(n.title, n.message) for n in app.shown_toasts]


async def test_completions_close_together_make_one_toast(tmp_path: Path) -> None:
    app = seeded_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.session is not None and app.jobs_loaded, "the seeded data")
        app.clear_notifications()
        live = [j for j in app.board.jobs.values() if not j.terminal]
        for job in live:
            done = dataclasses.replace(job, status=JobStatus.COMPLETE, status_raw="Complete")
            app.post_message(JobChanged(JobEvent("status", done, previous=job.status)))
        await wait_for(pilot, lambda: _toasts(app), "the merged toast")
        await pilot.pause(0.1)
        assert _toasts(app) == [(f"{len(live)} batches Complete", _toasts(app)[0][1])]
        assert all(j.batch_id is not None and j.batch_id in _toasts(app)[0][1] for j in live)


async def test_the_same_error_twice_is_one_toast(tmp_path: Path) -> None:
    app = seeded_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.session is not None, "the session")
        app.clear_notifications()
        for _ in range(3):
            app.show_error(EttuiError("The drop refused the connection."))
        app.show_error(EttuiError("Something else."))
        await pilot.pause()
        assert [m for _, m in _toasts(app)] == ["The drop refused the connection.", "Something else."]


async def test_status_line_says_which_endpoint_is_down_and_since_when(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.drop_pane.drop_health.state == "connected", "the first listing")
        line = app.query_one("#status-line", Static)
        assert "drop connected (listed" in str(line.render())
        session = app.session
        assert session is not None

        async def refused() -> list[object]:
            raise DropError("The drop at 127.0.0.1 refused the connection.")

        session.drop_files = refused  # type: ignore[assignment,method-assign]
        app.clear_notifications()
        for attempt in range(3):
            app.drop_pane.refresh_drop()
            # B023: wait_for is awaited at once, inside this iteration.
            await wait_for(pilot, lambda: app.drop_pane.drop_health.failures == attempt + 1, "a failed listing")  # noqa: B023
        await wait_for(pilot, lambda: "drop down since" in str(line.render()), "the status line")
        text = str(line.render())
        assert "drop down since" in text and "refused the connection" in text
        assert len([t for t in _toasts(app) if "refused" in t[1]]) == 1, "the same failure toasted again"
