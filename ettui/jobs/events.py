"""What a poller tells its listeners (the board, ``status --watch``, the watcher): one ``JobEvent`` each."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ettui.errors import EttuiError
from ettui.model import Job, JobStatus

EventKind = Literal[
    "submitted", "submitting", "discarded", "status", "updated", "polled", "error", "throttled", "paused", "resumed",
    "store",
]


@dataclass(frozen=True)
class JobEvent:
    """Something happened to a job (or to the whole poller, when ``job`` is None).

    Kinds: ``submitted`` (``track``, or a job another process added),
    ``submitting`` (a write-ahead job whose request is on its way or waits to
    be retried; ``note`` says which, e.g. "Submitting (retry 2 of 4)"),
    ``discarded`` (a write-ahead job whose request never reached the
    service was removed again),
    ``status`` (the status changed; ``previous`` holds the old one, when
    known), ``updated`` (another process changed the job's details),
    ``polled`` (answered, unchanged), ``error`` (the poll failed; the job
    keeps its status), ``throttled`` (an HTTP 500: the profile pauses),
    ``paused`` / ``resumed`` (``job`` is None), ``store`` (the store's
    health changed: ``note`` is its status, e.g. "store: reconnecting", or
    None when it works again; ``job`` is None).
    """

    kind: EventKind
    job: Job | None = None
    previous: JobStatus | None = None
    error: EttuiError | None = None
    note: str | None = None
