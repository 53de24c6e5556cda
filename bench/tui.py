"""TUI benchmarks: first frame with 10,000 jobs, 1,000 live row updates, keystroke latency, idle CPU.

``python bench/tui.py [--jobs 10000]``

The app runs headless (Textual's test driver) on a real job store with a
stopped clock and no poller, so the figures are the UI's own cost:

* first frame: from starting the app to the first frame drawn with jobs on
  the board (the frame the compositor hands the driver), for the first, cold
  start in the process (what a user gets) and the median of five, against a
  baseline of a plain ``DataTable`` given the same 10,000 rows; also the
  time until every job is loaded and sorted in the background;
* 1,000 updates: ``JobBoard.upsert`` of 1,000 changed jobs, the re-sort
  and the next frame drawn;
* keystroke latency: from a ``down``/``up`` key event entering the app to the
  frame that shows the moved cursor, median and p99, while a timer pushes 200
  job updates a second into a 1,000-job board (the rate a 1,000-job poller at
  its fastest would produce) and a download reports progress 100 times a
  second. (Pilot's ``press`` waits for the whole process to go idle, which
  measures the background load, not the key; so this hooks the frame.)
* idle CPU: process CPU seconds per wall second with nothing changing but
  the clock (countdowns tick once a second).
* slow password command: key to frame (a character typed into the filter
  field, 200 keys) while the profile's ``api_password_command`` takes 25 s
  (``--slow-secret``): the session opens in the background, the UI answers.
* locked store: key to frame (cursor moves, 1,000-job board) while another
  process holds the job store's write lock for 5 s (``--lock-seconds``) and
  the app has a store write and a full reload of the jobs waiting behind it.
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

from collections.abc import Callable

from textual import events
from textual.app import App, ComposeResult
from textual.widgets import DataTable, Input

from ettui.clock import ManualClock
from ettui.config import Config, Profile, SecretSource, UiSettings
from ettui.jobs.store import JobStore
from ettui.model import DropFile, JobStatus, Progress
from ettui.ui.app import EttuiApp
from ettui.ui.widgets.drop_pane import DropPane
from ettui.ui.widgets.job_board import JobBoard
from tests.ui.seeded import NOW

FIRST_FRAME_RUNS = 5
"""Start-ups measured (the machine's noise is larger than the differences sought)."""


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


class QuietDropPane(DropPane):
    """A Drop pane that never lists (the bench measures the board)."""

    def refresh_drop(self, manual: bool = False) -> None:  # type: ignore[override]
        pass


class BenchApp(EttuiApp):
    """The real app on a filled store; the drop is not listed.

    ``frames`` counts the frames the compositor hands the driver; ``on_frame``
    (when set) runs after each one.
    """

    DROP_PANE = QuietDropPane

    def __init__(self, tmp: Path, password_command: str | None = None) -> None:
        secret = SecretSource(command=password_command) if password_command else SecretSource(literal="x")
        profile = Profile(name="acme", endpoint="https://api.example.invalid/integrate.aspx", api_username="ops",
                          api_password=secret)
        config = Config(path=tmp / "none.toml", exists=True, default_profile="acme", profiles={"acme": profile},
                        ui=UiSettings(expiring_soon_hours=0))

        async def factory():  # type: ignore[no-untyped-def]
            from ettui.session import Session

            return await Session.open(config, store_path=tmp / "jobs.sqlite3", clock=ManualClock(NOW), start_poller=False)

        super().__init__(config, session_factory=factory, activity_path=None)
        self.frames = 0
        self.on_frame: Callable[[], None] | None = None

    def _display(self, screen, renderable):  # type: ignore[no-untyped-def]
        super()._display(screen, renderable)
        if renderable is not None:
            self.frames += 1
            if self.on_frame is not None:
                self.on_frame()



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


async def first_frame(tmp: Path) -> tuple[float, float]:
    """Seconds to the first frame showing jobs, and to every job loaded and sorted."""
    app = BenchApp(tmp)
    shown: list[float] = []

    def frame() -> None:
        if not shown and len(app.screen_stack) == 1 and app.main.query(JobBoard) and app.board.row_count:
            shown.append(time.perf_counter())

    app.on_frame = frame
    start = time.perf_counter()
    async with app.run_test(size=(120, 40)) as pilot:
        # The bench times when these become true and the app has no event for them:
        # a 1 ms poll is the measuring stick, not a wait that an Event would replace.
        while not shown:  # noqa: ASYNC110
            await asyncio.sleep(0.001)
        while not app.jobs_loaded or app.board.row_count < len(app.board.jobs):  # noqa: ASYNC110
            await asyncio.sleep(0.001)
        loaded = time.perf_counter() - start
        await pilot.pause()
    return shown[0] - start, loaded


async def plain_first_frame(count: int) -> float:
    rows = [(str(600000 + i), "C1", "Complete", "1h 00m", f"file_{i}.zip") for i in range(count)]
    app = PlainTable(rows)
    start = time.perf_counter()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        return time.perf_counter() - start


async def key_to_frame(app: BenchApp, key: str) -> float:
    """Seconds from ``key`` entering the app to the frame that shows the cursor moved."""
    board = app.board
    want = board.cursor_row + (1 if key == "down" else -1)
    drawn = asyncio.Event()

    def frame() -> None:
        if board.cursor_row == want:
            drawn.set()

    app.on_frame = frame
    start = time.perf_counter()
    event = events.Key(key, None)
    event.set_sender(app)
    assert app._driver is not None
    app._driver.send_message(event)
    await asyncio.wait_for(drawn.wait(), 5)
    elapsed = time.perf_counter() - start
    app.on_frame = None
    return elapsed


def start_download(app: BenchApp) -> Callable[[], None]:
    """A file in the drop downloading, its progress reported 100 times a second; returns a stop."""
    drop_file = DropFile("/bulkasync_1_bench.zip", 300_000_000, NOW, NOW + timedelta(hours=30), None, "600000")
    app.drop.load([drop_file])
    app.drop_pane._downloading.add(drop_file.path)
    app.drop.update_transfer(drop_file.path, state="downloading")
    app.drop_pane._start_progress_timer()
    done = {"bytes": 0}

    def report() -> None:
        done["bytes"] += 320_000
        app.drop_pane._on_progress(drop_file.path, Progress(done["bytes"], drop_file.size, 32_000_000.0))

    timer = app.set_interval(0.01, report)

    def stop() -> None:
        timer.stop()
        app.drop_pane._downloading.discard(drop_file.path)
        app.drop.update_transfer(drop_file.path, state="downloaded", progress=None)

    return stop


async def updates_and_latency(tmp: Path) -> tuple[float, float, float, float]:
    app = BenchApp(tmp)
    async with app.run_test(size=(120, 40)) as pilot:
        while not app.jobs_loaded:
            await pilot.pause(0.01)
        await pilot.pause()
        jobs = list(app.board.jobs.values())[:1000]
        changed = [dataclasses.replace(job, status=JobStatus.COMPLETE, status_raw="Complete") for job in jobs]
        drawn = asyncio.Event()
        start = time.perf_counter()
        for job in changed:
            app.board.upsert(job)
        app.board.resort()
        app.on_frame = drawn.set
        await drawn.wait()
        updates = time.perf_counter() - start
        app.on_frame = None
        # Keystrokes while 200 updates a second arrive.
        app.board.load(jobs)
        counter = {"i": 0}

        def churn() -> None:
            for _ in range(20):
                job = jobs[counter["i"] % len(jobs)]
                counter["i"] += 1
                app.board.upsert(dataclasses.replace(job, last_poll_at=NOW))

        timer = app.set_interval(0.1, churn)
        stop_download = start_download(app)
        await asyncio.sleep(0.3)
        latencies = []
        for i in range(200):
            latencies.append(await key_to_frame(app, "down" if i % 50 < 25 else "up"))
            await asyncio.sleep(0.01)  # a fast typist's key repeat, not a flood
        timer.stop()
        stop_download()
        # Idle CPU: nothing changes (the once-a-second countdown redraw still runs).
        await pilot.pause(0.5)
        cpu0, wall0 = time.process_time(), time.perf_counter()
        await asyncio.sleep(5)
        idle = (time.process_time() - cpu0) / (time.perf_counter() - wall0)
    latencies.sort()
    return updates, statistics.median(latencies), latencies[int(len(latencies) * 0.99) - 1], idle


async def key_to_text(app: BenchApp, field: Input, key: str) -> float:
    """Seconds from a key entering the app to the frame that shows the filter field's new text."""
    before = field.value
    drawn = asyncio.Event()

    def frame() -> None:
        if field.value != before:
            drawn.set()

    app.on_frame = frame
    start = time.perf_counter()
    event = events.Key(key, key if len(key) == 1 else None)
    event.set_sender(app)
    assert app._driver is not None
    app._driver.send_message(event)
    await asyncio.wait_for(drawn.wait(), 5)
    app.on_frame = None
    return time.perf_counter() - start


def percentiles(latencies: list[float]) -> tuple[float, float]:
    latencies = sorted(latencies)
    return statistics.median(latencies), latencies[max(0, int(len(latencies) * 0.99) - 1)]


async def slow_secret_latency(tmp: Path, seconds: float) -> tuple[float, float, bool]:
    """Key to frame while the API password command runs; and whether the session was still opening."""
    app = BenchApp(tmp, password_command=f"sh -c 'sleep {seconds:g}; echo x'")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        app.action_filter()
        field = app.main.query_one("#jobs-filter", Input)
        await pilot.pause()
        latencies = []
        for i in range(200):
            latencies.append(await key_to_text(app, field, "a" if i % 2 == 0 else "backspace"))
            await asyncio.sleep(0.01)
        opening = app.session is None
    median, p99 = percentiles(latencies)
    return median, p99, opening


LOCKER = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
conn.execute("COMMIT")
"""


async def locked_store_latency(tmp: Path, seconds: float) -> tuple[float, float, bool]:
    """Key to frame while another process holds the write lock; and whether our write was still waiting."""
    app = BenchApp(tmp)
    async with app.run_test(size=(120, 40)) as pilot:
        while not app.jobs_loaded:
            await pilot.pause(0.01)
        await pilot.pause()
        app.board.load(list(app.board.jobs.values())[:1000])
        await pilot.pause()
        locker = await asyncio.create_subprocess_exec(
            sys.executable, "-c", LOCKER, str(tmp / "jobs.sqlite3"), str(seconds), stdout=asyncio.subprocess.PIPE
        )
        assert locker.stdout is not None
        await locker.stdout.readline()
        session = app.session
        assert session is not None
        job = next(iter(app.board.jobs.values()))
        write = asyncio.ensure_future(session.store.record_poll(job.id, at=NOW, next_at=None, error="bench"))
        read = asyncio.ensure_future(session.jobs(limit=2000))
        latencies = []
        deadline = time.perf_counter() + seconds * 0.8
        i = 0
        while time.perf_counter() < deadline:
            latencies.append(await key_to_frame(app, "down" if i % 50 < 25 else "up"))
            i += 1
            await asyncio.sleep(0.01)
        waiting = not write.done()
        await locker.wait()
        await write
        await read
    median, p99 = percentiles(latencies)
    return median, p99, waiting


async def run(count: int, slow_secret: float = 25.0, lock_seconds: float = 5.0) -> None:
    with tempfile.TemporaryDirectory(prefix="ettui-bench-") as name:
        tmp = Path(name)
        fill_store(tmp / "jobs.sqlite3", count)
        runs = [await first_frame(tmp) for _ in range(FIRST_FRAME_RUNS)]
        cold = runs[0][0]
        ours = statistics.median(r[0] for r in runs)
        loaded = statistics.median(r[1] for r in runs)
        plain = await plain_first_frame(count)
        updates, median, p99, idle = await updates_and_latency(tmp)
        locked_median, locked_p99, write_waited = await locked_store_latency(tmp, lock_seconds)
        secret_median, secret_p99, still_opening = await slow_secret_latency(tmp, slow_secret)
    print(f"first frame, {count:,} jobs in the store : {cold * 1000:7.0f} ms  cold start"
          f" (warm median of {FIRST_FRAME_RUNS}: {ours * 1000:.0f} ms;"
          f" plain DataTable: {plain * 1000:.0f} ms, {plain / cold:.1f}x the cold figure)")
    print(f"all {count:,} jobs loaded and sorted     : {loaded * 1000:7.0f} ms  (in the background, after the first frame)")
    print(f"1,000 row updates + re-sort + redraw   : {updates * 1000:7.1f} ms")
    print(f"key to frame, 200 updates/s + download : median {median * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms")
    print(f"idle CPU                               : {idle * 100:.1f}% of one core")
    print(f"key to frame, store locked {lock_seconds:g} s by another process: median {locked_median * 1000:.1f} ms, "
          f"p99 {locked_p99 * 1000:.1f} ms (a store write {'was waiting' if write_waited else 'had finished'} meanwhile)")
    print(f"key to frame, {slow_secret:g} s password command        : median {secret_median * 1000:.1f} ms, "
          f"p99 {secret_p99 * 1000:.1f} ms (session {'still opening' if still_opening else 'open'} meanwhile)")


def main() -> int:
    parser = argparse.ArgumentParser(description="ettui TUI benchmarks")
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--slow-secret", type=float, default=25.0, help="seconds the password command takes")
    parser.add_argument("--lock-seconds", type=float, default=5.0, help="seconds another process holds the write lock")
    args = parser.parse_args()
    asyncio.run(run(args.jobs, args.slow_secret, args.lock_seconds))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
