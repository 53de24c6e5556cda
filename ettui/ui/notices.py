"""Calm notifications: merged completion toasts, quiet repeats, and the status line.

Completions and failures that arrive within ``MERGE_SECONDS`` share one toast
("5 batches Complete"); an error toast already shown stays quiet for
``ERROR_QUIET_SECONDS`` (the status line keeps saying it). The status line
shows each endpoint's state and its last successful exchange.

Pure glue with no I/O: the app hands :class:`Toasts` its ``notify`` (which
cleans remote text and turns markup off) and a timer.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import tzinfo
from typing import Protocol

from rich.text import Text
from textual.notifications import SeverityLevel
from textual.widgets import Static

from ettui.model import Job, JobStatus
from ettui.safetext import clean_text
from ettui.ui.health import EndpointHealth, clock_time

MERGE_SECONDS = 1.5
"""Completions (and failures) within this long share one toast."""
ERROR_QUIET_SECONDS = 600.0
"""The same error toast is not shown again within this long (the status line keeps saying it)."""


class Notify(Protocol):
    """The app's ``notify`` (it cleans the text; markup stays off)."""

    def __call__(
        self, message: str, *, title: str = "", severity: SeverityLevel = "information", timeout: float | None = None,
        markup: bool = False,
    ) -> None: ...


def some_batches(jobs: list[Job], shown: int = 4) -> str:
    """``553201, 553202, 553203 and 2 more``."""
    ids = [job.batch_id or f"#{job.id}" for job in jobs]
    head = ", ".join(ids[:shown])
    return f"{head} and {len(ids) - shown} more" if len(ids) > shown else head


class Toasts:
    """Toasts that merge (completions) and stay quiet (repeated errors)."""

    def __init__(
        self,
        notify: Notify,
        set_timer: Callable[[float, Callable[[], None]], object],
        merged: Callable[[bool], None],
    ) -> None:
        """``merged(any_complete)`` runs after a merged toast (the app rings and lists the drop)."""
        self._notify = notify
        self._set_timer = set_timer
        self._merged = merged
        self._shown: dict[object, float] = {}
        """Error toasts shown, by what they said, with when (monotonic)."""
        self._gathering: dict[JobStatus, list[Job]] = {}

    def once(
        self, key: object, message: str, *, title: str, severity: SeverityLevel = "error", timeout: float = 10
    ) -> bool:
        """Show a toast unless the same ``key`` showed within ``ERROR_QUIET_SECONDS``; True when shown."""
        now = time.monotonic()
        last = self._shown.get(key)
        if last is not None and now - last < ERROR_QUIET_SECONDS:
            return False
        self._shown[key] = now
        self._notify(message, title=title, severity=severity, timeout=timeout)
        return True

    def status_changed(self, job: Job) -> None:
        """Gather Complete and Error changes for a moment, then one toast for all of them."""
        if job.status is JobStatus.UNCONFIRMED:
            from ettui.session import unconfirmed_sentence

            # Not merged: each one asks the operator to look (dismiss or resubmit).
            sentence = unconfirmed_sentence(job, job.last_error or "no acceptance was read")
            self._notify(sentence, title="Submit unconfirmed", severity="warning", timeout=15)
            return
        if job.status not in (JobStatus.COMPLETE, JobStatus.ERROR):
            return
        if not self._gathering:
            self._set_timer(MERGE_SECONDS, self.flush)
        self._gathering.setdefault(job.status, []).append(job)

    def flush(self) -> None:
        """Show what was gathered: one toast for the Complete jobs, one for the failed ones."""
        gathered, self._gathering = self._gathering, {}
        done = gathered.get(JobStatus.COMPLETE, [])
        failed = gathered.get(JobStatus.ERROR, [])
        if len(done) == 1:
            job = done[0]
            self._notify(f"Batch {job.batch_id} ({job.call}) is Complete: {job.file_name or 'file pending'}.", title="Complete")
        elif done:
            self._notify(f"Batches {some_batches(done)} are Complete; d downloads each.", title=f"{len(done)} batches Complete")
        if len(failed) == 1:
            job = failed[0]
            self._notify(f"Batch {job.batch_id} ({job.call}) ended in Error.", title="Error", severity="error", timeout=10)
        elif failed:
            self._notify(
                f"Batches {some_batches(failed)} ended in Error; enter shows why.",
                title=f"{len(failed)} batches in Error", severity="error", timeout=10,
            )
        if done or failed:
            self._merged(bool(done))


class StatusLine(Static):
    """The line above the footer: each endpoint's state and its last successful exchange."""

    def show(self, api: EndpointHealth, drop: EndpointHealth, zone: tzinfo | None = None) -> None:
        """``API connected (polled 14:05:09) · drop down since 14:02 · drop: <the error>``; times in ``zone``."""
        parts = [api.describe(zone)]
        if api.last_ok is not None:
            parts[-1] += f" (polled {clock_time(api.last_ok, seconds=True, zone=zone)})"
        parts.append(drop.describe(zone))
        if drop.last_ok is not None:
            parts[-1] += f" (listed {clock_time(drop.last_ok, seconds=True, zone=zone)})"
        text = Text(" · ".join(parts))
        for health in (api, drop):
            if health.state in ("retrying", "down") and health.last_error:
                text.append(f" · {health.name}: ")
                text.append_text(clean_text(health.last_error))  # an error sentence quotes remote text
        self.update(text)
