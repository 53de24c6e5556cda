"""The session wiring on the sandbox: what the UI and CLI rely on."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from ettui import config
from ettui.drop.client import DropClient
from ettui.model import BatchRequest, JobStatus
from ettui.sandbox import SandboxOptions
from ettui.session import Session
from ettui.session_drop import FetchOutcome


def cfg(tmp_path: Path, dialect: str = "xml") -> config.Config:
    profile = config.sandbox_profile(dialect)
    return config.Config(path=tmp_path / "none.toml", exists=False, default_profile=profile.name,
                         profiles={profile.name: profile})


async def test_relative_dates_follow_the_sandbox_clock(tmp_path: Path) -> None:
    session = await Session.open(
        cfg(tmp_path), store_path=tmp_path / "jobs.sqlite3", start_poller=False,
        sandbox_options=SandboxOptions(root=tmp_path / "sb"),
    )
    try:
        assert session.sandbox is not None
        session.sandbox.clock.advance(40 * 86400)
        day = session.clock.now().date()
        doc = session.preview(BatchRequest("C1", {"start_date": "-7d", "end_date": "today"}))
        assert f"<enddate>{day.month}/{day.day}/{day.year}</enddate>" in doc
        week = day - timedelta(days=7)
        assert f"<startdate>{week.month}/{week.day}/{week.year}</startdate>" in doc
        assert session.sandbox.api_password not in doc
    finally:
        await session.close()


async def test_a_soap_job_keeps_its_file_name_across_sessions(tmp_path: Path) -> None:
    options = SandboxOptions(root=tmp_path / "sb", scheduled_seconds=1, processing_seconds=1)
    store = tmp_path / "jobs.sqlite3"
    first = await Session.open(cfg(tmp_path, "soap"), store_path=store, start_poller=False, sandbox_options=options)
    try:
        job = await first.submit(BatchRequest("tracking-extract", {"StartDate": "-7d", "EndDate": "today",
                                                                   "OutputFileName": "ops.zip"}))
    finally:
        await first.close()
    second = await Session.open(cfg(tmp_path, "soap"), store_path=store, sandbox_options=options)
    try:
        assert second.sandbox is not None
        second.sandbox.clock.advance(5)
        (done,) = await second.wait_until_terminal([job.id], timeout=30)
        assert done.status is JobStatus.COMPLETE
        assert done.file_name == "ops.zip", "the new session's API learned the name the extract asked for"
        assert done.expires_at is not None and done.status_changed_at is not None
        assert done.expires_at - done.status_changed_at == timedelta(days=21)
    finally:
        await second.close()


async def test_drop_listing_reconnects_after_the_server_closes_an_idle_connection(tmp_path: Path) -> None:
    # The sandbox closes a connection idle for 0.5 s, as the vendor does after 10 minutes.
    options = SandboxOptions(root=tmp_path / "sb", scheduled_seconds=0.1, processing_seconds=0.1,
                             sftp_idle_close_seconds=0.5)
    session = await Session.open(cfg(tmp_path), store_path=tmp_path / "jobs.sqlite3", sandbox_options=options)
    try:
        job = await session.submit(BatchRequest("C3", {}))
        await session.wait_until_terminal([job.id], timeout=30)
        first = await session.drop_files()
        assert [f.batch_id for f in first] == [job.batch_id]
        drop = session.drop.transport
        assert isinstance(drop, DropClient)
        deadline = asyncio.get_running_loop().time() + 20
        while drop.connected:  # the server's close reaches the client; no event crosses to here
            assert asyncio.get_running_loop().time() < deadline, "the sandbox never closed the idle connection"
            await asyncio.sleep(0.05)
        again = await session.drop_files()
        assert [f.path for f in again] == [f.path for f in first]
        assert again[0].listed and again[0].size > 0
        assert session.drop.transport is not drop and session.drop.transport is not None
        assert session.drop.transport.connected
    finally:
        await session.close()


async def test_a_wiped_sandbox_never_reuses_a_batch_id_the_store_holds(tmp_path: Path) -> None:
    import shutil

    store = tmp_path / "jobs.sqlite3"
    root = tmp_path / "sb"
    first = await Session.open(cfg(tmp_path), store_path=store, start_poller=False, sandbox_options=SandboxOptions(root=root))
    try:
        old = await first.submit(BatchRequest("C3", {}))
    finally:
        await first.close()
    shutil.rmtree(root)  # the user deletes the sandbox's state; the job history stays
    second = await Session.open(cfg(tmp_path), store_path=store, start_poller=False, sandbox_options=SandboxOptions(root=root))
    try:
        new = await second.submit(BatchRequest("C3", {}))
        assert new.batch_id is not None
        assert old.batch_id is not None
        assert int(new.batch_id) > int(old.batch_id)
        assert {j.batch_id for j in await second.jobs()} == {old.batch_id, new.batch_id}
    finally:
        await second.close()


async def test_watching_ends_when_another_process_finishes_the_job(tmp_path: Path) -> None:
    from ettui.jobs.store import JobStore

    store = tmp_path / "jobs.sqlite3"
    session = await Session.open(cfg(tmp_path), store_path=store, sandbox_options=SandboxOptions(root=tmp_path / "sb"))
    try:
        job = await session.submit(BatchRequest("C3", {}))
        session.pause()  # this process never polls it again
        watching = asyncio.ensure_future(session.wait_until_terminal([job.id], timeout=30))
        with JobStore(store) as other:  # another `ettui status --watch` saw it finish
            other.record_status(job.id, JobStatus.COMPLETE, "Complete", session.clock.now(), file_name="x.zip")
        (done,) = await watching
        assert done.status is JobStatus.COMPLETE
    finally:
        await session.close()


async def test_a_slow_password_command_runs_once_and_off_the_loop(tmp_path: Path) -> None:
    import dataclasses

    from ettui.config import SecretSource
    from ettui.session_drop import drop_password

    marker = tmp_path / "runs"
    command = f"sh -c 'echo run >> {marker}; sleep 0.5; echo sandbox-sftp'"
    profile = dataclasses.replace(config.sandbox_profile(), sftp_password=SecretSource(command=command))
    secret = drop_password(profile)
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticker = asyncio.ensure_future(tick())
    first, second = await asyncio.gather(secret.get(), secret.get())  # a listing and a reconnect at once
    third = await secret.get()
    ticker.cancel()
    assert first == second == third == "sandbox-sftp"
    assert marker.read_text().count("run") == 1, "resolved once per session"
    assert ticks > 5, "the loop kept running while the command ran"


async def test_a_closing_session_lets_go_of_the_fetch_claim_a_stuck_fetch_holds(tmp_path: Path) -> None:
    """A stop that cannot unwind a fetch in time must not leave its claim for the lease: the next run would wait it out."""
    from ettui.jobs.store import JobStore
    from ettui.sandbox.faults import Faults

    faults = Faults()
    options = SandboxOptions(root=tmp_path / "sb", scheduled_seconds=0.1, processing_seconds=0.1,
                             record_bytes=2_000_000, faults=faults)
    store = tmp_path / "jobs.sqlite3"
    session = await Session.open(cfg(tmp_path), store_path=store, sandbox_options=options)
    dest = tmp_path / "dl"
    fetching: asyncio.Future[FetchOutcome] | None = None
    try:
        job = await session.submit(BatchRequest("C3", {}))
        (done,) = await session.wait_until_terminal([job.id], timeout=30)
        assert done.file_name is not None
        faults.sftp_drop_after_bytes = 64 * 1024  # every connection breaks: the download crawls
        fetching = started = asyncio.ensure_future(session.fetch(done, dest=dest, extract=False))
        part = dest / (done.file_name + ".part")
        deadline = asyncio.get_running_loop().time() + 30
        while not (part.exists() and part.stat().st_size > 0):  # the fetch holds its claim and is writing
            assert asyncio.get_running_loop().time() < deadline and not started.done(), "the fetch never started"
            await asyncio.sleep(0.02)
    finally:
        await session.close()  # the fetch is still running, as when a stop's unwinding runs out of time
    with JobStore(store) as other:
        assert other.claim_fetch(job.id, holder="carol@laptop (pid 1)", lease_seconds=60) is None, "the claim was let go"
    assert fetching is not None
    fetching.cancel()
    await asyncio.gather(fetching, return_exceptions=True)
