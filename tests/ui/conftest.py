"""Fixtures for the TUI tests: the real app on the embedded sandbox with a fast queue.

Every test runs the whole stack (HTTP XML or SOAP API, poller, SFTP drop) on
127.0.0.1, as the app does for a user without an account. The ``dialect``
fixture runs a flow test once against each API dialect (as harlequin runs its
app against every adapter): what differs is only how Compose is filled in.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ettui.config import Config, sandbox_profile
from ettui.ui.app import EttuiApp

WAIT_STEPS = 400
"""Pilot pauses (of ``STEP`` seconds) before a wait gives up: a hang guard, not a timing."""
STEP = 0.05


@dataclass(frozen=True)
class Dialect:
    """One API dialect as a flow test drives it: its sandbox profile and how its form is filled."""

    name: str
    """``xml`` or ``soap`` (the profile's dialect)."""
    first_param: str
    """The first field of the default call's form (a date)."""
    fill: tuple[str, ...]
    """Keys that, typed from the first field, make a valid request."""
    preview_mark: str
    """Text the preview holds once the first date is in the document."""
    kept_under: str
    """A bound just above how long the drop keeps a fresh file (72 h bulk async drop, 21 days Export folder)."""


XML = Dialect("xml", "start_date", (*"-7d", "tab", *"today"), "<startdate>", "80h")
SOAP = Dialect(
    "soap", "StartDate", (*"-7d", "tab", *"today", "tab", *"flows.zip"), "<ns0:Name>StartDate</ns0:Name>", "22d"
)


@pytest.fixture(params=[XML, SOAP], ids=lambda d: d.name)
def dialect(request: pytest.FixtureRequest) -> Dialect:
    """Each API dialect in turn: pass it to :func:`make_app`."""
    return request.param  # type: ignore[no-any-return]


def sandbox_config(tmp_path: Path, dialect: Dialect = XML, **ui: Any) -> Config:
    """A config whose only profile is the sandbox of ``dialect``, downloading under ``tmp_path``."""
    from ettui.config import UiSettings

    profile = dataclasses.replace(
        sandbox_profile(dialect.name), download_dir=str(tmp_path / "downloads"), poll_initial=0.2, poll_max=0.5
    )
    return Config(
        path=tmp_path / "none.toml", exists=False, default_profile=profile.name,
        profiles={profile.name: profile}, ui=UiSettings(**ui),
    )


def make_app(
    tmp_path: Path, *, dialect: Dialect = XML, readonly: bool = False, records: int = 50, **ui: Any
) -> EttuiApp:
    """The app on a sandbox of ``dialect`` that queues for 0.3 s and processes for 0.5 s."""
    from ettui.sandbox import SandboxOptions
    from ettui.session import Session

    config = sandbox_config(tmp_path, dialect, **ui)
    options = SandboxOptions(root=tmp_path / "sandbox", scheduled_seconds=0.3, processing_seconds=0.5, records=records)

    async def factory() -> Session:
        return await Session.open(config, store_path=tmp_path / "jobs.sqlite3", sandbox_options=options)

    return EttuiApp(config, readonly=readonly, session_factory=factory, activity_path=tmp_path / "activity.log")


async def wait_for(pilot: Any, predicate: Callable[[], object], what: str = "condition") -> None:
    """Let the app run until ``predicate()`` is true (fails after WAIT_STEPS pauses)."""
    for _ in range(WAIT_STEPS):
        if predicate():
            return
        await pilot.pause(STEP)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(autouse=True)
def _ettui_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ETTUI_HOME", str(tmp_path / "home"))
