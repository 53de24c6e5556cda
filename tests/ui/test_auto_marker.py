"""The board marks the jobs an ``ettui watch`` will fetch (profiles with ``auto_fetch``)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from rich.text import Text

from ettui.jobs.store import JobStore
from ettui.model import JobStatus
from ettui.ui.app import EttuiApp
from tests.ui.conftest import sandbox_config, wait_for


def _file_cell(app: EttuiApp, job_id: int) -> str:
    index = [c.key for c in app.board.columns].index("landed")
    cell = app.board.cells(job_id)[index]
    return cell.plain if isinstance(cell, Text) else str(cell)


async def test_jobs_of_an_auto_fetch_profile_say_auto_until_fetched(tmp_path: Path) -> None:
    from ettui.sandbox import SandboxOptions
    from ettui.session import Session

    base = sandbox_config(tmp_path)
    profile = dataclasses.replace(base.profiles["sandbox"], auto_fetch=True)
    config = dataclasses.replace(base, profiles={"sandbox": profile})
    options = SandboxOptions(root=tmp_path / "sandbox", scheduled_seconds=30, processing_seconds=30, records=5)

    async def factory() -> Session:
        return await Session.open(config, store_path=tmp_path / "jobs.sqlite3", sandbox_options=options)

    app = EttuiApp(config, session_factory=factory, activity_path=tmp_path / "activity.log")
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.session is not None and app.jobs_loaded, "the session")
        await pilot.press("p")  # the other process's writes are all that changes these jobs
        assert app.session is not None
        at = app.session.clock.now()
        with JobStore(tmp_path / "jobs.sqlite3") as other:
            waiting = other.add(profile="sandbox", dialect="xml", call="C3", batch_id="424242", submitted_at=at,
                                request_doc="", params={})
            fetched = other.add(profile="sandbox", dialect="xml", call="C3", batch_id="424243", submitted_at=at,
                                request_doc="", params={})
            other.record_status(fetched.id, JobStatus.COMPLETE, "Complete", at, file_name="fetched.zip")
            other.record_download(fetched.id, path=str(tmp_path / "fetched.zip"), sha256="0" * 64)
            await wait_for(pilot, lambda: {waiting.id, fetched.id} <= set(app.board.jobs), "both jobs on the board")
            await wait_for(pilot, lambda: app.board.jobs[fetched.id].download_path is not None, "the download")
        assert _file_cell(app, waiting.id) == "auto"
        assert _file_cell(app, fetched.id) == "↓"
