"""Switching profile from the command palette: the XML sandbox to the SOAP one."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from ettui.config import sandbox_profile
from ettui.ui.app import EttuiApp
from tests.ui.conftest import sandbox_config, wait_for


async def test_palette_switches_to_the_soap_profile(tmp_path: Path) -> None:
    config = sandbox_config(tmp_path)
    soap = dataclasses.replace(sandbox_profile("soap"), download_dir=str(tmp_path / "downloads"))
    config = dataclasses.replace(config, profiles={**config.profiles, soap.name: soap})
    app = EttuiApp(config, activity_path=tmp_path / "activity.log")
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.session is not None, "the sandbox session")
        assert app.session is not None and app.session.profile.dialect == "xml"
        await pilot.press("ctrl+p")
        await pilot.press(*"Switch profile: sandbox-soap")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_for(
            pilot,
            lambda: app.session is not None and app.session.profile.name == "sandbox-soap",
            "the SOAP profile's session",
        )
        assert app.session is not None
        assert next(c.id for c in app.session.calls()) == "tracking-extract"
        assert "sandbox-soap" in (app.sub_title or "")
        log = (tmp_path / "activity.log").read_text()
        assert "Opened profile sandbox (xml)" in log and "Opened profile sandbox-soap (soap)" in log
