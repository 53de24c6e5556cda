"""One contract, both backends: every test here runs on SQLite and on a real PostgreSQL.

``store`` (tests/conftest.py) is the async job store of each backend;
``open_another`` opens a second one on the same history, as another ettui
process or host would. Nothing here knows which backend it has.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ettui.jobs.base import AsyncJobStore
from ettui.jobs.store import StoreError
from ettui.model import Job, JobStatus

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


async def add(store: AsyncJobStore, batch_id: str, *, profile: str = "main", at: datetime = T0,
              call: str = "C1", by: str | None = None) -> Job:  # fmt: skip
    return await store.add(
        profile=profile, dialect="xml", call=call, batch_id=batch_id, submitted_at=at,
        request_doc="<exacttarget/>", params={"StartDate": "1/1/2026"}, submitted_by=by,
    )  # fmt: skip


async def unconfirmed(store: AsyncJobStore, *, at: datetime = T0, replaces_id: int | None = None) -> Job:
    return await store.add_unconfirmed(
        profile="main", dialect="xml", call="C1", submitted_at=at,
        request_doc="<x>masked</x>", params={"a": "1"}, replaces_id=replaces_id, submitted_by="ann@host1",
    )  # fmt: skip


async def test_add_round_trips_every_field(store: AsyncJobStore) -> None:
    job = await add(store, "101", by="ann@host1")
    got = await store.get(job.id)
    assert got is not None and got == job
    assert got.submitted_at == T0 and got.submitted_at.tzinfo is not None
    assert got.params == {"StartDate": "1/1/2026"} and got.submitted_by == "ann@host1"
    assert [h.status for h in got.history] == [JobStatus.SCHEDULED]
    assert store.status is None and store.schema_version >= 1 and "team-secret" not in store.location


async def test_write_ahead_confirm_discard_dismiss(store: AsyncJobStore) -> None:
    job = await unconfirmed(store)
    assert job.status is JobStatus.UNCONFIRMED and job.batch_id is None
    assert await store.live("main") == []
    done = await store.confirm(job.id, batch_id="77", at=T0 + timedelta(seconds=1))
    assert done.status is JobStatus.SCHEDULED and done.batch_id == "77" and done.version > job.version
    assert [h.status for h in done.history] == [JobStatus.UNCONFIRMED, JobStatus.SCHEDULED]
    with pytest.raises(StoreError, match="not Unconfirmed"):
        await store.dismiss(job.id, at=T0)
    first, second = await unconfirmed(store), await unconfirmed(store)
    assert await store.discard(first.id) is True and await store.get(first.id) is None
    again = await unconfirmed(store, replaces_id=second.id)
    assert again.replaces_id == second.id
    dismissed = await store.dismiss(second.id, at=T0)
    assert dismissed.status is JobStatus.DISMISSED and await store.discard(second.id) is False
    with pytest.raises(StoreError, match="already has batch ID 77"):
        await store.confirm(again.id, batch_id="77", at=T0)
    assert (await store.note(again.id, "no reply")).last_error == "no reply"


async def test_duplicate_batch_refused_in_a_profile_not_across_profiles(store: AsyncJobStore) -> None:
    await add(store, "1")
    with pytest.raises(StoreError, match="already has a job with batch ID 1"):
        await add(store, "1")
    await add(store, "1", profile="other")
    with pytest.raises(ValueError, match="naive"):
        await add(store, "2", at=datetime(2026, 1, 1))


async def test_record_status_history_file_name_error_and_next_poll(store: AsyncJobStore) -> None:
    job = await add(store, "1")
    same, changed = await store.record_status(job.id, JobStatus.SCHEDULED, "Scheduled", T0)
    assert not changed and len(same.history) == 1
    later = (T0 + timedelta(seconds=5), T0 + timedelta(seconds=10))
    moved, changed = await store.record_status(job.id, JobStatus.PROCESSING, "Processing", T0, next_poll=later)
    assert changed and moved.next_poll_at == later[0] and moved.last_poll_at == T0
    odd, changed = await store.record_status(job.id, JobStatus.UNKNOWN, "Weird", T0)
    assert changed and odd.status_raw == "Weird"
    done, _ = await store.record_status(job.id, JobStatus.COMPLETE, "Complete", T0, file_name="f.zip", next_poll=later)
    assert done.file_name == "f.zip" and done.next_poll_at is None
    kept, _ = await store.record_status(job.id, JobStatus.COMPLETE, "Complete", T0)
    assert kept.file_name == "f.zip"
    failed = await add(store, "2")
    bad, _ = await store.record_status(failed.id, JobStatus.ERROR, "Error", T0, message="No data")
    assert bad.last_error == "No data"
    assert [h.status_raw for h in kept.history] == ["Scheduled", "Processing", "Weird", "Complete"]


async def test_polls_downloads_extracts_expiry_and_who_fetched(store: AsyncJobStore) -> None:
    job = await add(store, "1")
    one = await store.record_poll(job.id, at=T0, next_at=T0 + timedelta(seconds=5), error="timed out")
    two = await store.record_poll(job.id, at=T0, next_at=None, error="timed out")
    assert (one.poll_failures, two.poll_failures, two.next_poll_at) == (1, 2, None)
    ok = await store.record_poll(job.id, at=T0, next_at=T0, error=None)
    assert ok.poll_failures == 0 and ok.last_error is None
    got = await store.record_download(job.id, path="/d/f.zip", sha256="ab" * 32, fetched_by="bob@host2")
    assert got.downloaded and got.fetched_by == "bob@host2"
    assert (await store.record_extract(job.id, path="/d/f")).extract_dir == "/d/f"
    assert (await store.set_expires(job.id, T0 + timedelta(hours=72))).expires_at == T0 + timedelta(hours=72)
    assert (await store.set_expires(job.id, None)).expires_at is None
    with pytest.raises(KeyError):
        await store.record_poll(9999, at=T0, next_at=None)


async def test_find_and_find_by_files_prefer_the_newest(store: AsyncJobStore) -> None:
    old = await add(store, "5", profile="a", at=T0)
    new = await add(store, "5", profile="b", at=T0 + timedelta(hours=1))
    assert (await store.find("5")).id == new.id  # type: ignore[union-attr]
    assert (await store.find("5", "a")).id == old.id  # type: ignore[union-attr]
    assert await store.find("nope") is None
    for job, name in ((old, "x.zip"), (new, "x.zip")):
        await store.record_status(job.id, JobStatus.COMPLETE, "Complete", T0, file_name=name)
    assert (await store.find_by_file("x.zip")).id == new.id  # type: ignore[union-attr]
    found = await store.find_by_files(["x.zip", "missing.zip"])
    assert list(found) == ["x.zip"] and found["x.zip"].id == new.id
    assert (await store.find_by_files(["x.zip"], profile="a"))["x.zip"].id == old.id
    assert await store.find_by_files([]) == {}


async def test_list_count_live_filters_order_and_paging(store: AsyncJobStore) -> None:
    jobs = [await add(store, str(i), profile="p" if i % 2 else "q", at=T0 + timedelta(minutes=i)) for i in range(10)]
    await store.record_status(jobs[0].id, JobStatus.COMPLETE, "Complete", T0, file_name="a.zip")
    await store.record_status(jobs[1].id, JobStatus.ERROR, "Error", T0)
    await store.record_status(jobs[2].id, JobStatus.PROCESSING, "Processing", T0)
    listed = await store.list()
    assert [j.id for j in listed] == [j.id for j in reversed(jobs)]
    assert [j.id for j in await store.list(order="submitted_at asc", limit=3, offset=2)] == [j.id for j in jobs[2:5]]
    assert await store.count() == 10 and await store.count(profile="p") == 5
    assert await store.count(status=[JobStatus.COMPLETE, "Error"]) == 2
    assert await store.count(status=[]) == 0
    assert await store.count(since=T0 + timedelta(minutes=8)) == 2
    by_file = await store.list(order="file_name desc")
    assert by_file[0].file_name == "a.zip" and (await store.list(order="file_name asc"))[-1].file_name == "a.zip", \
        "NULLs: first ascending, last descending, on both backends"
    assert [j.id for j in await store.live("q")] == [jobs[i].id for i in (2, 4, 6, 8)]
    assert len(await store.live()) == 8
    with pytest.raises(ValueError, match="cannot order jobs by"):
        await store.list(order="request_doc; drop table jobs")


async def test_change_feed_and_notification_reach_another_process(store: AsyncJobStore, open_another: Any) -> None:
    other: AsyncJobStore = await open_another()
    try:
        _, cursor = await store.changes(-1)
        job = await add(other, "5", by="bob@host2")
        await store.wait_for_change(timeout=30)  # returns on the commit, not after the timeout
        jobs, cursor = await store.changes(cursor)
        assert [(j.id, j.submitted_by) for j in jobs] == [(job.id, "bob@host2")]
        await other.record_status(job.id, JobStatus.COMPLETE, "Complete", T0)
        await store.wait_for_change(timeout=30)
        jobs, cursor = await store.changes(cursor)
        assert [(j.id, j.status) for j in jobs] == [(job.id, JobStatus.COMPLETE)]
        assert (await store.changes(cursor))[0] == []
    finally:
        await other.aclose()


async def test_versions_from_concurrent_writers_are_seen_in_order(store: AsyncJobStore, open_another: Any) -> None:
    """Many writers at once: a reader following the feed misses no write (versions commit in order)."""
    others: list[AsyncJobStore] = [await open_another() for _ in range(3)]
    try:
        _, cursor = await store.changes(-1)
        seen: set[int] = set()

        async def writer(s: AsyncJobStore, n: int) -> list[int]:
            return [(await add(s, f"{n}-{i}")).id for i in range(15)]

        async def reader(stop: asyncio.Event) -> None:
            nonlocal cursor
            while not stop.is_set():
                jobs, cursor = await store.changes(cursor)
                seen.update(j.id for j in jobs)
                await asyncio.sleep(0)

        stop = asyncio.Event()
        read = asyncio.ensure_future(reader(stop))
        written = await asyncio.gather(*(writer(s, n) for n, s in enumerate(others)))
        stop.set()
        await read
        jobs, cursor = await store.changes(cursor)
        seen.update(j.id for j in jobs)
        assert seen == {i for ids in written for i in ids}
    finally:
        for other in others:
            await other.aclose()


async def test_a_live_job_is_leased_to_one_holder_at_a_time(store: AsyncJobStore, open_another: Any) -> None:
    other: AsyncJobStore = await open_another()
    try:
        a, b = await add(store, "1"), await add(store, "2")
        done = await add(store, "3")
        await store.record_status(done.id, JobStatus.COMPLETE, "Complete", T0)
        assert await store.claim([a.id, done.id], holder="p1", lease_seconds=60) == {a.id}, "a finished job has no lease"
        assert await other.claim([a.id, b.id], holder="p2", lease_seconds=60) == {b.id}
        assert await store.claim([a.id], holder="p1", lease_seconds=60) == {a.id}, "the holder renews by claiming"
        assert await store.renew(holder="p1", lease_seconds=60) == {a.id}
        await store.release(holder="p1")
        assert await other.claim([a.id], holder="p2", lease_seconds=60) == {a.id}, "released: taken at once"
        await other.release(holder="p2", job_ids=[b.id])
        assert await other.renew(holder="p2", lease_seconds=60) == {a.id}
        assert await store.claim([b.id], holder="p1", lease_seconds=60) == {b.id}
    finally:
        await other.aclose()


async def test_a_lease_that_runs_out_is_taken_over(store: AsyncJobStore, open_another: Any) -> None:
    other: AsyncJobStore = await open_another()
    try:
        job = await add(store, "1")
        assert await store.claim([job.id], holder="dead", lease_seconds=0.2) == {job.id}
        assert await other.claim([job.id], holder="alive", lease_seconds=60) == set()
        # The lease is measured on the store's clock: wait for it to pass, then take over.
        for _ in range(200):
            if await other.claim([job.id], holder="alive", lease_seconds=60):
                break
            await asyncio.sleep(0.05)
        assert await other.renew(holder="alive", lease_seconds=60) == {job.id}
        assert await store.renew(holder="dead", lease_seconds=60) == set(), "the old holder lost it"
    finally:
        await other.aclose()


async def test_racing_claims_give_each_job_to_exactly_one_holder(store: AsyncJobStore, open_another: Any) -> None:
    others: list[AsyncJobStore] = [await open_another() for _ in range(3)]
    try:
        ids = [(await add(store, str(i))).id for i in range(40)]
        won = await asyncio.gather(
            *(s.claim(ids, holder=f"p{n}", lease_seconds=60) for n, s in enumerate(others))
        )
        assert sorted(i for held in won for i in held) == sorted(ids), "every job once, none twice"
    finally:
        for other in others:
            await other.aclose()


async def test_a_fetch_claim_names_who_is_fetching(store: AsyncJobStore, open_another: Any) -> None:
    other: AsyncJobStore = await open_another()
    try:
        job = await add(store, "1")
        assert await store.claim_fetch(job.id, holder="ann@host1 (pid 1)", lease_seconds=60) is None
        assert await other.claim_fetch(job.id, holder="bob@host2 (pid 2)", lease_seconds=60) == "ann@host1 (pid 1)"
        assert await store.claim_fetch(job.id, holder="ann@host1 (pid 1)", lease_seconds=60) is None
        await other.release_fetch(job.id, holder="bob@host2 (pid 2)")  # not theirs: no effect
        assert await other.claim_fetch(job.id, holder="bob@host2 (pid 2)", lease_seconds=60) == "ann@host1 (pid 1)"
        await store.release_fetch(job.id, holder="ann@host1 (pid 1)")
        assert await other.claim_fetch(job.id, holder="bob@host2 (pid 2)", lease_seconds=60) is None
    finally:
        await other.aclose()


async def test_import_copies_history_once(store: AsyncJobStore, tmp_path: Any) -> None:
    from ettui.jobs.base import open_store

    source = await open_store(path=tmp_path / "laptop" / "jobs.sqlite3")
    try:
        job = await add(source, "42", by="ann@laptop")
        await source.record_status(job.id, JobStatus.COMPLETE, "Complete", T0, file_name="f.zip")
        wa = await unconfirmed(source)
        full = [j for j in [await source.get(job.id), await source.get(wa.id)] if j is not None]
    finally:
        await source.aclose()
    assert [await store.import_job(j) for j in full] == [True, True]
    assert [await store.import_job(j) for j in full] == [False, False], "idempotent"
    copied = await store.find("42", "main")
    assert copied is not None and copied.submitted_by == "ann@laptop" and copied.file_name == "f.zip"
    assert [h.status_raw for h in copied.history] == ["Scheduled", "Complete"]
    assert await store.count(status=JobStatus.UNCONFIRMED) == 1


async def test_postgres_restart_says_reconnecting_then_resyncs(pg_url: str, pg_server: Any) -> None:
    """The server restarts: ``status`` says so meanwhile, and after it a reader catches up on the feed."""
    from ettui.jobs.base import open_store
    from tests.stores import store_config

    board = await open_store(store_config(pg_url))
    try:
        _, cursor = await board.changes(-1)
        pg_server.stop("fast")
        try:
            for _ in range(200):  # each wait returns on the drop (the timeout only bounds a hang)
                if board.status is not None:
                    break
                await board.wait_for_change(timeout=0.1)
            assert board.status == "store: reconnecting"
            with pytest.raises(StoreError, match="cannot be reached"):
                await board.changes(cursor)
        finally:
            pg_server.start()
        writer = await open_store(store_config(pg_url))
        try:
            job = await add(writer, "9", by="bob@host2")
        finally:
            await writer.aclose()
        for _ in range(200):
            await board.wait_for_change(timeout=0.1)
            if board.status is None:
                break
        assert board.status is None
        jobs, _ = await board.changes(cursor)
        assert [j.id for j in jobs] == [job.id]
    finally:
        await board.aclose()


async def test_an_unreachable_or_refusing_store_is_one_sentence_without_the_password(pg_url: str, monkeypatch: Any) -> None:
    import socket

    from ettui.jobs.base import open_store
    from tests.stores import PG_PASSWORD_ENV, store_config

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(StoreError, match=f"Cannot reach the shared job store postgresql://ettui@127.0.0.1:{port}/x"):
        await open_store(store_config(f"postgresql://ettui@127.0.0.1:{port}/x"))
    monkeypatch.setenv(PG_PASSWORD_ENV, "wrong-password")
    with pytest.raises(StoreError, match="password authentication failed") as caught:
        await open_store(store_config(pg_url))
    assert "wrong-password" not in caught.value.message


async def test_a_closed_store_refuses_calls_with_a_sentence(open_another: Any) -> None:
    """A worker of a closing app may still call: a StoreError, never a RuntimeError from a dead executor or pool."""
    other: AsyncJobStore = await open_another()
    job = await add(other, "501")
    await other.aclose()
    await other.aclose()  # idempotent
    for call in (other.get(job.id), other.list(status=JobStatus.COMPLETE, profile="main"), add(other, "502")):
        with pytest.raises(StoreError):
            await call


async def test_store_url_from_the_environment_when_the_config_names_none(
    pg_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """$ETTUI_STORE_URL (the PostgreSQL test pass, a container) opens the shared store; a [store] url still wins."""
    from ettui.jobs.base import STORE_URL_ENV, open_store
    from tests.pgserver import PASSWORD
    from tests.stores import store_config

    monkeypatch.setenv(STORE_URL_ENV, pg_url)
    monkeypatch.setenv("PGPASSWORD", PASSWORD)  # libpq's own source: the config names none
    shared = await open_store(store_config(None))
    try:
        assert shared.location == pg_url
        job = await add(shared, "env-1")
    finally:
        await shared.aclose()
    local = await open_store(store_config(None), path=tmp_path / "jobs.sqlite3")  # a path forces the local file
    try:
        assert local.location.endswith("jobs.sqlite3") and await local.get(job.id) is None
    finally:
        await local.aclose()
    monkeypatch.setenv(STORE_URL_ENV, "postgresql://nobody@127.0.0.1:1/none")
    configured = await open_store(store_config(pg_url))  # the config's URL, not the environment's
    try:
        assert (await configured.find("env-1")) is not None
    finally:
        await configured.aclose()
