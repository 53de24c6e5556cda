"""Every filesystem location ettui uses. All platformdirs calls live here.

``ETTUI_HOME`` (used by tests and the screenshot script) puts config, state
and cache under one folder instead of the user's platform dirs.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP = "ettui"


def _home() -> Path | None:
    home = os.environ.get("ETTUI_HOME")
    return Path(home) if home else None


def config_dir() -> Path:
    home = _home()
    return home / "config" if home else Path(platformdirs.user_config_dir(APP))


def state_dir() -> Path:
    home = _home()
    return home / "state" if home else Path(platformdirs.user_state_dir(APP))


def cache_dir() -> Path:
    home = _home()
    return home / "cache" if home else Path(platformdirs.user_cache_dir(APP))


def config_override() -> Path | None:
    """``ETTUI_CONFIG`` when set: a file the user named, which must then exist."""
    override = os.environ.get("ETTUI_CONFIG")
    return Path(override).expanduser() if override else None


def config_file() -> Path:
    """The config file: ``ETTUI_CONFIG`` if set, else ``config.toml`` in the config dir."""
    return config_override() or config_dir() / "config.toml"


def job_store() -> Path:
    return state_dir() / "jobs.sqlite3"


def activity_log() -> Path:
    return state_dir() / "activity.log"


def error_log() -> Path:
    """Tracebacks of unexpected errors the TUI caught (attach it to a bug report)."""
    return state_dir() / "errors.log"


def ui_state() -> Path:
    """What the TUI remembers between runs: sort, filter history, theme, hidden jobs."""
    return state_dir() / "ui-state.json"


def known_hosts() -> Path:
    """ettui's own known_hosts, used when a profile names none."""
    return state_dir() / "known_hosts"


def sandbox_dir() -> Path:
    """The sandbox's drop folder and host key live here, so its fingerprint persists."""
    return state_dir() / "sandbox"


def downloads_dir() -> Path:
    return Path(platformdirs.user_downloads_dir()) / APP if not _home() else _home() / "downloads"  # type: ignore[operator]


def download_locks_dir() -> Path:
    """Lock files of downloads in progress (one per destination file), so two ettui never write one ``.part``."""
    return state_dir() / "locks"


def connection_locks_dir() -> Path:
    """Lock files of the cross-process SFTP connection budget (one per slot and account)."""
    return download_locks_dir() / "connections"


def wsdl_cache_dir() -> Path:
    return cache_dir() / "wsdl"


def ensure_private_dir(path: Path) -> Path:
    """Create ``path`` (mode 0700) if missing and return it."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path
