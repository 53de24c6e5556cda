"""Team polling: several ettui processes on one PostgreSQL store, many live jobs, one sandbox.

Run: ``python bench/team_poll.py [--processes 5] [--jobs 1000] [--interval 10] [--seconds 40]``

A throwaway PostgreSQL (``tests/pgserver.py``) and a sandbox (real HTTP on
127.0.0.1, jobs kept live for ever) run in this process; ``--processes``
worker processes each run a ``Poller`` (initial = cap = ``--interval``, so a
job is due once per interval) on the shared store. Two figures:

* **inquiries per job per poll interval**, counted at the sandbox over the
  steady part of the run (after the first interval): 1.0 means every job is
  polled once per interval across the team (no duplicate polling; goal 1.0).
  Each worker also reports which batches it polled: "polled by two processes"
  counts jobs that more than one process asked about.
* **time for a change to reach every board**: this process writes 50 status
  changes (one every 0.2 s) to jobs that are not polled; every worker's
  poller announces each through its change feed (LISTEN/NOTIFY + re-read),
  and records how long after the write it saw it (same host, one clock).
  Goal: p95 < 1 s.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ettui.api.xmlapi import XmlApi
from ettui.clock import WallClock
from ettui.config import StoreSettings
from ettui.jobs.poller import JobEvent, Poller
from ettui.jobs.postgres import PostgresStore
from ettui.model import BatchRequest, JobStatus, utcnow

PROFILE = "bench"
MARK = "Complete @"


async def worker(url: str, endpoint: str, user: str, password: str, interval: float, seconds: float, name: str) -> None:
    """One team member: a poller on the shared store for ``seconds``; prints what it polled and saw."""
    store = await PostgresStore.open(StoreSettings(url=url))
    api = XmlApi(endpoint, user, password)
    polled: list[tuple[str, float]] = []  # (batch ID, wall time) of each inquiry
    count = 0
    original = api.inquire

    async def counting(batch_id: str) -> Any:
        nonlocal count
        count += 1
        polled.append((batch_id, time.time()))
        return await original(batch_id)

    api.inquire = counting  # type: ignore[method-assign]
    seen: dict[str, float] = {}

    def on_event(event: JobEvent) -> None:
        job = event.job
        if job is not None and job.status_raw.startswith(MARK) and job.status_raw not in seen:
            seen[job.status_raw] = time.time() - float(job.status_raw[len(MARK):])

    poller = Poller(store, api, PROFILE, clock=WallClock(), initial=interval, cap=interval, jitter=0.1,
                    holder=f"bench-{name}", lease_seconds=max(20.0, 2 * interval))  # fmt: skip
    poller.subscribe(on_event)
    async def watchdog() -> None:  # a hung worker says where, task by task
        await asyncio.sleep(seconds + 30)
        for task in asyncio.all_tasks():
            task.print_stack(file=sys.stderr)

    dog = asyncio.get_running_loop().create_task(watchdog())
    poller.start()
    t_end = time.monotonic() + seconds
    while time.monotonic() < t_end:
        await asyncio.sleep(min(2.0, max(0.0, t_end - time.monotonic())))
        if os.environ.get("TEAM_DEBUG"):
            print(f"{name} t={time.monotonic() % 1000:.1f} held={len(poller.leases.held)} pollers={poller.leases.pollers} "
                  f"slots={len(poller.schedule())} polls={count}", file=sys.stderr, flush=True)
    held, pollers = len(poller.leases.held), poller.leases.pollers
    await poller.stop()
    await api.aclose()
    await store.aclose()
    dog.cancel()
    print(json.dumps({"inquiries": count, "polled": polled, "latencies": list(seen.values()), "held": held,
                      "pollers": pollers}), flush=True)


async def main(args: argparse.Namespace) -> None:
    from ettui.sandbox import Sandbox, SandboxOptions
    from ettui.sandbox.xmlapi import XmlApi as SandboxXmlApi
    from tests.pgserver import postgres_server

    inquiries: list[float] = []  # the time of each inquiry the sandbox answered
    original = SandboxXmlApi._inquire

    def counting(self: SandboxXmlApi, system: Any) -> str:
        inquiries.append(time.monotonic())
        return original(self, system)

    SandboxXmlApi._inquire = counting  # type: ignore[method-assign]
    with tempfile.TemporaryDirectory(prefix="ettui-pg-bench-") as tmp, postgres_server(Path(tmp) / "pg") as server:
        url = server.create_database("team")
        os.environ["PGPASSWORD"] = server.password
        options = SandboxOptions(root=Path(tmp) / "sandbox", scheduled_seconds=1e7, processing_seconds=1e7)
        async with Sandbox(options) as sandbox:
            info = sandbox.info
            api = XmlApi(info.xml_api_url, info.api_username, info.api_password)
            store = await PostgresStore.open(StoreSettings(url=url))
            limit = asyncio.Semaphore(8)

            async def submit(_: int) -> None:
                async with limit:
                    result = await api.submit(BatchRequest("C3", {}))
                    await store.add(profile=PROFILE, dialect="xml", call="C3", batch_id=result.batch_id,
                                    submitted_at=utcnow(), request_doc="", params={})  # fmt: skip

            t0 = time.perf_counter()
            await asyncio.gather(*(submit(i) for i in range(args.jobs)))
            print(f"{args.jobs} live jobs submitted and recorded in {time.perf_counter() - t0:.1f} s")
            boards = [await store.add(profile=PROFILE, dialect="xml", call="C3", batch_id=f"board-{i}",
                                      submitted_at=utcnow(), request_doc="", params={}) for i in range(50)]  # fmt: skip
            for job in boards:  # not polled: only this process changes them
                await store.record_status(job.id, JobStatus.COMPLETE, "Complete", utcnow())
            procs = [
                await asyncio.create_subprocess_exec(
                    sys.executable, __file__, "--worker", url, info.xml_api_url, info.api_username, info.api_password,
                    str(args.interval), str(args.seconds), str(n), stdout=subprocess.PIPE,
                )
                for n in range(args.processes)
            ]
            started, wall_started = time.monotonic(), time.time()
            await asyncio.sleep(args.seconds - 15)  # the board changes take 10 s and end before the workers do
            for job in boards:
                await store.record_status(job.id, JobStatus.COMPLETE, f"{MARK}{time.time():.6f}", utcnow())
                await asyncio.sleep(0.2)
            outputs = [json.loads((await p.communicate())[0].decode().strip().splitlines()[-1]) for p in procs]
            await api.aclose()
            await store.aclose()
    window = (started + args.interval + 3, started + args.seconds - 2)  # after start-up and the first round
    steady = sum(1 for t in inquiries if window[0] <= t < window[1])
    per_interval = steady / args.jobs / ((window[1] - window[0]) / args.interval)
    by_process = [o["inquiries"] for o in outputs]
    polled_by: dict[str, set[int]] = {}
    times: dict[str, list[float]] = {}
    for n, o in enumerate(outputs):
        for batch, at in o["polled"]:
            polled_by.setdefault(batch, set()).add(n)
            times.setdefault(batch, []).append(at)
    twice = sum(1 for who in polled_by.values() if len(who) > 1)
    # Duplicate polling, directly: two inquiries of one job less than half an interval apart
    # (with a 10% jitter, the team's own schedule never puts them closer than 0.9 interval).
    wall = (wall_started + args.interval + 3, wall_started + args.seconds - 2)
    close = gaps = 0
    spans: list[float] = []  # time between successive inquiries of one job (a missed poll shows as ~2 intervals)
    for each in times.values():
        steady = sorted(t for t in each if wall[0] <= t < wall[1])
        gaps += max(0, len(steady) - 1)
        close += sum(1 for a, b in itertools.pairwise(steady) if b - a < args.interval / 2)
        spans += [b - a for a, b in itertools.pairwise(steady)]
    spans.sort()
    latencies = sorted(lat for o in outputs for lat in o["latencies"])
    print(f"{args.processes} processes, {args.jobs} live jobs, poll interval {args.interval:.0f} s, {args.seconds:.0f} s run")
    print(f"inquiries per process: {by_process} (sandbox total {len(inquiries)})")
    print(f"board changes each process saw: {[len(o['latencies']) for o in outputs]} of 50")
    print(f"leases held at the end: {[o['held'] for o in outputs]}, pollers each counted: {[o['pollers'] for o in outputs]}")
    print(f"inquiries per job per poll interval (steady window): {per_interval:.3f}  (goal 1.0)")
    print(f"jobs polled by more than one process over the run (hand-overs included): {twice} of {len(polled_by)}")
    print(f"steady window: {close} of {gaps} successive inquiries of one job less than half an interval apart (duplicates)")
    if spans:
        print(f"steady window: time between a job's inquiries median {statistics.median(spans):.1f} s, "
              f"p99 {spans[int(0.99 * (len(spans) - 1))]:.1f} s, max {spans[-1]:.1f} s (interval {args.interval:.0f} s, "
              f"jitter 10%)")
    if latencies:
        p95 = latencies[int(0.95 * (len(latencies) - 1))]
        print(f"change reaching every board: {len(latencies)} sightings, median {statistics.median(latencies) * 1000:.0f} ms, "
              f"p95 {p95 * 1000:.0f} ms, max {latencies[-1] * 1000:.0f} ms  (goal p95 < 1000 ms)")  # fmt: skip


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        url, endpoint, user, password, interval, seconds, name = sys.argv[2:9]
        import faulthandler

        faulthandler.dump_traceback_later(float(seconds) + 60, exit=True)  # a hung worker says where
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(worker(url, endpoint, user, password, float(interval), float(seconds), name))
        raise SystemExit(0)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=5)
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--interval", type=float, default=10.0, help="seconds between polls of a job")
    parser.add_argument("--seconds", type=float, default=40.0, help="how long the workers run (at least 30)")
    options = parser.parse_args()
    if options.seconds < 30:
        parser.error("--seconds must be at least 30 (start-up, a steady window, 10 s of board changes)")
    asyncio.run(main(options))
    del timedelta
