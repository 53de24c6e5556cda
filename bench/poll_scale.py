"""Polling at scale: one full sweep of 1,000 live jobs through the poller vs a bare loop.

Run: ``python bench/poll_scale.py [--jobs 1000] [--rounds 3] [--concurrency 8]``

Both sides run in the same process against the same sandbox (real HTTP on
127.0.0.1), through the same ``XmlApi`` object and so the same httpx client,
with the same number of requests in flight:

* **bare**: ``asyncio.gather`` of ``api.inquire(batch_id)`` for every job,
  limited by a semaphore. No store, no schedule, no events.
* **poller**: ``Poller.poll_now()`` then ``Poller.sweep_once()`` at its
  default concurrency: it re-reads the live jobs from the store, polls each
  once, and writes status, history and the next poll time for every job.

Rounds alternate (bare, poller, poller, bare, ...) so warm-up and machine noise
fall on both sides. The figure is ``bare / poller`` (1.0: the poller costs
nothing; the goal is at least 0.8), taken on each side's fastest round: on a
shared machine other processes only ever add time, so the minimum is the
steadiest estimate of the cost itself (as ``timeit`` advises); the medians are
printed too. Jobs are kept live by giving the sandbox
very long scheduled/processing times.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ettui.api.xmlapi import XmlApi
from ettui.clock import WallClock
from ettui.jobs.poller import Poller
from ettui.jobs.sqlite import SqliteStore
from ettui.jobs.store import JobStore
from ettui.model import BatchRequest
from ettui.sandbox import Sandbox, SandboxOptions

PROFILE = "bench"


async def submit_all(api: XmlApi, store: JobStore, count: int, concurrency: int) -> list[str]:
    """Submit ``count`` C3 requests and record each job (as ``ettui submit`` would)."""
    limit = asyncio.Semaphore(concurrency)
    clock = WallClock()

    async def one(_: int) -> str:
        async with limit:
            result = await api.submit(BatchRequest("C3", {}))
        await asyncio.to_thread(
            store.add,
            profile=PROFILE,
            dialect=api.dialect,
            call="C3",
            batch_id=result.batch_id,
            submitted_at=clock.now(),
            request_doc=result.request_doc,
            params={},
        )
        return result.batch_id

    return list(await asyncio.gather(*(one(i) for i in range(count))))


async def bare_sweep(api: XmlApi, batch_ids: list[str], concurrency: int) -> float:
    limit = asyncio.Semaphore(concurrency)

    async def one(batch_id: str) -> None:
        async with limit:
            await api.inquire(batch_id)

    t0 = time.perf_counter()
    await asyncio.gather(*(one(b) for b in batch_ids))
    return time.perf_counter() - t0


async def poller_sweep(poller: Poller, expected: int) -> float:
    t0 = time.perf_counter()
    poller.poll_now()
    sent = await poller.sweep_once()
    elapsed = time.perf_counter() - t0
    if sent != expected:
        raise SystemExit(f"the poller sent {sent} requests, expected {expected}")
    return elapsed


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--concurrency", type=int, default=8, help="the poller's default is 8")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        options = SandboxOptions(root=Path(tmp) / "sandbox", scheduled_seconds=1e7, processing_seconds=1e7)
        async with Sandbox(options) as sandbox:
            info = sandbox.info
            api = XmlApi(info.xml_api_url, info.api_username, info.api_password)
            with JobStore(Path(tmp) / "jobs.sqlite3") as store:
                t0 = time.perf_counter()
                batch_ids = await submit_all(api, store, args.jobs, args.concurrency)
                print(f"submitted and recorded {len(batch_ids)} jobs in {time.perf_counter() - t0:.1f} s")
                # The poller takes the async job-store interface: the SQLite backend over this file.
                poller = Poller(SqliteStore(store), api, PROFILE, clock=WallClock(), concurrency=args.concurrency)
                failures: list[str] = []
                poller.subscribe(lambda e: failures.append(str(e.error)) if e.kind in ("error", "throttled") else None)

                await bare_sweep(api, batch_ids, args.concurrency)  # warm-up: connections, caches
                await poller_sweep(poller, len(batch_ids))
                bare: list[float] = []
                polled: list[float] = []
                for round_no in range(args.rounds):
                    if round_no % 2 == 0:
                        bare.append(await bare_sweep(api, batch_ids, args.concurrency))
                        polled.append(await poller_sweep(poller, len(batch_ids)))
                    else:
                        polled.append(await poller_sweep(poller, len(batch_ids)))
                        bare.append(await bare_sweep(api, batch_ids, args.concurrency))
                await api.aclose()
                if failures:
                    print(f"warning: {len(failures)} polls failed, e.g. {failures[0]}")
                live = store.count(profile=PROFILE, status=["Scheduled", "Processing"])

    n = len(batch_ids)
    print(f"{n} live jobs ({live} still live at the end), concurrency {args.concurrency}, {args.rounds} rounds")
    for label, times in (("bare loop   ", bare), ("poller sweep", polled)):
        best, median = min(times), statistics.median(times)
        rounds = ", ".join(f"{x:.3f}" for x in times)
        print(f"  {label}: best {best:6.3f} s ({n / best:5.0f} inquiries/s), median {median:6.3f} s  [{rounds}]")
    best_ratio = min(bare) / min(polled)
    median_ratio = statistics.median(bare) / statistics.median(polled)
    verdict = "meets" if best_ratio >= 0.8 else "misses"
    print(f"  ratio bare/poller: {best_ratio:.2f} on best rounds ({verdict} the 0.8 goal), {median_ratio:.2f} on medians")


if __name__ == "__main__":
    asyncio.run(main())
