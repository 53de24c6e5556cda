"""The board on a shared PostgreSQL store: jobs another host submits appear live; a restart says so and resyncs."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from ettui.jobs.base import open_store
from ettui.model import JobStatus
from ettui.ui.app import EttuiApp
from tests.stores import store_config
from tests.ui.conftest import sandbox_config, wait_for


def team_app(tmp_path: Path, url: str) -> EttuiApp:
    from ettui.sandbox import SandboxOptions
    from ettui.session import Session

    config = dataclasses.replace(sandbox_config(tmp_path), store=store_config(url).store)
    options = SandboxOptions(root=tmp_path / "sandbox", scheduled_seconds=0.3, processing_seconds=0.5, records=50)

    async def factory() -> Session:
        return await Session.open(config, sandbox_options=options)

    return EttuiApp(config, session_factory=factory, activity_path=tmp_path / "activity.log")


async def test_a_job_submitted_on_another_host_appears_and_a_restart_resyncs(tmp_path: Path, pg_url: str,
                                                                             pg_server: Any) -> None:  # fmt: skip
    app = team_app(tmp_path, pg_url)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.session is not None and app.jobs_loaded, "the session")
        assert app.session is not None
        at = app.session.clock.now()
        other = await open_store(store_config(pg_url))  # another host's ettui
        try:
            job = await other.add(profile="sandbox", dialect="xml", call="C3", batch_id="424242", submitted_at=at,
                                  request_doc="", params={}, submitted_by="bob@host2")  # fmt: skip
            await wait_for(pilot, lambda: job.id in app.board.jobs, "the other host's job on the board")
            assert app.board.jobs[job.id].submitted_by == "bob@host2"
        finally:
            await other.aclose()
        pg_server.stop("fast")
        try:
            await wait_for(pilot, lambda: "store: reconnecting" in str(app.sub_title), "the board saying so")
        finally:
            pg_server.start()
        other = await open_store(store_config(pg_url))
        try:
            await other.record_status(job.id, JobStatus.COMPLETE, "Complete", at, file_name="other.zip")
        finally:
            await other.aclose()
        await wait_for(pilot, lambda: "reconnecting" not in str(app.sub_title), "the store back")
        await wait_for(pilot, lambda: app.board.jobs[job.id].status is JobStatus.COMPLETE, "the change made meanwhile")
