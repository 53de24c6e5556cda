"""How the headless commands print: ``--json`` shapes, plain tables, the download bar.

Every value in a plain table comes from outside (batch IDs, statuses, file
names, error texts) and goes through :func:`ettui.safetext.clean` here;
``--json`` keeps values exact and is safe as it is (``ensure_ascii``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from ettui.model import DropFile, Job, format_duration
from ettui.model import Progress as TransferProgress
from ettui.safetext import clean


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def job_json(job: Job) -> dict[str, Any]:
    """A job as the ``--json`` outputs show it."""
    return {
        "id": job.id,
        "profile": job.profile,
        "dialect": job.dialect,
        "call": job.call,
        "batch_id": job.batch_id,
        "status": job.status.value,
        "status_raw": job.status_raw,
        "submitted_at": iso(job.submitted_at),
        "status_changed_at": iso(job.status_changed_at),
        "file_name": job.file_name,
        "last_poll_at": iso(job.last_poll_at),
        "next_poll_at": iso(job.next_poll_at),
        "last_error": job.last_error,
        "download_path": job.download_path,
        "sha256": job.sha256,
        "expires_at": iso(job.expires_at),
        "submitted_by": job.submitted_by,
        "fetched_by": job.fetched_by,
        "history": [{"at": iso(h.at), "status": h.status_raw} for h in job.history],
    }


def print_json(obj: Any) -> None:
    """One JSON document on stdout, values exact.

    ``ensure_ascii`` (the default, kept on purpose) writes every non-ASCII
    character as ``\\uXXXX``: with it off, C1 controls such as ``\\x9b`` (a
    one-byte CSI) would reach the terminal raw.
    """
    print(json.dumps(obj, separators=(",", ":"), ensure_ascii=True), flush=True)


def text_table(rows: Sequence[Sequence[str]]) -> str:
    """Rows (the first is the header) as padded columns, every cell cleaned for a terminal."""
    safe = [[clean(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in safe) for i in range(len(safe[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in safe)


def jobs_table(jobs: Sequence[Job], now: datetime) -> str:
    rows: list[tuple[str, ...]] = [("ID", "BATCH", "CALL", "STATUS", "AGE", "FILE", "LAST ERROR")]
    for j in jobs:
        rows.append(
            (
                str(j.id),
                j.batch_id or "-",
                j.call,
                j.status_raw,
                format_duration(now - j.submitted_at),
                j.file_name or "-",
                clean(j.last_error or "")[:50],
            )
        )
    return text_table(rows)


def drop_json(f: DropFile, now: datetime) -> dict[str, Any]:
    return {
        "path": f.path,
        "name": f.name,
        "size": f.size,
        "mtime": iso(f.mtime),
        "expires_at": iso(f.expires_at),
        "seconds_left": int((f.expires_at - now).total_seconds()),
        "urgency": f.expiry.urgency(now).value,
        "batch_id": f.batch_id,
        "listed": f.listed,
    }


class ProgressBar:
    """A rich progress bar with rate and ETA on stderr (terminals only)."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn, TransferSpeedColumn

        # stderr, so stdout stays the command's result even on a terminal.
        self._progress = Progress(
            "[progress.description]{task.description}",
            BarColumn(), DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn(),
            transient=True,
            console=Console(stderr=True),
        )
        self._task = self._progress.add_task("download", total=None)
        self._progress.start()

    def update(self, p: TransferProgress) -> None:
        self._progress.update(self._task, completed=p.done, total=p.total or None)

    def stop(self) -> None:
        self._progress.stop()
