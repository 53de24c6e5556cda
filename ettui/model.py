"""Domain types shared by every layer.

Everything here is plain data: no I/O, no protocol libraries. Times are
timezone-aware UTC ``datetime`` objects throughout.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal, get_args


def utcnow() -> datetime:
    """The wall clock, timezone-aware UTC."""
    return datetime.now(UTC)


class JobStatus(str, enum.Enum):
    """Where a submitted batch stands in the vendor's queue.

    The four documented values plus ``UNKNOWN`` for anything else the service
    answers (kept raw on the job and polled on), and two of ettui's own:
    ``UNCONFIRMED`` (written before a request leaves; it stays so when no
    readable acceptance came back, so the service may or may not run it) and
    ``DISMISSED`` (the operator closed an Unconfirmed job).
    """

    UNCONFIRMED = "Unconfirmed"
    DISMISSED = "Dismissed"
    SCHEDULED = "Scheduled"
    PROCESSING = "Processing"
    COMPLETE = "Complete"
    ERROR = "Error"
    UNKNOWN = "Unknown"

    @property
    def terminal(self) -> bool:
        """True when the service will never move this job again."""
        return self in (JobStatus.COMPLETE, JobStatus.ERROR, JobStatus.DISMISSED)

    @property
    def polled(self) -> bool:
        """True while the service may still move the job and it has a batch ID to ask about."""
        return self in (JobStatus.SCHEDULED, JobStatus.PROCESSING, JobStatus.UNKNOWN)

    @classmethod
    def parse(cls, raw: str | None) -> JobStatus:
        """Match a status string case-insensitively; unknown text gives ``UNKNOWN``.

        ``Completed`` (seen in a third-party fixture) counts as ``COMPLETE``.
        """
        text = (raw or "").strip().lower()
        aliases = {
            "scheduled": cls.SCHEDULED,
            "queued": cls.SCHEDULED,
            "processing": cls.PROCESSING,
            "inprocess": cls.PROCESSING,
            "in process": cls.PROCESSING,
            "complete": cls.COMPLETE,
            "completed": cls.COMPLETE,
            "error": cls.ERROR,
        }
        return aliases.get(text, cls.UNKNOWN)

    @classmethod
    def from_word(cls, word: str) -> JobStatus | None:
        """The status an operator typed (``error``, ``Complete``, ``in process``); None if none is meant.

        Unlike ``parse`` (for reply text, where anything unknown is ``UNKNOWN``),
        a word that names no status is the operator's mistake, not a status.
        """
        text = word.strip().lower()
        named = next((status for status in cls if status.value.lower() == text), None)
        if named is not None:
            return named
        status = cls.parse(text)
        return None if status is cls.UNKNOWN else status


Dialect = Literal["xml", "soap"]
"""Which vendor API a profile speaks: the legacy XML API or the SOAP API."""

DIALECTS: tuple[Dialect, ...] = get_args(Dialect)
"""Every dialect, for choices in the CLI and the config rules."""


@dataclass(frozen=True)
class BatchRequest:
    """A request the user composed: a call from the catalogue and its parameters.

    ``params`` holds the user's values as text, keyed by the catalogue's
    parameter names; the API layer validates and encodes them.
    """

    call: str
    params: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SubmitResult:
    """What the service said when it accepted a request."""

    batch_id: str
    request_doc: str
    """The request document exactly as sent, with every secret removed."""
    reply: str
    """The raw reply body, for the job's history."""


@dataclass(frozen=True)
class Inquiry:
    """One answer to a status check (Batch Inquire or AsyncActivityStatus)."""

    batch_id: str
    status: JobStatus
    status_raw: str
    file_name: str | None = None
    message: str | None = None
    """The service's own words when it gives any (e.g. ``ErrorMsg``)."""
    reply: str = ""
    error: str | None = None
    """Set when the client refused a value the reply claimed (e.g. a file name
    that is not a bare name): one sentence naming the value, made safe. The
    inquiry then has ``status`` Error, no ``file_name``, and ``message`` equal to
    this sentence, so the job records it as its error and nothing is fetched."""


@dataclass(frozen=True)
class StatusChange:
    """One entry of a job's status history."""

    at: datetime
    status: JobStatus
    status_raw: str


