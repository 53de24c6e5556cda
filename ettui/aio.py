"""Small asyncio facts shared by the services and the drop (no ettui imports)."""

from __future__ import annotations

import asyncio


def cancelling() -> bool:
    """Whether the current task has been asked to stop (a cancel not yet withdrawn).

    True also after a library swallowed the ``CancelledError`` (Python 3.11's
    ``wait_for`` returns the awaited result, or raises its error, when it
    completes as the cancel arrives), so code that would retry can stop instead.
    """
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0
