"""The sandbox's shared state on disk, so several ettui processes see one queue.

``ettui submit`` starts a sandbox, submits and exits; a later ``ettui status
--watch`` starts another sandbox on the same root. Like the vendor's service,
the second must know the batch. Every accepted batch and every finished one
is one JSON line appended to ``batches.jsonl`` under an exclusive ``flock``;
each process reads the lines it has not seen before assigning an ID or when
asked about an ID it does not know. Batch IDs stay unique across processes.

The sandbox clock's runs are kept beside it (``clock.json``, see
``clock_state.py``): a fast clock carries on from where the last fast process
left it, and a run at the real pace brings the stored times back to real time.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any


class Journal:
    """Append-only JSON lines, shared between processes with ``flock``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = 0
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(exist_ok=True)

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the exclusive lock (other processes wait) for a read-modify-append."""
        with open(self.path, "rb") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def read_new(self) -> list[dict[str, Any]]:
        """The complete lines appended since the last call (by anyone)."""
        entries: list[dict[str, Any]] = []
        with open(self.path, "rb") as fh:
            fh.seek(self._offset)
            data = fh.read()
        end = data.rfind(b"\n") + 1  # a line still being written is read next time
        for line in data[:end].splitlines():
            with contextlib.suppress(ValueError):
                entries.append(json.loads(line))
        self._offset += end
        return entries

    def append(self, entry: dict[str, Any]) -> None:
        """Append one line; one ``write`` on an O_APPEND file, so lines never interleave."""
        line = (json.dumps(entry, separators=(",", ":")) + "\n").encode()
        with open(self.path, "ab") as fh:
            fh.write(line)

