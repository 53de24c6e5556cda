"""Running ``on_fetched``: a command per fetched file, no shell, a deadline, bounded output.

The command line is split like a shell line (``shlex``) but run without a
shell, with stdin closed, in its own process group (so a timeout kills what it
started too), off the event loop (an asyncio subprocess). Only the first
``HOOK_OUTPUT_LINES`` lines of its output are kept; the rest is read and
dropped, so a chatty hook neither blocks on a full pipe nor fills memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

HOOK_TIMEOUT = 600.0
"""Seconds an ``on_fetched`` command may run before it is killed."""

HOOK_OUTPUT_LINES = 5
"""Lines of a hook's output (stdout and stderr together) kept for the log."""

_LINE_CHARS = 500
_CHUNK = 64 * 1024

HookStatus = Literal["ok", "failed", "timeout"]


def hook_key(profile: str, zip_path: Path, sha256: str) -> str:
    """The watch state's key of the hook run for one fetched file (the same bytes under the same name)."""
    return f"{profile}|{zip_path.name}|{sha256}"


@dataclass(frozen=True)
class HookOutcome:
    """How one run of the hook ended."""

    status: HookStatus
    exit: int | None = None
    """The exit status; None when it could not start or was killed."""
    output: list[str] = field(default_factory=list)
    """Its first lines of output, or why it could not run."""

    def describe(self, timeout: float) -> str:
        """``exited 0``, ``exited 3``, ``was killed after 600 s``, ``could not run``."""
        if self.status == "timeout":
            return f"was killed after {timeout:.0f} s"
        return f"exited {self.exit}" if self.exit is not None else "could not run"


async def run_hook(command: str, env: dict[str, str], timeout: float = HOOK_TIMEOUT) -> HookOutcome:
    """Run ``command`` with ``env`` added to ours. Never raises for the hook's own faults.

    Cancelling (a stop) kills the hook and re-raises.
    """
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        return HookOutcome("failed", output=[f"on_fetched cannot be split into a command ({exc}); fix the profile."])
    if not argv:
        return HookOutcome("failed", output=["on_fetched is empty; fix the profile."])
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env={**os.environ, **env},
            start_new_session=True,
        )
    except OSError as exc:
        return HookOutcome("failed", output=[f"{argv[0]}: {exc.strerror or exc}"])
    lines: list[str] = []
    try:
        # asyncio.timeout, not wait_for: in Python 3.11 wait_for drops a cancel that
        # arrives as the hook ends, and a stopping watcher would run on.
        async with asyncio.timeout(timeout):
            await asyncio.gather(_first_lines(proc, lines), proc.wait())
    except TimeoutError:
        _kill(proc)
        await proc.wait()
        return HookOutcome("timeout", output=lines)
    except asyncio.CancelledError:
        _kill(proc)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(proc.wait(), 5)
        raise
    code = proc.returncode
    return HookOutcome("ok" if code == 0 else "failed", code, lines)


async def _first_lines(proc: asyncio.subprocess.Process, lines: list[str]) -> None:
    """Read the whole output in chunks (no line is too long), keeping the first lines."""
    assert proc.stdout is not None
    pending = b""
    while chunk := await proc.stdout.read(_CHUNK):
        if len(lines) >= HOOK_OUTPUT_LINES:
            continue
        pending += chunk
        *complete, pending = pending.split(b"\n")
        for raw in complete:
            if len(lines) < HOOK_OUTPUT_LINES:
                lines.append(_text(raw))
        pending = pending[: _LINE_CHARS * 4]  # a line's head is what is shown; drop the rest of a long one
    if pending and len(lines) < HOOK_OUTPUT_LINES:
        lines.append(_text(pending))


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "replace").rstrip("\r")[:_LINE_CHARS]


def _kill(proc: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
