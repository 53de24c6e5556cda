"""Write ``screenshots/*.svg`` by driving the real app on the embedded sandbox.

``python -m ettui.tools.screenshots [--out screenshots]``

It submits real requests to the sandbox over HTTP, fast-forwards the
sandbox's clock between them so the drop holds files of every age (one past
its 72 hours, one under 2 h, one under 12 h, a fresh one), makes one job end
in Error and leaves two in the queue, downloads a file over SFTP, then takes:

* ``main.svg`` — the three panes with jobs in every state;
* ``drop.svg`` — the drop focused, countdowns in each colour, a download;
* ``compose-preview.svg`` — compose with a valid request and its document;
* ``compose-error.svg`` — compose with a validation error (the last valid
  document dimmed below);
* ``output.svg`` — the output viewer on the downloaded file;
* ``help.svg`` — the help screen generated from the live bindings;
* ``main-200x60.svg`` — the main view at 200x60: file names whole;
* ``main-80x24.svg`` — the main view at 80x24: tabs, columns that fit;
* ``main-16colours.svg`` — the main view in the 16-colour palette
  (what ``TERM=xterm`` gets).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ettui.config import Config, sandbox_profile
from ettui.model import BatchRequest, JobStatus

HOUR = 3600.0
SIZE = (120, 40)


async def _until(pilot: Any, predicate: Callable[[], object], what: str, steps: int = 400) -> None:
    for _ in range(steps):
        if predicate():
            return
        await pilot.pause(0.05)
    raise RuntimeError(f"timed out waiting for {what} (focused: {pilot.app.focused!r})")


async def _job_to(pilot: Any, app: Any, call: str, params: dict[str, str], status: JobStatus, advance: float) -> int:
    """Submit through the session, fast-forward the sandbox, poll until ``status``."""
    session = app.session
    job = await session.submit(BatchRequest(call, params))
    session.sandbox.clock.advance(advance)
    for _ in range(400):
        session.poll_now(job.id)
        await pilot.pause(0.05)
        current = app.board.jobs.get(job.id)
        if current is not None and current.status is status:
            return int(job.id)
    raise RuntimeError(f"job {job.batch_id} never reached {status.value}")


async def _drive(pilot: Any, out: Path) -> None:
    from ettui.ui.palette import SIXTEEN
    from ettui.ui.screens.output import OutputViewer

    app = pilot.app
    await _until(pilot, lambda: app.session is not None and app.compose_pane.specs, "the session")
    session = app.session
    dates = {"start_date": "-7d", "end_date": "today"}
    # Completion times chosen so that, at the end, the files are 73 h, 71 h, 66 h and 1 h old.
    await _job_to(pilot, app, "C1", dates, JobStatus.COMPLETE, 120)
    session.sandbox.clock.advance(2 * HOUR)
    await _job_to(pilot, app, "C2", {**dates, "job_start_date": "-14d", "job_end_date": "-7d"}, JobStatus.COMPLETE, 120)
    session.sandbox.clock.advance(5 * HOUR)
    await _job_to(pilot, app, "C5", {"job_id": "8812657"}, JobStatus.COMPLETE, 120)
    session.sandbox.clock.advance(65 * HOUR)
    fresh = await _job_to(pilot, app, "C1", {"start_date": "-1d", "end_date": "today"}, JobStatus.COMPLETE, 120)
    session.sandbox.clock.advance(1 * HOUR)
    session.sandbox.faults.error_share = 1.0
    await _job_to(pilot, app, "C3", {"list_id": "999"}, JobStatus.ERROR, 120)
    session.sandbox.faults.error_share = 0.0
    await _job_to(pilot, app, "C4", {"job_id": "8812657", "start_date": "-3d", "end_date": "today"}, JobStatus.PROCESSING, 40)
    await _job_to(pilot, app, "C6", {"job_id": "8812119"}, JobStatus.SCHEDULED, 1)
    session.sandbox.sweep()
    app.drop_pane.refresh_drop()
    await _until(pilot, lambda: len(app.drop.files) >= 4, "the drop listing")
    drop_file = app.board.landed[fresh]
    app.drop_pane.download(app.board.jobs[fresh], drop_file)
    await _until(pilot, lambda: app.drop.transfer(drop_file.path).state in ("downloaded", "extracted"), "the download")
    app.clear_notifications()
    await pilot.press("2", "home")
    await pilot.pause(0.3)
    app.save_screenshot("main.svg", str(out))
    await pilot.press("3")
    await pilot.pause(0.3)
    app.save_screenshot("drop.svg", str(out))
    await pilot.press("1")
    await pilot.pause()
    await pilot.press(*"2/1/2026", "tab", *"3/1/2026")
    await _until(pilot, lambda: app.compose_pane.valid, "a valid request")
    app.compose_pane.scroll_end(animate=False)  # as the user would, to read the whole document
    await pilot.pause(0.3)
    app.save_screenshot("compose-preview.svg", str(out))
    await pilot.press("shift+tab", *["backspace"] * 8, *"2/30/2026", "tab")
    await _until(pilot, lambda: app.main.query_one("#param-start_date").has_class("-at-fault"), "the error mark")
    await pilot.pause(0.3)
    app.save_screenshot("compose-error.svg", str(out))
    await pilot.press("escape", "question_mark")
    await pilot.pause(0.3)
    app.save_screenshot("help.svg", str(out))
    await pilot.press("escape")
    app.push_screen(OutputViewer(session, Path(app.drop.transfer(drop_file.path).local_path or "")))
    await _until(
        pilot,
        lambda: isinstance(app.screen, OutputViewer) and app.screen.query("#output-table") and app.screen.table.row_count > 30,
        "output rows",
    )
    await pilot.press("down", "down", "down")
    await pilot.pause(0.3)
    app.save_screenshot("output.svg", str(out))
    await pilot.press("escape")
    await pilot.pause()
    app.clear_notifications()
    await pilot.press("2", "home")
    for (width, height), name in (((200, 60), "main-200x60.svg"), ((80, 24), "main-80x24.svg")):
        await pilot.resize_terminal(width, height)
        await pilot.pause(0.5)
        app.save_screenshot(name, str(out))
    await pilot.resize_terminal(*SIZE)
    await pilot.pause(0.3)
    app.theme = SIXTEEN
    await pilot.pause(0.5)
    app.save_screenshot("main-16colours.svg", str(out))


async def take(out: Path) -> list[Path]:
    """Run the app headless on a private sandbox and write the SVGs into ``out``."""
    from ettui.sandbox import SandboxOptions
    from ettui.session import Session
    from ettui.ui.app import EttuiApp

    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="ettui-shots-") as tmp:
        root = Path(tmp)
        os.environ["ETTUI_HOME"] = str(root / "home")
        profile = dataclasses.replace(sandbox_profile(), download_dir=str(root / "downloads"), poll_initial=0.2, poll_max=1.0)
        config = Config(path=root / "none.toml", exists=False, default_profile="sandbox", profiles={"sandbox": profile})
        options = SandboxOptions(root=root / "sandbox", scheduled_seconds=30, processing_seconds=60, records=400,
                                 sweep_interval_seconds=0.2)

        async def factory() -> Session:
            return await Session.open(config, store_path=root / "jobs.sqlite3", sandbox_options=options)

        app = EttuiApp(config, session_factory=factory, activity_path=root / "activity.log")
        async with app.run_test(size=SIZE) as pilot:
            await _drive(pilot, out)
    return sorted(out.glob("*.svg"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("screenshots"))
    args = parser.parse_args()
    for path in asyncio.run(take(args.out)):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
