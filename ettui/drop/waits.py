"""Bounded waits on a drop: silence for ``stall_timeout`` seconds means the connection is dead.

Both transports use the same rule and the same sentence: the SFTP client
bounds each awaited request with :func:`bounded`; the FTPS client, whose
blocking sockets time out by themselves, raises :func:`stalled` when one does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from ettui.drop.transport import DropStalled

T = TypeVar("T")


def stalled(where: str, seconds: float, what: str) -> DropStalled:
    """The one sentence for a drop (``host:port``) that went silent ``while {what}``, for SFTP and FTPS alike."""
    return DropStalled(
        f"The drop at {where} sent nothing for {seconds:g} s while {what}; the connection is treated as dead."
    )


async def bounded(
    step: Awaitable[T],
    seconds: float | None,
    what: str,
    *,
    host: str,
    port: int,
    on_stall: Callable[[], None] | None = None,
) -> T:
    """Await ``step``; after ``seconds`` of waiting (None: never) call ``on_stall`` and raise :func:`stalled`."""
    if seconds is None:
        return await step
    try:
        # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancel that
        # arrives as the step completes (a stopped watcher kept downloading).
        async with asyncio.timeout(seconds):
            return await step
    except TimeoutError:
        if on_stall is not None:
            on_stall()
        raise stalled(f"{host}:{port}", seconds, what) from None


__all__ = ["bounded", "stalled"]
