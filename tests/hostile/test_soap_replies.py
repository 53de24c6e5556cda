"""Hostile values in SOAP replies (Retrieve status rows, ErrorMsg, faults): clean CLI bytes, a TUI that runs on."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from xml.sax.saxutils import escape

import pytest
from aiohttp import web

from ettui.config import load
from ettui.model import BatchRequest
from tests.hostile.hostile import HOSTILE_VALUES, assert_terminal_safe, run_cli
from tests.hostile.screen import (
    assert_no_escape,
    lines_text,
    links,
    toasts,
    widget_lines,
)
from tests.ui.conftest import wait_for

ENV = '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" ' \
      'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soap:Body>{}</soap:Body></soap:Envelope>'
NS = 'xmlns="http://exacttarget.com/wsdl/partnerAPI"'
VALUE = HOSTILE_VALUES["markup-crash"] + HOSTILE_VALUES["markup-link"] + HOSTILE_VALUES["c1-csi"] + HOSTILE_VALUES["bare-cr"]
"""Every attack a well-formed reply can carry."""
PARAMS = {"StartDate": "6/1/2024", "EndDate": "6/8/2024", "OutputFileName": "t.zip"}


def _text(value: str) -> str:
    return escape(value).replace("\r", "&#13;")


def error_row(value: str) -> tuple[int, str]:
    return 200, ENV.format(
        f'<RetrieveResponseMsg {NS}><OverallStatus>OK</OverallStatus><Results xsi:type="ObjectExtension">'
        "<Properties><Property><Name>TaskID</Name><Value>6f1d2c3b-4a5e-4f60-9a7b-8c9d0e1f2a3b</Value></Property>"
        "<Property><Name>Status</Name><Value>Error</Value></Property>"
        f"<Property><Name>ErrorMsg</Name><Value>{_text(value)}</Value></Property></Properties>"
        "</Results></RetrieveResponseMsg>"
    )


def odd_status(value: str) -> tuple[int, str]:
    return 200, ENV.format(
        f'<RetrieveResponseMsg {NS}><OverallStatus>OK</OverallStatus><Results xsi:type="AsyncActivityStatus">'
        "<Properties><Property><Name>TaskID</Name><Value>6f1d2c3b-4a5e-4f60-9a7b-8c9d0e1f2a3b</Value></Property>"
        f"<Property><Name>Status</Name><Value>{_text(value)}</Value></Property></Properties>"
        "</Results></RetrieveResponseMsg>"
    )


def overall_error(value: str) -> tuple[int, str]:
    return 200, ENV.format(f"<RetrieveResponseMsg {NS}><OverallStatus>Error: {_text(value)}</OverallStatus>"
                           "<RequestID>p1</RequestID></RetrieveResponseMsg>")


def fault(value: str) -> tuple[int, str]:
    fault = f"<soap:Fault><faultcode>soap:Client</faultcode><faultstring>{_text(value)}</faultstring></soap:Fault>"
    return 500, ENV.format(fault)


REPLIES = {"error-msg": error_row, "status": odd_status, "overall-status": overall_error, "fault": fault}

EXTRACT_OK = ENV.format(
    f"<ExtractResponseMsg {NS}><OverallStatus>OK</OverallStatus><RequestID>6f1d2c3b-4a5e-4f60-9a7b-8c9d0e1f2a3b</RequestID>"
    "<Results><StatusCode>OK</StatusCode><StatusMessage>queued</StatusMessage></Results></ExtractResponseMsg>"
)


@contextlib.asynccontextmanager
async def soap_server(status: int, body: str) -> AsyncIterator[tuple[str, list[int]]]:
    retrieves: list[int] = []

    async def soap(request: web.Request) -> web.Response:
        data = await request.read()
        if b"ExtractRequest" in data:
            return web.Response(text=EXTRACT_OK, content_type="text/xml")
        retrieves.append(1)
        return web.Response(status=status, text=body, content_type="text/xml")

    app = web.Application()
    app.router.add_post("/Service.asmx", soap)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}/Service.asmx", retrieves
    finally:
        await runner.cleanup()


def write_config(path: Path, url: str) -> Path:
    path.write_text(
        f"""default_profile = "hostile"

[profiles.hostile]
dialect = "soap"
soap_url = "{url}"
api_username = "ops"
api_password_env = "ETTUI_API_PW"
sftp_host = "127.0.0.1"
sftp_port = 9
sftp_username = "ops"
sftp_password_env = "ETTUI_API_PW"
poll_initial = 0.2
poll_max = 0.5
"""
    )
    path.chmod(0o600)
    return path


@pytest.mark.parametrize("where", list(REPLIES))
async def test_cli_status_prints_clean_bytes(tmp_path: Path, where: str) -> None:
    async with soap_server(*REPLIES[where](VALUE + HOSTILE_VALUES["osc52"])) as (url, retrieves):
        config = write_config(tmp_path / "config.toml", url)
        home = tmp_path / "home"
        env = {"ETTUI_API_PW": "s3cret"}
        args = ["--config", str(config)]
        params = [f"-p{k}={v}" for k, v in PARAMS.items()]
        submitted = await asyncio.to_thread(run_cli, [*args, "submit", "tracking-extract", *params], home, 60, env)
        assert submitted.returncode == 0, submitted.stderr
        for command in (["status"], ["jobs"]):
            done = await asyncio.to_thread(run_cli, [*args, *command], home, 60, env)
            assert b"Traceback" not in done.stderr, done.stderr
            assert_terminal_safe(done.stdout, f"{command} stdout")
            assert_terminal_safe(done.stderr, f"{command} stderr")
            assert len(done.stderr.splitlines()) <= 1
        assert retrieves


@pytest.mark.parametrize("where", ["error-msg", "fault"])
async def test_tui_survives(tmp_path: Path, where: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from ettui.session import Session
    from ettui.ui.app import EttuiApp

    monkeypatch.setenv("ETTUI_API_PW", "s3cret")
    async with soap_server(*REPLIES[where](VALUE)) as (url, retrieves):
        config = load(write_config(tmp_path / "config.toml", url))

        async def factory() -> Session:
            session = await Session.open(config, store_path=tmp_path / "jobs.sqlite3")
            await session.submit(BatchRequest("tracking-extract", dict(PARAMS)))
            return session

        app = EttuiApp(config, session_factory=factory, activity_path=tmp_path / "activity.log",
                       error_log=tmp_path / "errors.log")
        async with app.run_test(size=(160, 40)) as pilot:
            await wait_for(pilot, lambda: app.board.jobs and retrieves, "a poll")
            def told() -> bool:
                seen = [*toasts(app), *app.activity.lines, *(j.last_error or "" for j in app.board.jobs.values())]
                return any("x[b=" in text for text in seen)

            await wait_for(pilot, told, "the value shown")
            await pilot.pause()
            await pilot.press("2", "enter")
            await wait_for(pilot, lambda: len(app.screen_stack) > 1 and app.screen.query("#job-details"), "the details")
            await pilot.pause()
            details = lines_text(widget_lines(app.screen.query_one("#job-details")))
            assert_no_escape(details, "the details")
            if where == "error-msg":
                assert 'x[b="]y[@click=app.quit]x[/]\\x9b31m' in details.replace("\n", "")
            await pilot.press("escape")
            await pilot.pause()
            assert app.is_running
            lines = widget_lines(app.board)
            assert_no_escape(lines_text(lines), "the board")
            assert not links(lines)
            for toast in toasts(app):
                assert_no_escape(toast, "a toast")
            assert_no_escape("\n".join(app.activity.lines), "the activity log")
        assert not (tmp_path / "errors.log").exists()
