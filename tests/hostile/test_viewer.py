"""The output viewer with hostile cells, a damaged zip, and a reader that fails unexpectedly."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from textual.screen import Screen

from ettui.output import open_output
from ettui.safetext import clean
from ettui.ui.app import EttuiApp
from ettui.ui.screens.output import OutputTable, OutputViewer
from tests.hostile.hostile import HOSTILE_VALUES
from tests.hostile.outputs import (
    HOSTILE_COLUMN,
    XML_LEGAL,
    bad_crc_zip,
    hostile_csv,
    hostile_xml,
)
from tests.hostile.screen import assert_no_escape, lines_text, links, widget_lines
from tests.ui.conftest import sandbox_config, wait_for


class Files:
    """The part of ``Session`` the viewer uses, straight on the output readers."""

    def open_output(self, path: Path) -> Any:
        return open_output(path)

    def export_output(self, path: Path, dest: Path, fmt: str = "csv", **how: Any) -> int:
        raise NotImplementedError


class Broken(Files):
    """A reader with a bug: not an EttuiError, so only the backstop stands between it and a crash."""

    def open_output(self, path: Path) -> Any:
        raise RuntimeError('reader bug \x1b[2J [b="] at ' + path.name)


def idle_app(tmp_path: Path) -> EttuiApp:
    """The app with no session (it never opens): only the viewer is exercised."""
    never = asyncio.Event()

    async def factory() -> Any:
        await never.wait()

    return EttuiApp(
        sandbox_config(tmp_path), session_factory=factory,
        activity_path=tmp_path / "activity.log", error_log=tmp_path / "errors.log",
    )


def errors_shown(app: EttuiApp) -> list[str]:
    """Every error toast the app has shown so far (kept: toasts time out on a slow machine)."""
    seen: dict[str, str] = app.__dict__.setdefault("_hostile_errors_seen", {})
    for n in app.shown_toasts:
        if n.severity == "error":
            seen.setdefault(n.identity, f"{n.title}: {n.message}")
    return list(seen.values())


@pytest.mark.parametrize("kind", ["csv", "xml"])
async def test_viewer_shows_hostile_cells_escaped(tmp_path: Path, kind: str) -> None:
    if kind == "csv":
        path, values = hostile_csv(tmp_path / "Sent.csv"), HOSTILE_VALUES
    else:
        path, values = hostile_xml(tmp_path / "output.xml"), XML_LEGAL
    app = idle_app(tmp_path)
    async with app.run_test(size=(200, 40)) as pilot:
        app.push_screen(OutputViewer(Files(), path))
        await wait_for(pilot, lambda: isinstance(app.screen, OutputViewer) and app.screen.query(OutputTable)
                       and app.screen.table.row_count == len(values), "the rows")
        await pilot.pause()
        table = app.screen.query_one(OutputTable)
        lines = widget_lines(table)
        shown = lines_text(lines)
        assert_no_escape(shown, "the output viewer")
        assert not links(lines)
        for value in values.values():
            assert clean(value)[:12] in shown, value
        if kind == "csv":
            assert clean(HOSTILE_COLUMN) in shown  # the header line, as text
        status = lines_text(widget_lines(app.screen.query_one("#output-status")))
        assert_no_escape(status, "the status line")
        assert app.is_running and not errors_shown(app)


async def test_damaged_zip_is_one_error_and_the_app_keeps_running(tmp_path: Path) -> None:
    path = bad_crc_zip(tmp_path / "bulkasync_1.zip")
    app = idle_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        app.push_screen(OutputViewer(Files(), path))
        await wait_for(pilot, lambda: errors_shown(app), "the error")
        await pilot.pause()
        assert app.is_running
        shown = errors_shown(app)
        assert len(shown) == 1 and "damaged" in shown[0] and "output.xml" in shown[0], shown
        assert "damaged" in lines_text(widget_lines(app.screen.query_one(OutputTable)))
        await pilot.press("escape")
        await pilot.pause()
        assert app.is_running and len(app.screen_stack) == 1
    assert not (tmp_path / "errors.log").exists()  # a user-caused failure is not a bug report


async def test_backstop_keeps_the_app_and_logs_the_traceback(tmp_path: Path) -> None:
    app = idle_app(tmp_path)
    path = tmp_path / "output.xml"
    async with app.run_test(size=(120, 40)) as pilot:
        app.push_screen(OutputViewer(Broken(), path))
        await wait_for(pilot, lambda: errors_shown(app), "the error")
        await pilot.pause()
        assert app.is_running
        shown = errors_shown(app)
        assert len(shown) == 1, shown
        assert "RuntimeError" in shown[0] and str(tmp_path / "errors.log") in shown[0]
        assert_no_escape(shown[0], "the toast")
        # The same failure again is not shown again (a periodic worker must not flood the screen).
        await pilot.press("escape")
        app.push_screen(OutputViewer(Broken(), path))
        await wait_for(pilot, lambda: isinstance(app.screen, OutputViewer), "the viewer again")
        await pilot.pause()
        await pilot.pause()
        assert len(errors_shown(app)) == 1
        await pilot.press("escape")
        await pilot.pause()
        assert app.is_running
    log = (tmp_path / "errors.log").read_text()
    assert "Traceback" in log and "RuntimeError: reader bug" in log
    assert (tmp_path / "errors.log").stat().st_mode & 0o077 == 0


async def test_dialogs_show_hostile_text_as_text(tmp_path: Path) -> None:
    from ettui.ui.screens.dialogs import ConfirmScreen, HostKeyScreen

    hostile = HOSTILE_VALUES["markup-crash"] + HOSTILE_VALUES["markup-link"] + HOSTILE_VALUES["osc52"]
    app = idle_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        for screen in (
            HostKeyScreen(f"drop{hostile}.example", 22, f"SHA256:{hostile}"),
            ConfirmScreen(f"Extract {hostile}", f"{hostile} exists; extracting again overwrites its files. Extract?", "Extract"),
        ):
            app.push_screen(screen)
            def dialog_shown(shown: Screen[Any] = screen) -> bool:
                return app.screen is shown and bool(shown.query("Static"))

            await wait_for(pilot, dialog_shown, "the dialog")
            await pilot.pause()
            lines = [line for widget in screen.query("Static, Label") for line in widget_lines(widget)]
            shown = lines_text(lines)
            assert_no_escape(shown, type(screen).__name__)
            assert not links(lines)
            assert "x[b=" in shown and "\\x1b]52" in shown
            await pilot.press("escape")
            await wait_for(pilot, lambda: len(app.screen_stack) == 1, "the dialog closed")
        assert app.is_running


async def test_failed_rename_in_a_download_is_one_sentence(tmp_path: Path) -> None:
    from datetime import timedelta
    from types import SimpleNamespace

    from ettui.model import DropFile, utcnow

    class RenameFails:
        """A session whose fetch hits what ``os.replace`` raises on a read-only folder."""

        clock = SimpleNamespace(now=utcnow)
        profile = SimpleNamespace(extract_after_download=True)

        async def fetch(self, target: object, **kw: object) -> object:
            raise PermissionError(13, "Permission denied", "/dl/bulkasync_1.zip.part", None, "/dl/bulkasync_1.zip")

        async def close(self) -> None:
            pass

    app = idle_app(tmp_path)
    async with app.run_test(size=(160, 40)) as pilot:
        now = utcnow()
        drop_file = DropFile("/bulkasync_1.zip", 10, now, now + timedelta(hours=70), None, None)
        app.drop.load([drop_file])
        app.session = RenameFails()  # type: ignore[assignment]
        app.drop_pane.download(None, drop_file)
        await wait_for(pilot, lambda: errors_shown(app), "the error")
        await pilot.pause()
        shown = errors_shown(app)
        assert len(shown) == 1 and "Permission denied (/dl/bulkasync_1.zip.part -> /dl/bulkasync_1.zip)" in shown[0], shown
        assert app.drop.transfer(drop_file.path).state == "failed"
        assert app.is_running and not app.downloads_running
        app.session = None
