"""``watch.json``: what the watcher must remember that the job store does not hold.

Two sections: ``fetched`` (drop files no job produced, fetched under
``auto_fetch_unknown``; a job's own download is in the job store) and
``hooks`` (each ``on_fetched`` run: pending, ok, failed or timeout, with the
environment to run it again). Small, read-modify-written under an ``flock``
and replaced atomically, so several watchers on one host never lose each
other's entries. It lives in the state dir (``ettui.paths``), beside the job
store.
"""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path
from typing import Any

from ettui import paths
from ettui.errors import EttuiError


class WatchState:
    """The watcher's durable memory; every method reads or writes the file at once."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or paths.state_dir() / "watch.json"

    def read(self) -> dict[str, Any]:
        """The whole state, ``{"fetched": {...}, "hooks": {...}}``."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {"fetched": {}, "hooks": {}}
        except (OSError, ValueError) as exc:
            raise EttuiError(f"The watch state {self.path} cannot be read ({exc}); move it aside and start again.") from None
        if not isinstance(data, dict):
            raise EttuiError(f"The watch state {self.path} is not a JSON object; move it aside and start again.")
        for section in ("fetched", "hooks"):
            if not isinstance(data.get(section), dict):
                data[section] = {}
        return data

    def update(self, section: str, key: str, value: dict[str, Any]) -> None:
        """Set ``state[section][key] = value`` durably (fsynced before it returns)."""
        paths.ensure_private_dir(self.path.parent)
        with open(self.path.with_name(self.path.name + ".lock"), "a+b") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            data = self.read()
            data[section][key] = value
            tmp = self.path.with_name(self.path.name + ".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(data, handle, indent=1, sort_keys=True)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)

    def fetched(self, key: str) -> dict[str, Any] | None:
        """The record of an unknown drop file fetched before, if any."""
        entry = self.read()["fetched"].get(key)
        return entry if isinstance(entry, dict) else None

    def hooks(self) -> dict[str, dict[str, Any]]:
        """Every hook record, by ``profile|zip name|sha256``."""
        return {k: v for k, v in self.read()["hooks"].items() if isinstance(v, dict)}