@dataclass
class Job:
    """A submitted batch as the job store keeps it.

    ``batch_id`` is ``None`` only while the job is Unconfirmed (written ahead of
    its request, no acceptance read yet).
    """

    id: int
    profile: str
    dialect: str
    call: str
    batch_id: str | None
    submitted_at: datetime
    status: JobStatus = JobStatus.SCHEDULED
    status_raw: str = "Scheduled"
    request_doc: str = ""
    params: dict[str, str] = field(default_factory=dict)
    file_name: str | None = None
    status_changed_at: datetime | None = None
    last_poll_at: datetime | None = None
    next_poll_at: datetime | None = None
    last_error: str | None = None
    download_path: str | None = None
    extract_dir: str | None = None
    sha256: str | None = None
    expires_at: datetime | None = None
    replaces_id: int | None = None
    """The job this one resubmitted (an Unconfirmed one the operator sent again)."""
    poll_failures: int = 0
    """Polls that failed in a row since the last answer (shown on the board with ``last_error``)."""
    version: int = 0
    """The store's change counter at this job's last write (newer writes have higher numbers)."""
    submitted_by: str | None = None
    """Who submitted it (``user@host``); shared stores show whose job it is."""
    fetched_by: str | None = None
    """Who last downloaded its output (``user@host``)."""
    history: list[StatusChange] = field(default_factory=list)

    @property
    def terminal(self) -> bool:
        return self.status.terminal

    @property
    def label(self) -> str:
        """How the job is named in sentences: its batch ID, else its store id."""
        return f"batch {self.batch_id}" if self.batch_id else f"job {self.id} (unconfirmed)"

    @property
    def downloaded(self) -> bool:
        """True when the job's file was downloaded and verified (its SHA-256 is recorded)."""
        return bool(self.download_path and self.sha256)


class Urgency(str, enum.Enum):
    """How close a file is to being swept from the drop."""

    OK = "ok"
    SOON = "soon"  # under 12 h: amber
    URGENT = "urgent"  # under 2 h: red
    EXPIRED = "expired"


@dataclass(frozen=True)
class Expiry:
    """When a drop file will be removed, and how to present the time left."""

    expires_at: datetime

    def time_left(self, now: datetime) -> timedelta:
        return self.expires_at - now

    def urgency(
        self,
        now: datetime,
        soon: timedelta = timedelta(hours=12),
        urgent: timedelta = timedelta(hours=2),
    ) -> Urgency:
        left = self.time_left(now)
        if left <= timedelta(0):
            return Urgency.EXPIRED
        if left < urgent:
            return Urgency.URGENT
        if left < soon:
            return Urgency.SOON
        return Urgency.OK


SECONDS_PER_UNIT: dict[str, int] = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
"""Duration suffixes users type (``30m``, ``6h``, ``2d``, ``1w``) in filters and ``--since``."""

_DURATION = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*", re.IGNORECASE)


def parse_duration(text: str, *, bare_unit: str | None = None) -> timedelta | None:
    """``30m``, ``6h``, ``2d``, ``1w`` as a timedelta; None when ``text`` is not a duration.

    Args:
        text: What the user typed, e.g. ``--since 2d`` or the ``6h`` of ``expires<6h``.
        bare_unit: The unit of a bare number (the board's filter reads
            ``expires<6`` as hours); None: a bare number is not a duration.
    """
    match = _DURATION.fullmatch(text)
    if match is None:
        return None
    number, unit = match.groups()
    unit = unit.lower() or bare_unit
    if unit is None:
        return None
    return timedelta(seconds=float(number) * SECONDS_PER_UNIT[unit])


def format_duration(delta: timedelta) -> str:
    """Compact human duration: ``2d 03h``, ``5h 12m``, ``4m 09s``, ``-1h 02m``."""
    seconds = int(delta.total_seconds())
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    days, rem = divmod(seconds, 86400)
    hours, rem = divmod(rem, 3600)
    minutes, secs = divmod(rem, 60)
    if days:
        return f"{sign}{days}d {hours:02d}h"
    if hours:
        return f"{sign}{hours}h {minutes:02d}m"
    return f"{sign}{minutes}m {secs:02d}s"


@dataclass(frozen=True)
class DropFile:
    """A file in the remote drop, with its expiry."""

    path: str
    """Full remote path, e.g. ``/12345678/bulkasync_..._1.zip``."""
    size: int
    mtime: datetime
    expires_at: datetime
    job_id: int | None = None
    batch_id: str | None = None
    listed: bool = True
    """False for a file Batch Inquire named but the drop does not list."""
    local_path: str | None = None
    """Where the job store says this file was downloaded and verified (None: not yet)."""
    extract_dir: str | None = None
    """Where the job store says it was extracted."""

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]

    @property
    def expiry(self) -> Expiry:
        return Expiry(self.expires_at)


@dataclass(frozen=True)
class Progress:
    """A transfer's progress, as reported to callbacks."""

    done: int
    total: int
    rate: float
    """Bytes per second, smoothed."""

    @property
    def eta_seconds(self) -> float | None:
        if self.rate <= 0 or self.total <= 0:
            return None
        return max(0.0, (self.total - self.done) / self.rate)

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 0.0
