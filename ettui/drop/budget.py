"""The connection budget: at most N connections to one drop account, across every ettui process.

The vendor's drop allows 10 simultaneous connections per account and refuses
the 11th. Several ettui processes on a host (the TUI, ``ettui watch``, a few
``ettui fetch`` in a script) would each open their own, so the budget is a
counting semaphore made of N lock files under the state dir: holding an
``flock`` on one of them is holding a connection slot. The kernel drops a
lock when its holder exits, however it exits, so a crashed process never
leaks a slot. A fetch that must wait says so once (a warning on the
``ettui.drop`` logger, which the CLI prints) and then waits; none fail for it.
"""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import logging
import os
from collections.abc import Callable
from pathlib import Path

from ettui import paths

log = logging.getLogger("ettui.drop")

POLL_SECONDS = 0.05
"""How often a waiting process looks for a free slot."""


class Slot:
    """One held connection slot; ``release`` (or process exit) frees it."""

    def __init__(self, fd: int, index: int) -> None:
        self._fd: int | None = fd
        self.index = index

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)  # closing the descriptor drops its flock

    @property
    def held(self) -> bool:
        return self._fd is not None


class ConnectionBudget:
    """``limit`` connection slots for ``user@host``, shared by every process using ``lock_dir``."""

    def __init__(
        self,
        host: str,
        user: str,
        limit: int,
        *,
        lock_dir: Path | None = None,
        on_wait: Callable[[str], None] | None = None,
        poll: float = POLL_SECONDS,
    ) -> None:
        if limit < 1:
            raise ValueError("a connection budget needs at least one slot")
        self.host, self.user, self.limit = host, user, limit
        self._dir = lock_dir
        self._on_wait = on_wait or log.warning
        self._poll = poll
        self._key = hashlib.sha256(f"{host}\0{user}".encode()).hexdigest()[:24]

    def _lock_dir(self) -> Path:
        return paths.ensure_private_dir(self._dir or paths.connection_locks_dir())

    def try_acquire(self) -> Slot | None:
        """A free slot now, or None when all ``limit`` are held."""
        folder = self._lock_dir()
        for index in range(self.limit):
            path = folder / f"{self._key}.{index}.lock"
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            return Slot(fd, index)
        return None

    async def acquire(self) -> Slot:
        """Wait for a slot; says once that it waits."""
        said = False
        while True:
            slot = await asyncio.to_thread(self.try_acquire) if said else self.try_acquire()
            if slot is not None:
                return slot
            if not said:
                said = True
                self._on_wait(
                    f"all {self.limit} connections to {self.user}@{self.host} allowed by drop_max_connections are in use "
                    "by other ettui processes; waiting for one to be free."
                )
            await asyncio.sleep(self._poll)


__all__ = ["ConnectionBudget", "Slot"]
