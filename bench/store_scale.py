"""Job store at scale: 100,000 jobs, file size, and list/filter query times.

Run: ``python bench/store_scale.py [--jobs 100000] [--keep DIR]``, or
``python bench/store_scale.py --backend postgres [--url postgresql://USER@HOST/DB]``
(no URL: a throwaway server from ``tests/pgserver.py``; the same listings
through the async ``PostgresStore``, each a round trip over TCP on 127.0.0.1).

The 100,000 jobs (three history entries each, as a finished job has) are
written with plain SQL in one transaction, because the point here is reading
at scale; ``add`` itself (one fsynced transaction per acknowledged job) is
timed separately on a few hundred jobs. Each query is run 20 times through
the public ``JobStore`` API; the median and worst are printed. The goal is
listing and filtering under 50 ms.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ettui.jobs.store import JobStore, to_text
from ettui.model import JobStatus

PROFILES = ["prod", "staging", "eu", "us", "sandbox"]
CALLS = ["C1", "C2", "C3", "C4", "C5", "C6", "C7", "C8"]
GOAL_MS = 50.0


def fill(store: JobStore, count: int, rng: random.Random) -> datetime:
    """Write ``count`` jobs: 1% live, 1% Error, the rest Complete, over the last year."""
    start = datetime(2025, 1, 1, tzinfo=UTC)
    conn = store._conn  # bulk load only; the API path is timed separately
    rows = []
    history = []
    for i in range(count):
        submitted = start + timedelta(seconds=i * 315)  # ~1 year over 100k jobs
        roll = rng.random()
        status = JobStatus.PROCESSING if roll < 0.01 else JobStatus.ERROR if roll < 0.02 else JobStatus.COMPLETE
        done = submitted + timedelta(minutes=3)
        file_name = f"bulkasync_12345678_{submitted:%Y%m%d%H%M%S}000_{i}.zip" if status is JobStatus.COMPLETE else None
        rows.append(
            (
                PROFILES[i % len(PROFILES)],
                "xml",
                CALLS[i % len(CALLS)],
                str(500_000 + i),
                to_text(submitted),
                status.value,
                status.value,
                to_text(done),
                "<exacttarget><system><batch><call>" + "x" * 300 + "</call></batch></system></exacttarget>",
                json.dumps({"StartDate": "1/1/2025", "EndDate": "1/31/2025", "JobID": str(i)}),
                file_name,
                to_text(done),
                to_text(done + timedelta(hours=72)),
            )
        )
        history.append((i + 1, to_text(submitted), "Scheduled", "Scheduled"))
        history.append((i + 1, to_text(submitted + timedelta(minutes=1)), "Processing", "Processing"))
        if status.terminal:
            history.append((i + 1, to_text(done), status.value, status.value))
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO jobs (profile, dialect, call, batch_id, submitted_at, status, status_raw, status_changed_at, "
        "request_doc, params_json, file_name, last_poll_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    conn.executemany("INSERT INTO status_history (job_id, at, status, status_raw) VALUES (?, ?, ?, ?)", history)
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    # No ANALYZE: a user's store never gets one, so neither does the benchmark.
    return start + timedelta(seconds=count * 315)


def timed(label: str, query: Callable[[], object], repeat: int = 20, *, goal: bool = True) -> float:
    times = []
    result: object = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = query()
        times.append((time.perf_counter() - t0) * 1000)
    size = len(result) if isinstance(result, list) else result if isinstance(result, int) else "-"
    median, worst = statistics.median(times), max(times)
    flag = "  (not a listing: whole result)" if not goal else "" if median < GOAL_MS else "  <-- over goal"
    print(f"  {label:<48} {median:8.2f} ms median {worst:8.2f} ms max  rows={size}{flag}")
    return median if goal else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--keep", type=Path, help="write the store here instead of a temp dir")
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--url", help="postgres: an empty database to fill (password in $PGPASSWORD)")
    args = parser.parse_args()
    if args.backend == "postgres":
        postgres_main(args)
        return
    rng = random.Random(1)
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        path = folder / "jobs.sqlite3"
        with JobStore(path) as store:
            t0 = time.perf_counter()
            end = fill(store, args.jobs, rng)
            print(f"bulk load of {args.jobs:,} jobs: {time.perf_counter() - t0:.1f} s")
            size = sum(p.stat().st_size for p in folder.glob("jobs.sqlite3*"))
            print(f"file size: {size / 1e6:.1f} MB ({size / args.jobs:.0f} bytes per job incl. history)")

            t0 = time.perf_counter()
            n_add = 300
            for i in range(n_add):
                store.add(profile="bench", dialect="xml", call="C1", batch_id=f"add-{i}", submitted_at=end,
                          request_doc="<x/>", params={})
            per_add = (time.perf_counter() - t0) / n_add * 1000
            print(f"add() (fsynced, acknowledged): {per_add:.2f} ms per job over {n_add}")
            live = store.live()
            t0 = time.perf_counter()
            for job in live[:300]:
                store.record_status(job.id, job.status, job.status_raw, end)
                store.record_poll(job.id, at=end, next_at=end + timedelta(seconds=5))
            per_poll = (time.perf_counter() - t0) / min(300, len(live)) * 1000
            print(f"record_status + record_poll (one poll's writes): {per_poll:.2f} ms per job")

            print(f"queries at {store.count():,} jobs (goal: under {GOAL_MS:.0f} ms):")
            month_ago = end - timedelta(days=30)
            medians = [
                timed("list newest 100", lambda: store.list(limit=100)),
                timed("list page 50 (offset 5,000)", lambda: store.list(limit=100, offset=5_000)),
                timed("list status=Error newest 100", lambda: store.list(status=JobStatus.ERROR, limit=100)),
                timed("list status in (Complete, Error) newest 100",
                      lambda: store.list(status=[JobStatus.COMPLETE, JobStatus.ERROR], limit=100)),
                timed("list profile=eu newest 100", lambda: store.list(profile="eu", limit=100)),
                timed("list profile=eu status=Complete 100",
                      lambda: store.list(profile="eu", status=JobStatus.COMPLETE, limit=100)),
                timed("list since 30 days newest 100", lambda: store.list(since=month_ago, limit=100)),
                timed("list since 30 days, every row", lambda: store.list(since=month_ago), 5, goal=False),
                timed("list expires_at asc 100", lambda: store.list(order="expires_at asc", limit=100)),
                timed("live() all profiles", lambda: store.live()),
                timed("live(profile=prod)", lambda: store.live("prod")),
                timed("count()", lambda: store.count()),
                timed("count(status=Error, profile=us)", lambda: store.count(status=JobStatus.ERROR, profile="us")),
                timed("find(batch_id)", lambda: store.find(str(500_000 + args.jobs // 2))),
                timed("find_by_file(name)", lambda: store.find_by_file(live[0].file_name or "none")),
                timed("get(id) with history", lambda: store.get(args.jobs // 3)),
            ]
            names = [j.file_name or "none" for j in store.list(status=JobStatus.COMPLETE, limit=200)]
            medians.append(timed("find_by_files(200 names), one query", lambda: store.find_by_files(names)))
            medians.append(async_interface(store))
            print(f"worst median: {max(medians):.2f} ms ({'within' if max(medians) < GOAL_MS else 'OVER'} goal)")


def async_interface(store: JobStore) -> float:
    """The same listing through the async interface (its worker thread), as the UI and poller call it."""
    import asyncio

    from ettui.jobs.sqlite import SqliteStore

    wrapped = SqliteStore(store)

    async def measure() -> float:
        runs = []
        for _ in range(20):
            t0 = time.perf_counter()
            await wrapped.list(limit=100)
            runs.append((time.perf_counter() - t0) * 1000)
        runs.sort()
        median = runs[len(runs) // 2]
        print(f"  {'async list newest 100 (worker thread)':<48} {median:8.2f} ms median {runs[-1]:8.2f} ms max")
        return median

    return asyncio.run(measure())


def postgres_main(args: argparse.Namespace) -> None:
    """The same listings on PostgreSQL: a throwaway server unless ``--url`` names a database."""
    import contextlib
    import os

    from tests.pgserver import postgres_server

    with contextlib.ExitStack() as stack:
        url = args.url
        if url is None:
            folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="ettui-pg-bench-")))
            server = stack.enter_context(postgres_server(folder / "server"))
            url = server.create_database("bench")
            os.environ["PGPASSWORD"] = server.password
        import asyncio

        asyncio.run(postgres_measure(url, args.jobs))


async def postgres_measure(url: str, count: int) -> None:
    import asyncio

    import psycopg

    from ettui.config import StoreSettings
    from ettui.jobs.postgres import PostgresStore

    store = await PostgresStore.open(StoreSettings(url=url))
    try:
        rng = random.Random(1)
        start = datetime(2025, 1, 1, tzinfo=UTC)
        t0 = time.perf_counter()
        async with await psycopg.AsyncConnection.connect(url) as conn:
            async with conn.cursor() as cur:
                async with cur.copy(
                    "COPY jobs (profile, dialect, call, batch_id, submitted_at, status, status_raw, status_changed_at, "
                    "request_doc, params, file_name, last_poll_at, expires_at, version) FROM STDIN"
                ) as copy:
                    for i in range(count):
                        submitted = start + timedelta(seconds=i * 315)
                        roll = rng.random()
                        status = JobStatus.PROCESSING if roll < 0.01 else JobStatus.ERROR if roll < 0.02 else JobStatus.COMPLETE
                        done = submitted + timedelta(minutes=3)
                        file_name = (f"bulkasync_12345678_{submitted:%Y%m%d%H%M%S}000_{i}.zip"
                                     if status is JobStatus.COMPLETE else None)  # fmt: skip
                        await copy.write_row((
                            PROFILES[i % len(PROFILES)], "xml", CALLS[i % len(CALLS)], str(500_000 + i), submitted,
                            status.value, status.value, done,
                            "<exacttarget><system><batch><call>" + "x" * 300 + "</call></batch></system></exacttarget>",
                            json.dumps({"StartDate": "1/1/2025", "EndDate": "1/31/2025", "JobID": str(i)}),
                            file_name, done, done + timedelta(hours=72), i + 1,
                        ))  # fmt: skip
                await cur.execute(
                    "INSERT INTO status_history (job_id, at, status, status_raw) "
                    "SELECT id, submitted_at, 'Scheduled', 'Scheduled' FROM jobs UNION ALL "
                    "SELECT id, submitted_at + interval '1 minute', 'Processing', 'Processing' FROM jobs UNION ALL "
                    "SELECT id, status_changed_at, status, status FROM jobs WHERE status IN ('Complete', 'Error')"
                )
                await cur.execute("SELECT setval('job_changes', %s)", (count + 1,))
            await conn.commit()
            # Autovacuum would ANALYZE a table this size within a minute; the benchmark does not wait for it.
            await conn.execute("ANALYZE")
            await conn.commit()
        end = start + timedelta(seconds=count * 315)
        print(f"bulk load of {count:,} jobs (COPY): {time.perf_counter() - t0:.1f} s")

        async def atimed(label: str, query: Any, repeat: int = 20, *, goal: bool = True) -> float:
            times = []
            result: object = None
            for _ in range(repeat):
                t1 = time.perf_counter()
                result = await query()
                times.append((time.perf_counter() - t1) * 1000)
            size = len(result) if isinstance(result, (list, dict)) else result if isinstance(result, int) else "-"
            median, worst = statistics.median(times), max(times)
            flag = "  (not a listing: whole result)" if not goal else "" if median < GOAL_MS else "  <-- over goal"
            print(f"  {label:<48} {median:8.2f} ms median {worst:8.2f} ms max  rows={size}{flag}")
            return median if goal else 0.0

        t1 = time.perf_counter()
        for i in range(300):
            await store.add(profile="bench", dialect="xml", call="C1", batch_id=f"add-{i}", submitted_at=end,
                            request_doc="<x/>", params={})  # fmt: skip
        print(f"add() (committed, acknowledged): {(time.perf_counter() - t1) / 300 * 1000:.2f} ms per job over 300")
        live = await store.live()
        t1 = time.perf_counter()
        for job in live[:300]:
            await store.record_status(job.id, job.status, job.status_raw, end,
                                      next_poll=(end + timedelta(seconds=5), end + timedelta(seconds=5)))  # fmt: skip
        per_job = (time.perf_counter() - t1) / min(300, len(live))
        print(f"record_status with next_poll (one poll's write): {per_job * 1000:.2f} ms per job")
        ids = [j.id for j in live[:200]]
        t1 = time.perf_counter()
        await store.claim(ids, holder="bench", lease_seconds=30)
        print(f"claim(200 live jobs), one statement: {(time.perf_counter() - t1) * 1000:.2f} ms")
        month_ago = end - timedelta(days=30)
        print(f"queries at {await store.count():,} jobs (goal: under {GOAL_MS:.0f} ms):")
        medians = [
            await atimed("list newest 100", lambda: store.list(limit=100)),
            await atimed("list page 50 (offset 5,000)", lambda: store.list(limit=100, offset=5_000)),
            await atimed("list status=Error newest 100", lambda: store.list(status=JobStatus.ERROR, limit=100)),
            await atimed("list status in (Complete, Error) newest 100",
                         lambda: store.list(status=[JobStatus.COMPLETE, JobStatus.ERROR], limit=100)),
            await atimed("list profile=eu newest 100", lambda: store.list(profile="eu", limit=100)),
            await atimed("list profile=eu status=Complete 100",
                         lambda: store.list(profile="eu", status=JobStatus.COMPLETE, limit=100)),
            await atimed("list since 30 days newest 100", lambda: store.list(since=month_ago, limit=100)),
            await atimed("list since 30 days, every row", lambda: store.list(since=month_ago), 5, goal=False),
            await atimed("list expires_at asc 100", lambda: store.list(order="expires_at asc", limit=100)),
            await atimed("live() all profiles", lambda: store.live()),
            await atimed("live(profile=prod)", lambda: store.live("prod")),
            await atimed("count()", lambda: store.count()),
            await atimed("count(status=Error, profile=us)", lambda: store.count(status=JobStatus.ERROR, profile="us")),
            await atimed("find(batch_id)", lambda: store.find(str(500_000 + count // 2))),
            await atimed("find_by_file(name)", lambda: store.find_by_file(live[0].file_name or "none")),
            await atimed("get(id) with history", lambda: store.get(count // 3)),
            await atimed("changes(cursor) after 300 writes", lambda: store.changes(count)),
        ]
        names = [j.file_name or "none" for j in await store.list(status=JobStatus.COMPLETE, limit=200)]
        medians.append(await atimed("find_by_files(200 names), one round trip", lambda: store.find_by_files(names)))
        print(f"worst median: {max(medians):.2f} ms ({'within' if max(medians) < GOAL_MS else 'OVER'} goal)")
        del asyncio
    finally:
        await store.aclose()


if __name__ == "__main__":
    main()
