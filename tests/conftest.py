"""Every test gets its own ettui home: config, job store, known_hosts, locks and sandbox state."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path_factory.mktemp("ettui-home")
    monkeypatch.setenv("ETTUI_HOME", str(home))
    monkeypatch.delenv("ETTUI_CONFIG", raising=False)
    return home
