"""The async job-store interface on SQLite: write-ahead, dismiss, the change feed, never blocking the loop."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ettui.jobs.base import AsyncJobStore, open_store
from ettui.jobs.sqlite import SqliteStore
from ettui.jobs.store import SCHEMA_VERSION, JobStore, StoreError, to_text
from ettui.model import JobStatus

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


async def unconfirmed(store: AsyncJobStore, *, replaces_id: int | None = None):
    return await store.add_unconfirmed(
        profile="main", dialect="xml", call="C1", submitted_at=T0,
        request_doc="<x>masked</x>", params={"a": "1"}, replaces_id=replaces_id,
    )


async def test_write_ahead_then_confirm_keeps_history(tmp_path: Path) -> None:
    store = await open_store(path=tmp_path / "jobs.sqlite3")
    try:
        job = await unconfirmed(store)
        assert job.status is JobStatus.UNCONFIRMED and job.batch_id is None
        assert not job.status.polled and not job.terminal
        assert await store.live("main") == [], "an Unconfirmed job has no batch ID to ask about"
        done = await store.confirm(job.id, batch_id="77", at=T0 + timedelta(seconds=1))
        assert done.status is JobStatus.SCHEDULED and done.batch_id == "77"
        assert [h.status for h in done.history] == [JobStatus.UNCONFIRMED, JobStatus.SCHEDULED]
        assert [j.id for j in await store.live("main")] == [job.id]
        assert (await store.find("77", "main")) is not None
        with pytest.raises(StoreError, match="not Unconfirmed"):
            await store.dismiss(job.id, at=T0)
    finally:
        await store.aclose()


async def test_discard_only_removes_unconfirmed_and_dismiss_keeps_it(tmp_path: Path) -> None:
    store = await open_store(path=tmp_path / "jobs.sqlite3")
    try:
        first, second = await unconfirmed(store), await unconfirmed(store)
        assert await store.discard(first.id) is True
        assert await store.get(first.id) is None
        again = await unconfirmed(store, replaces_id=second.id)
        assert again.replaces_id == second.id
        dismissed = await store.dismiss(second.id, at=T0)
        assert dismissed.status is JobStatus.DISMISSED and dismissed.terminal
        assert await store.discard(second.id) is False, "a dismissed job stays in the history"
        assert await store.count(status=JobStatus.UNCONFIRMED) == 1
    finally:
        await store.aclose()


async def test_change_feed_sees_another_process_write(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite3"
    mine = await open_store(path=path)
    other = JobStore(path)  # another process's connection
    try:
        _, cursor = await mine.changes(-1)
        job = other.add(profile="main", dialect="xml", call="C1", batch_id="5", submitted_at=T0, request_doc="", params={})
        await mine.wait_for_change(timeout=30)  # returns on the commit, not after the timeout
        jobs, cursor = await mine.changes(cursor)
        assert [j.id for j in jobs] == [job.id]
        other.record_status(job.id, JobStatus.COMPLETE, "Complete", T0)
        await mine.wait_for_change(timeout=30)
        jobs, cursor = await mine.changes(cursor)
        assert [(j.id, j.status) for j in jobs] == [(job.id, JobStatus.COMPLETE)]
        assert (await mine.changes(cursor))[0] == []
    finally:
        other.close()
        await mine.aclose()


async def test_find_by_files_is_one_lookup_for_many_names(tmp_path: Path) -> None:
    store = await open_store(path=tmp_path / "jobs.sqlite3")
    assert isinstance(store, SqliteStore)
    try:
        for n in range(3):
            job = store.sync.add(profile="main", dialect="xml", call="C1", batch_id=str(n), submitted_at=T0,
                                 request_doc="", params={})
            store.sync.record_status(job.id, JobStatus.COMPLETE, "Complete", T0, file_name=f"f{n}.zip")
        found = await store.find_by_files(["f0.zip", "f2.zip", "nope.zip"], "main")
        assert sorted(found) == ["f0.zip", "f2.zip"] and found["f2.zip"].batch_id == "2"
        assert await store.find_by_files([], "main") == {}
    finally:
        await store.aclose()


async def test_a_locked_store_never_stalls_the_event_loop(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite3"
    store = await open_store(path=path)
    job = await store.add(profile="main", dialect="xml", call="C1", batch_id="1", submitted_at=T0, request_doc="", params={})
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another ettui process mid-write
    try:
        write = asyncio.ensure_future(store.record_poll(job.id, at=T0, next_at=None, error="boom"))
        ticks = 0
        for _ in range(5):  # the loop keeps turning while the write waits for the lock
            await asyncio.sleep(0)
            ticks += 1
        assert ticks == 5 and not write.done()
    finally:
        other.execute("COMMIT")
        other.close()
    await write
    got = await store.get(job.id)
    assert got is not None and got.last_error == "boom" and got.poll_failures == 1
    await store.record_poll(job.id, at=T0, next_at=None)
    got = await store.get(job.id)
    assert got is not None and got.poll_failures == 0 and got.last_error is None
    await store.aclose()


def _make_v3_file(path: Path) -> None:
    from ettui.jobs.schema import MIGRATIONS

    conn = sqlite3.connect(path, isolation_level=None)
    for step in MIGRATIONS[:3]:
        for statement in step:
            conn.execute(statement)
    conn.execute("PRAGMA user_version = 3")
    conn.execute(
        "INSERT INTO jobs (id, profile, dialect, call, batch_id, submitted_at, status, status_raw) "
        "VALUES (7, 'main', 'xml', 'C1', '9001', ?, 'Complete', 'Complete')", (to_text(T0),),
    )
    conn.execute("INSERT INTO status_history (job_id, at, status, status_raw) VALUES (7, ?, 'Complete', 'Complete')",
                 (to_text(T0),))
    conn.execute("DELETE FROM jobs WHERE id = 7 AND 0")
    conn.execute("INSERT INTO jobs (id, profile, dialect, call, batch_id, submitted_at, status, status_raw) "
                 "VALUES (9, 'main', 'xml', 'C1', '9002', ?, 'Error', 'Error')", (to_text(T0),))
    conn.execute("DELETE FROM jobs WHERE id = 9")
    conn.close()


def test_v3_file_migrates_keeping_history_and_ids(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite3"
    _make_v3_file(path)
    with JobStore(path) as store:
        assert store.schema_version == SCHEMA_VERSION
        job = store.find("9001")
        assert job is not None and job.id == 7 and len(job.history) == 1, "history survived the table rebuild"
        assert job.version > 0
        fresh = store.add(profile="main", dialect="xml", call="C1", batch_id=None, submitted_at=T0, request_doc="",
                          params={}, status=JobStatus.UNCONFIRMED)
        assert fresh.id == 10, "ids of deleted jobs are never reused"
        assert store.enforces_foreign_keys
