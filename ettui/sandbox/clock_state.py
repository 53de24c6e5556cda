"""The sandbox clock across processes: a fast clock applies only while fast sandboxes run.

``ettui submit`` and a later ``ettui status --watch`` each start a sandbox on
one root; with ``time_scale`` they must share one fast timeline, or the second
would see the first one's batches finish in the past or the future. So each
run is recorded in ``clock.json`` (when it started, on both clocks, at what
scale, and when it stopped), and a fast run carries on from where the last run
left the sandbox clock.

A run at the real pace (scale 1) does not inherit that lead: it starts at the
wall clock, and first moves everything the fast runs stored (the batch
journal's times, the drop files' mtimes) back to the real time at which it
happened. So after a demo at ``--time-scale 3600`` the next normal run shows
no file 22 hours old that arrived a minute ago, and no batch done "tomorrow".
Restamping assumes no fast sandbox still runs on the same root (two clocks on
one queue cannot both be right).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypedDict


class Run(TypedDict):
    """One sandbox run on a root, in epoch seconds."""

    wall: float
    """Wall clock when it started."""
    sandbox: float
    """Its sandbox clock when it started."""
    scale: float
    until: float | None
    """Wall clock when it stopped; None while it runs (or if it died)."""
    until_sandbox: float | None
    """Its sandbox clock when it stopped (``advance`` jumps included)."""


LEAD_TOLERANCE = 1.0
"""Seconds a stopped run's clock may differ from the wall clock and still count as real time."""


class ClockState:
    """``clock.json`` of one sandbox root, and the stored state that follows its clock."""

    def __init__(self, path: Path, *, journal: Path, drop_dir: Path) -> None:
        self.path = path
        self.journal = journal
        self.drop_dir = drop_dir
        self._run: Run | None = None

    def start(self, scale: float) -> datetime:
        """Record a run starting at ``scale``; return where its clock starts."""
        with self._locked():
            runs = self._runs()
            wall = time.time()
            if scale == 1.0:
                if any(_departed(r) for r in runs):
                    self._restamp(runs)
                runs, start = [], wall
            else:
                start = max(wall, _sandbox_now(runs, wall)) if runs else wall
            self._run = Run(wall=wall, sandbox=start, scale=scale, until=None, until_sandbox=None)
            self._save([*runs, self._run])
        return datetime.fromtimestamp(start, UTC)

    def stop(self, sandbox_now: datetime) -> None:
        """Record that this run stopped, its clock at ``sandbox_now``."""
        if self._run is None:
            return
        with self._locked():
            runs = self._runs()
            for run in runs:
                if run["wall"] == self._run["wall"] and run["sandbox"] == self._run["sandbox"]:
                    run["until"], run["until_sandbox"] = time.time(), sandbox_now.timestamp()
            self._save(runs)
        self._run = None

    # -- the file ----------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        lock = self.path.with_suffix(".lock")
        lock.parent.mkdir(parents=True, exist_ok=True)
        with open(lock, "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _runs(self) -> list[Run]:
        try:
            saved: Any = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return []
        if isinstance(saved, dict) and {"wall", "sandbox", "scale"} <= saved.keys():
            # The earlier one-record format: a run that started then and may still run.
            with contextlib.suppress(TypeError, ValueError):
                start = datetime.fromisoformat(saved["sandbox"]).timestamp()
                return [Run(wall=float(saved["wall"]), sandbox=start, scale=float(saved["scale"]), until=None,
                            until_sandbox=None)]
            return []
        return saved.get("runs", []) if isinstance(saved, dict) else []

    def _save(self, runs: list[Run]) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"runs": runs}))
        tmp.replace(self.path)

    # -- back to real time -------------------------------------------------------

    def _restamp(self, runs: list[Run]) -> None:
        """Move the journal's batch times and the drop files' mtimes from the runs' clocks to real time."""
        ordered = sorted(runs, key=lambda r: r["wall"])
        if self.journal.exists():
            with open(self.journal, "r+b") as fh:
                fcntl.flock(fh, fcntl.LOCK_EX)  # the journal's own lock: no submit interleaves
                try:
                    lines = [_restamped_line(line, ordered) for line in fh.read().splitlines(keepends=True)]
                    fh.seek(0)
                    fh.write(b"".join(lines))
                    fh.truncate()
                finally:
                    fcntl.flock(fh, fcntl.LOCK_UN)
        if self.drop_dir.is_dir():
            for folder, _dirs, names in os.walk(self.drop_dir):
                for name in names:
                    path = Path(folder) / name
                    with contextlib.suppress(OSError):
                        stamp = path.stat().st_mtime
                        real = real_time(stamp, ordered)
                        if real != stamp:
                            os.utime(path, (real, real))


def _departed(run: Run) -> bool:
    """Whether ``run``'s clock left the wall clock: a fast scale, a lead at its start, or a jump ahead before its stop."""
    leads = [run["sandbox"] - run["wall"]]
    if run["until"] is not None and run["until_sandbox"] is not None:
        leads.append(run["until_sandbox"] - run["until"])
    return run["scale"] != 1.0 or any(abs(lead) > LEAD_TOLERANCE for lead in leads)


def _sandbox_now(runs: list[Run], wall: float) -> float:
    """The sandbox clock now, carried on from the latest run (at its scale while it runs, at 1x once stopped)."""
    last = max(runs, key=lambda r: r["wall"])
    if last["until"] is None or last["until_sandbox"] is None:
        return last["sandbox"] + (wall - last["wall"]) * last["scale"]
    return last["until_sandbox"] + (wall - last["until"])


def real_time(stamp: float, runs: list[Run]) -> float:
    """The wall-clock time at which the sandbox clock of ``runs`` (oldest first) read ``stamp``.

    Before the first run a stamp is already real; within a run it maps back at
    the run's scale; after a stopped run it moves at 1x from the moment it stopped.
    """
    base: Run | None = None
    for run in runs:
        if run["sandbox"] <= stamp:
            base = run
    if base is None:
        return stamp
    until, until_sandbox = base["until"], base["until_sandbox"]
    if until is not None and until_sandbox is not None:
        if stamp >= until_sandbox:
            return until + (stamp - until_sandbox)
        return min(until, base["wall"] + (stamp - base["sandbox"]) / base["scale"])
    return base["wall"] + (stamp - base["sandbox"]) / base["scale"]


def _restamped_line(line: bytes, runs: list[Run]) -> bytes:
    """One journal line with its ``submitted_at`` / ``due_at`` in real time (other lines unchanged)."""
    try:
        entry = json.loads(line)
    except ValueError:
        return line
    if not isinstance(entry, dict):
        return line
    changed = False
    for key in ("submitted_at", "due_at"):
        with contextlib.suppress(KeyError, TypeError, ValueError):
            at = datetime.fromisoformat(entry[key])
            entry[key] = datetime.fromtimestamp(real_time(at.timestamp(), runs), at.tzinfo or UTC).isoformat()
            changed = True
    if not changed:
        return line
    return (json.dumps(entry, separators=(",", ":")) + "\n").encode()
