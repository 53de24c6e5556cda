"""Hostile values in XML API replies: ``ettui status`` prints clean bytes, the TUI does not crash."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from ettui.config import load
from ettui.model import BatchRequest
from ettui.safetext import clean
from tests.hostile.hostile import HOSTILE_VALUES, assert_terminal_safe, run_cli
from tests.hostile.replyserver import (
    REPLIES,
    complete_with_file,
    reply_server,
    submitted_as,
    write_config,
)
from tests.hostile.screen import (
    assert_no_escape,
    lines_text,
    links,
    toasts,
    widget_lines,
)
from tests.ui.conftest import wait_for

ENV = {"ETTUI_API_PW": "s3cret"}
SUBMIT = ["submit", "C1", "-p", "start_date=2026-01-01", "-p", "end_date=2026-01-02"]
LEGAL = (HOSTILE_VALUES["markup-crash"] + HOSTILE_VALUES["markup-link"] + HOSTILE_VALUES["c1-csi"]
         + HOSTILE_VALUES["bare-cr"] + "\u202e")
"""Every attack XML can carry: the reply parses and the value reaches the job."""
RAW_ESC = HOSTILE_VALUES["osc52"] + HOSTILE_VALUES["clear"]
"""ESC is not allowed in XML: the reply is malformed, and the error sentence must not carry it."""
VALUES = {"xml-legal": LEGAL, "raw-esc": RAW_ESC}
CASES = [(field, kind) for field in REPLIES for kind in VALUES]


@pytest.mark.parametrize(("field", "kind"), CASES, ids=[f"{f}-{a}" for f, a in CASES])
async def test_cli_status_prints_clean_bytes(tmp_path: Path, field: str, kind: str) -> None:
    async with reply_server(REPLIES[field](VALUES[kind])) as server:
        config = write_config(tmp_path / "config.toml", server.url, tmp_path / "downloads")
        home = tmp_path / "home"

        def cli(*args: str) -> object:
            return run_cli(["--config", str(config), *args], home, 60, ENV)

        submitted = await asyncio.to_thread(cli, *SUBMIT)
        assert submitted.returncode == 0, submitted.stderr  # type: ignore[attr-defined]
        for args in (["status"], ["status", "552210"], ["jobs"]):
            done = await asyncio.to_thread(cli, *args)
            assert b"Traceback" not in done.stderr, done.stderr  # type: ignore[attr-defined]
            assert_terminal_safe(done.stdout, f"{args} stdout")  # type: ignore[attr-defined]
            assert_terminal_safe(done.stderr, f"{args} stderr")  # type: ignore[attr-defined]
            assert len(done.stderr.splitlines()) <= 1  # type: ignore[attr-defined]  # one sentence at most
        assert server.inquiries >= 1


@pytest.mark.parametrize("kind", list(VALUES))
async def test_cli_submit_with_a_hostile_batch_id(tmp_path: Path, kind: str) -> None:
    """The batch ID is printed (or refused) as one clean line; a CR in it cannot fake another."""
    batch_id = "552210" + VALUES[kind]
    async with reply_server(complete_with_file("bulkasync_1.zip"), submitted_as(batch_id)) as server:
        config = write_config(tmp_path / "config.toml", server.url, tmp_path / "downloads")
        home = tmp_path / "home"
        for args in (SUBMIT, ["jobs"]):
            done = await asyncio.to_thread(run_cli, ["--config", str(config), *args], home, 60, ENV)
            assert b"Traceback" not in done.stderr, done.stderr
            assert_terminal_safe(done.stdout, f"{args} stdout")
            assert_terminal_safe(done.stderr, f"{args} stderr")
            assert len(done.stdout.splitlines()) <= (1 if args is SUBMIT else 3)


@pytest.mark.parametrize("field", list(REPLIES))
async def test_tui_board_and_toasts_survive(tmp_path: Path, field: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from ettui.session import Session
    from ettui.ui.app import EttuiApp

    monkeypatch.setenv("ETTUI_API_PW", "s3cret")
    value = LEGAL
    async with reply_server(REPLIES[field](value)) as server:
        config = load(write_config(tmp_path / "config.toml", server.url, tmp_path / "downloads"))

        async def factory() -> Session:
            session = await Session.open(config, store_path=tmp_path / "jobs.sqlite3")
            await session.submit(BatchRequest("C1", {"start_date": "2026-01-01", "end_date": "2026-01-02"}))
            return session

        app = EttuiApp(config, session_factory=factory, activity_path=tmp_path / "activity.log",
                       error_log=tmp_path / "errors.log")
        async with app.run_test(size=(160, 40)) as pilot:
            await wait_for(pilot, lambda: app.board.jobs, "the job")
            await wait_for(pilot, lambda: server.inquiries >= 1, "a poll")
            await wait_for(pilot, lambda: any(j.last_poll_at for j in app.board.jobs.values()), "the poll on the board")
            await wait_for(pilot, lambda: toasts(app), "a toast")
            await pilot.pause()
            assert app.is_running
            lines = widget_lines(app.board)
            board = lines_text(lines)
            assert_no_escape(board, "the board")
            assert not links(lines)
            shown_toasts = toasts(app)  # now: on a loaded machine they expire while the details open
            for toast in shown_toasts:
                assert_no_escape(toast, "a toast")
            job = next(iter(app.board.jobs.values()))
            await pilot.press("2", "enter")
            await pilot.pause()
            await wait_for(pilot, lambda: len(app.screen_stack) > 1 and app.screen.query("#job-details"), "the details")
            await pilot.pause()
            details = app.screen.query_one("#job-details")
            shown = lines_text(widget_lines(details))
            assert_no_escape(shown, "the details")
            assert job.batch_id is not None
            assert job.batch_id in shown
            await pilot.press("escape")
            await pilot.pause()
            assert app.is_running
            assert not (tmp_path / "errors.log").exists(), (tmp_path / "errors.log").read_text()
            seen = "\n".join([board, shown, *shown_toasts, *app.activity.lines])
        assert_no_escape("\n".join(app.activity.lines), "the activity log")
        assert clean(value)[:20] in seen  # the literal text, escaped, somewhere the operator looks
