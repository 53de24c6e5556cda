"""A hostile profile name (a shared team config) reached the terminal raw through the TUI's header.

Found with tmux: the subtitle ``profile <name> · sandbox`` wrote
``ESC ] 52 ; c ; ...`` to the terminal as is (Rich strips BEL but keeps ESC).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from ettui.config import Config
from ettui.ui.app import EttuiApp
from tests.hostile.hostile import OSC52
from tests.hostile.screen import assert_no_escape, lines_text, widget_lines
from tests.ui.conftest import sandbox_config, wait_for

HOSTILE = f"team{OSC52}[b=\"]y"


def _app(tmp_path: Path) -> EttuiApp:
    from ettui.sandbox import SandboxOptions
    from ettui.session import Session

    base = sandbox_config(tmp_path)
    profile = dataclasses.replace(base.profiles["sandbox"], name=HOSTILE)
    config: Config = dataclasses.replace(base, default_profile=HOSTILE, profiles={HOSTILE: profile})
    options = SandboxOptions(root=tmp_path / "sandbox", scheduled_seconds=0.3, processing_seconds=0.5, records=5)

    async def factory() -> Session:
        return await Session.open(config, store_path=tmp_path / "jobs.sqlite3", sandbox_options=options)

    return EttuiApp(config, session_factory=factory, activity_path=tmp_path / "activity.log")


async def test_header_shows_a_hostile_profile_name_escaped(tmp_path: Path) -> None:
    app = _app(tmp_path)
    async with app.run_test(size=(160, 50)) as pilot:
        await wait_for(pilot, lambda: "sandbox" in app.sub_title, "the session")
        await pilot.pause()
        assert app.is_running
        from textual.widgets._header import HeaderTitle

        # The title and subtitle are drawn by the header's HeaderTitle child, not the Header container.
        header = lines_text(widget_lines(app.query_one(HeaderTitle)))
        assert_no_escape(header, "the header")
        assert_no_escape(app.sub_title, "the subtitle")
        assert "\\x1b]52" in header
