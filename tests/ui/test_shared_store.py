"""The board and the Drop pane agree with the job store that other processes (and earlier sessions) wrote."""

from __future__ import annotations

from pathlib import Path

from ettui.jobs.store import JobStore
from ettui.model import BatchRequest, JobStatus
from ettui.ui.screens.dialogs import ConfirmScreen
from tests.ui.conftest import make_app, sandbox_config, wait_for


async def test_the_board_shows_what_another_process_changes_even_while_paused(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.session is not None and app.jobs_loaded, "the session")
        await pilot.press("p")
        assert app.session is not None and app.session.paused
        at = app.session.clock.now()
        with JobStore(tmp_path / "jobs.sqlite3") as other:  # another ettui process on the same store
            job = other.add(profile="sandbox", dialect="xml", call="C3", batch_id="424242", submitted_at=at,
                            request_doc="", params={})
            await wait_for(pilot, lambda: job.id in app.board.jobs, "the other process's job on the board")
            other.record_status(job.id, JobStatus.COMPLETE, "Complete", at, file_name="other.zip")
            await wait_for(pilot, lambda: app.board.jobs[job.id].status is JobStatus.COMPLETE, "Complete on the board")
            ahead = other.add(profile="sandbox", dialect="xml", call="C3", batch_id=None, submitted_at=at,
                              request_doc="", params={}, status=JobStatus.UNCONFIRMED)
            await wait_for(pilot, lambda: ahead.id in app.board.jobs, "the Unconfirmed job")
        await pilot.press("2")
        await wait_for(pilot, lambda: app.board.move_cursor_to(ahead.id) or (app.board.selected_job is not None
                       and app.board.selected_job.id == ahead.id), "the cursor on it")
        await pilot.press("D")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the dismiss question")
        await pilot.press("y")
        await wait_for(pilot, lambda: app.board.jobs[ahead.id].status is JobStatus.DISMISSED, "Dismissed")


async def test_after_a_restart_downloaded_files_show_downloaded_and_d_asks_first(tmp_path: Path) -> None:
    from ettui.sandbox import SandboxOptions
    from ettui.session import Session

    config = sandbox_config(tmp_path)
    options = SandboxOptions(root=tmp_path / "sandbox", scheduled_seconds=0.3, processing_seconds=0.5, records=50)
    first = await Session.open(config, store_path=tmp_path / "jobs.sqlite3", sandbox_options=options)
    try:
        job = await first.submit(BatchRequest("C3", {}))
        (done,) = await first.wait_until_terminal([job.id], timeout=30)
        assert done.status is JobStatus.COMPLETE
        outcome = await first.fetch(done, extract=False)
    finally:
        await first.close()

    app = make_app(tmp_path, expiring_soon_hours=1000)  # every file in the drop is "expiring soon"
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.board.landed.get(job.id), "the file in the drop")
        path = app.board.landed[job.id].path
        await wait_for(pilot, lambda: app.drop.transfers.get(path) is not None, "the file's state")
        transfer = app.drop.transfers[path]
        assert transfer.state == "downloaded" and transfer.local_path == str(outcome.zip_path)
        app.drop_pane.check_expiring()
        assert path not in app.drop_pane.warned_expiry, "no 'press d' warning for a file already downloaded"
        await pilot.press("2")
        await wait_for(pilot, lambda: app.board.move_cursor_to(job.id) or (app.board.selected_job is not None
                       and app.board.selected_job.id == job.id), "the cursor on it")
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question before fetching again")
        await pilot.press("n")
        assert not app.downloads_running
