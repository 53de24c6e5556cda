"""TUI benchmarks: first frame with 10,000 jobs, 1,000 live row updates, keystroke latency, idle CPU.

``python bench/tui.py [--jobs 10000]``

The app runs headless (Textual's test driver) on a real job store with a
stopped clock and no poller, so the figures are the UI's own cost:

* first frame: from starting the app to the board showing jobs, against a
  baseline of a plain ``DataTable`` given the same 10,000 rows;
* 1,000 updates: ``JobBoard.upsert`` of 1,000 changed jobs plus the one
  coalesced re-sort and a redraw;
* keystroke latency: ``down`` key to processed, median and p99, while a
  timer pushes 200 job updates a second into a 1,000-job board (the rate a
  1,000-job poller at its fastest would produce);
* idle CPU: process CPU seconds per wall second with nothing changing.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from textual.app import App, ComposeResult  # noqa: E402
from textual.widgets import DataTable  # noqa: E402

from ettui.clock import ManualClock  # noqa: E402
from ettui.config import Config, Profile, SecretSource, UiSettings  # noqa: E402
from ettui.jobs.store import JobStore  # noqa: E402
from ettui.model import JobStatus  # noqa: E402
from ettui.ui.app import EttuiApp  # noqa: E402
from tests.ui.seeded import NOW  # noqa: E402


def fill_store(path: Path, count: int) -> None:
    """``count`` jobs, a mix of statuses, submitted a minute apart."""
    statuses = [JobStatus.COMPLETE, JobStatus.PROCESSING, JobStatus.SCHEDULED, JobStatus.ERROR]
    with JobStore(path) as store:
        conn = store._conn  # bulk insert: 10,000 fsynced adds would measure the disk, not the UI
        rows = []
        for i in range(count):
            status = statuses[i % 4]
            at = (NOW - timedelta(minutes=i)).isoformat(timespec="microseconds")
            rows.append(("acme", "xml", f"C{1 + i % 8}", str(600000 + i), at, status.value, status.value, at, "", "{}"))
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO jobs (profile, dialect, call, batch_id, submitted_at, status, status_raw, status_changed_at, "
            "request_doc, params_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        conn.execute("COMMIT")


class BenchApp(EttuiApp):
    """The real app on a filled store; the drop is not listed."""

    def __init__(self, tmp: Path) -> None:
        profile = Profile(name="acme", endpoint="https://api.example.invalid/integrate.aspx", api_username="ops",
                          api_password=SecretSource(literal="x"))
        config = Config(path=tmp / "none.toml", exists=True, default_profile="acme", profiles={"acme": profile},
                        ui=UiSettings(expiring_soon_hours=0))

        async def factory():  # type: ignore[no-untyped-def]
            from ettui.session import Session

            return await Session.open(config, store_path=tmp / "jobs.sqlite3", clock=ManualClock(NOW), start_poller=False)

        super().__init__(config, session_factory=factory, activity_path=None)

    def refresh_drop(self) -> None:  # type: ignore[override]
        pass


class PlainTable(App[None]):
    """Baseline: a plain DataTable given every row up front."""

    def __init__(self, rows: list[tuple[str, ...]]) -> None:
        super().__init__()
        self.rows = rows

    def compose(self) -> ComposeResult:
        yield DataTable()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("Batch", "Call", "Status", "Age", "File")
        table.add_rows(self.rows)


async def first_frame(tmp: Path) -> float:
    app = BenchApp(tmp)
    start = time.perf_counter()
    async with app.run_test(size=(120, 40)) as pilot:
        while not app.board.row_count:
            await asyncio.sleep(0.001)
        await pilot.pause()
        elapsed = time.perf_counter() - start
        while not app.jobs_loaded:
            await pilot.pause(0.01)
    return elapsed


async def plain_first_frame(count: int) -> float:
    rows = [(str(600000 + i), "C1", "Complete", "1h 00m", f"file_{i}.zip") for i in range(count)]
    app = PlainTable(rows)
    start = time.perf_counter()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        return time.perf_counter() - start


async def updates_and_latency(tmp: Path) -> tuple[float, float, float, float]:
    app = BenchApp(tmp)
    async with app.run_test(size=(120, 40)) as pilot:
        while not app.jobs_loaded:
            await pilot.pause(0.01)
        jobs = list(app.board.jobs.values())[:1000]
        start = time.perf_counter()
        for job in jobs:
            app.board.upsert(dataclasses.replace(job, status=JobStatus.COMPLETE, status_raw="Complete"))
        app.board.resort()
        await pilot.pause()
        updates = time.perf_counter() - start
        # Keystrokes while 200 updates a second arrive.
        app.board.load(jobs)
        counter = {"i": 0}

        def churn() -> None:
            for _ in range(20):
                job = jobs[counter["i"] % len(jobs)]
                counter["i"] += 1
                app.board.upsert(dataclasses.replace(job, last_poll_at=NOW))

        timer = app.set_interval(0.1, churn)
        latencies = []
        for i in range(200):
            t0 = time.perf_counter()
            await pilot.press("down" if i % 50 < 25 else "up")
            latencies.append(time.perf_counter() - t0)
        timer.stop()
        # Idle CPU: nothing changes (the once-a-second countdown redraw still runs).
        await pilot.pause(0.5)
        cpu0, wall0 = time.process_time(), time.perf_counter()
        await asyncio.sleep(5)
        idle = (time.process_time() - cpu0) / (time.perf_counter() - wall0)
    latencies.sort()
    return updates, statistics.median(latencies), latencies[int(len(latencies) * 0.99) - 1], idle


async def run(count: int) -> None:
    with tempfile.TemporaryDirectory(prefix="ettui-bench-") as name:
        tmp = Path(name)
        fill_store(tmp / "jobs.sqlite3", count)
        ours = await first_frame(tmp)
        plain = await plain_first_frame(count)
        updates, median, p99, idle = await updates_and_latency(tmp)
    print(f"first frame, {count:,} jobs in the store : {ours * 1000:7.0f} ms  (plain DataTable: {plain * 1000:.0f} ms, {plain / ours:.1f}x)")
    print(f"1,000 row updates + re-sort + redraw   : {updates * 1000:7.1f} ms")
    print(f"keystroke latency under 200 updates/s  : median {median * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms")
    print(f"idle CPU                               : {idle * 100:.1f}% of one core")


def main() -> int:
    parser = argparse.ArgumentParser(description="ettui TUI benchmarks")
    parser.add_argument("--jobs", type=int, default=10_000)
    args = parser.parse_args()
    asyncio.run(run(args.jobs))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
