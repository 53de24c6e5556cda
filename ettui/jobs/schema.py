"""The job store's schema, its migrations, and how values are written to SQLite.

``MIGRATIONS[i]`` takes a file from ``PRAGMA user_version`` i to i + 1; a
migration is a list of statements run inside the store's migration
transaction. Append, never edit: files in the field are at every version.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from ettui.model import Job, JobStatus

# --- schema -----------------------------------------------------------------

Migration = Sequence[str]

_V1: Migration = (
    # v1: the tables as first shipped. AUTOINCREMENT so a job id is never reused,
    # even after deletes: ids appear in the UI and in scripts' output.
    """CREATE TABLE jobs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        profile TEXT NOT NULL,
        dialect TEXT NOT NULL,
        call TEXT NOT NULL,
        batch_id TEXT NOT NULL,
        submitted_at TEXT NOT NULL,
        status TEXT NOT NULL,
        status_raw TEXT NOT NULL,
        status_changed_at TEXT,
        request_doc TEXT NOT NULL DEFAULT '',
        params_json TEXT NOT NULL DEFAULT '{}',
        file_name TEXT,
        last_poll_at TEXT,
        next_poll_at TEXT,
        last_error TEXT,
        download_path TEXT,
        sha256 TEXT,
        expires_at TEXT,
        UNIQUE (profile, batch_id)
    )""",
    """CREATE TABLE status_history (
        id INTEGER PRIMARY KEY,
        job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
        at TEXT NOT NULL,
        status TEXT NOT NULL,
        status_raw TEXT NOT NULL
    )""",
    "CREATE INDEX status_history_job ON status_history (job_id, id)",
)

_V2: Migration = (
    # v2: extraction is tracked per job, and listing/filtering got indexes so the
    # board stays fast at 100,000 jobs. (status, submitted_at) and
    # (profile, submitted_at) serve "filter, newest first, one page" without a sort.
    "ALTER TABLE jobs ADD COLUMN extract_dir TEXT",
    "CREATE INDEX jobs_status ON jobs (status, submitted_at)",
    "CREATE INDEX jobs_profile ON jobs (profile, submitted_at)",
    "CREATE INDEX jobs_submitted ON jobs (submitted_at)",
    "CREATE INDEX jobs_batch ON jobs (batch_id)",
    "CREATE INDEX jobs_file ON jobs (file_name)",
)

_V3: Migration = (
    # v3: measured at 100,000 jobs (bench/store_scale.py). The planner cannot
    # know that live jobs are ~1% of the file, so "live jobs" scanned the
    # submitted_at index; a partial index holds only live rows. (The WHERE is
    # repeated literally in ``live()``: SQLite uses a partial index only when
    # the query contains its condition word for word.) Profile plus status
    # filters and counts, and the expiry sort, get their own indexes.
    "CREATE INDEX jobs_live ON jobs (profile, submitted_at) WHERE status IN ('Scheduled', 'Processing', 'Unknown')",
    "CREATE INDEX jobs_profile_status ON jobs (profile, status, submitted_at)",
    "CREATE INDEX jobs_expires ON jobs (expires_at)",
)

_V3_COLUMNS = (
    "id, profile, dialect, call, batch_id, submitted_at, status, status_raw, "
    "status_changed_at, request_doc, params_json, file_name, last_poll_at, next_poll_at, "
    "last_error, download_path, extract_dir, sha256, expires_at"
)

_V4: Migration = (
    # v4: write-ahead submits. A job is recorded (Unconfirmed) before its
    # request leaves, so batch_id is NULL until an acceptance is read; SQLite
    # cannot drop NOT NULL in place, so the table is rebuilt (the store runs
    # migrations with foreign keys off, so dropping the old table does not
    # cascade into status_history). New: the job a resubmit replaces, the
    # count of polls failed in a row, and a change counter (``version``, from
    # one store-wide sequence) that lets every process read what others changed.
    """CREATE TABLE jobs_v4 (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        profile TEXT NOT NULL,
        dialect TEXT NOT NULL,
        call TEXT NOT NULL,
        batch_id TEXT,
        submitted_at TEXT NOT NULL,
        status TEXT NOT NULL,
        status_raw TEXT NOT NULL,
        status_changed_at TEXT,
        request_doc TEXT NOT NULL DEFAULT '',
        params_json TEXT NOT NULL DEFAULT '{}',
        file_name TEXT,
        last_poll_at TEXT,
        next_poll_at TEXT,
        last_error TEXT,
        download_path TEXT,
        sha256 TEXT,
        expires_at TEXT,
        extract_dir TEXT,
        replaces_id INTEGER,
        poll_failures INTEGER NOT NULL DEFAULT 0,
        version INTEGER NOT NULL DEFAULT 0,
        UNIQUE (profile, batch_id)
    )""",
    f"INSERT INTO jobs_v4 ({_V3_COLUMNS}, version) SELECT {_V3_COLUMNS}, id FROM jobs",
    # Keep AUTOINCREMENT's high-water mark, so ids of deleted jobs are never reused.
    "INSERT INTO sqlite_sequence (name, seq) SELECT 'jobs_v4', 0 "
    "WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'jobs_v4')",
    "UPDATE sqlite_sequence SET seq = max(seq, coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'jobs'), 0)) "
    "WHERE name = 'jobs_v4'",
    "DROP TABLE jobs",
    "ALTER TABLE jobs_v4 RENAME TO jobs",
    "CREATE INDEX jobs_status ON jobs (status, submitted_at)",
    "CREATE INDEX jobs_profile ON jobs (profile, submitted_at)",
    "CREATE INDEX jobs_submitted ON jobs (submitted_at)",
    "CREATE INDEX jobs_batch ON jobs (batch_id)",
    "CREATE INDEX jobs_file ON jobs (file_name)",
    "CREATE INDEX jobs_live ON jobs (profile, submitted_at) WHERE status IN ('Scheduled', 'Processing', 'Unknown')",
    "CREATE INDEX jobs_profile_status ON jobs (profile, status, submitted_at)",
    "CREATE INDEX jobs_expires ON jobs (expires_at)",
    "CREATE INDEX jobs_version ON jobs (version)",
)

_V5: Migration = (
    # v5: team mode (issue 13). Who did what (``user@host``), and leases: the
    # poller that holds ``lease_holder`` until ``lease_until`` is the only one
    # polling the job (several local processes share one file too); a fetch
    # holds ``fetching_by`` until ``fetching_until`` so two operators do not
    # download the same output at once. Lease writes do not move ``version``:
    # they are nobody's news.
    "ALTER TABLE jobs ADD COLUMN submitted_by TEXT",
    "ALTER TABLE jobs ADD COLUMN fetched_by TEXT",
    "ALTER TABLE jobs ADD COLUMN lease_holder TEXT",
    "ALTER TABLE jobs ADD COLUMN lease_until TEXT",
    "ALTER TABLE jobs ADD COLUMN fetching_by TEXT",
    "ALTER TABLE jobs ADD COLUMN fetching_until TEXT",
)

_V6: Migration = (
    # v6: fair shares (issue 13). Each poller says it follows a profile until
    # ``alive_until``; the pollers of a profile share its live jobs by their count.
    "CREATE TABLE pollers (holder TEXT NOT NULL, profile TEXT NOT NULL, alive_until TEXT NOT NULL, "
    "PRIMARY KEY (holder, profile))",
)

MIGRATIONS: list[Migration] = [_V1, _V2, _V3, _V4, _V5, _V6]
"""``MIGRATIONS[i]`` upgrades a file from ``user_version`` i to i + 1."""

SCHEMA_VERSION = len(MIGRATIONS)

COLUMNS = _V3_COLUMNS + ", replaces_id, poll_failures, version, submitted_by, fetched_by"

ORDER_COLUMNS = frozenset(
    {
        "id",
        "submitted_at",
        "status",
        "status_changed_at",
        "batch_id",
        "profile",
        "call",
        "file_name",
        "last_poll_at",
        "next_poll_at",
        "expires_at",
        "version",
    }
)

LIVE_SQL = "status IN ('Scheduled', 'Processing', 'Unknown')"
"""Exactly the condition of the ``jobs_live`` partial index (see ``_V3``)."""
assert {s.value for s in JobStatus if s.polled} == {"Scheduled", "Processing", "Unknown"}


# --- time and value helpers ---------------------------------------------------


def to_text(at: datetime) -> str:
    """An aware datetime as fixed-width UTC ISO-8601 text (sorts as time sorts)."""
    if at.tzinfo is None or at.utcoffset() is None:
        # A naive time is a bug upstream; guessing its zone would file it wrongly.
        raise ValueError(f"naive datetime {at!r}: the job store needs aware UTC times")
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def from_text(text: str | None) -> datetime | None:
    """Stored text back to an aware UTC datetime (``None`` stays ``None``)."""
    if text is None:
        return None
    at = datetime.fromisoformat(text)
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def status_values(status: JobStatus | str | Iterable[JobStatus | str]) -> list[str]:
    if isinstance(status, (JobStatus, str)):
        status = [status]
    return [s.value if isinstance(s, JobStatus) else JobStatus(s).value for s in status]


def row_to_job(row: tuple[Any, ...]) -> Job:
    """A ``COLUMNS`` row as a Job (positional: this runs once per row of every list)."""
    (job_id, profile, dialect, call, batch_id, submitted, status, status_raw, changed, request_doc,
     params_json, file_name, last_poll, next_poll, last_error, download_path, extract_dir, sha256,
     expires, replaces_id, poll_failures, version, submitted_by, fetched_by) = row  # fmt: skip
    parse = datetime.fromisoformat  # stored text always carries +00:00
    return Job(
        id=job_id,
        profile=profile,
        dialect=dialect,
        call=call,
        batch_id=batch_id,
        submitted_at=parse(submitted),
        status=JobStatus(status),
        status_raw=status_raw,
        request_doc=request_doc,
        params=json.loads(params_json) if params_json != "{}" else {},
        file_name=file_name,
        status_changed_at=parse(changed) if changed else None,
        last_poll_at=parse(last_poll) if last_poll else None,
        next_poll_at=parse(next_poll) if next_poll else None,
        last_error=last_error,
        download_path=download_path,
        extract_dir=extract_dir,
        sha256=sha256,
        expires_at=parse(expires) if expires else None,
        replaces_id=replaces_id,
        poll_failures=poll_failures,
        version=version,
        submitted_by=submitted_by,
        fetched_by=fetched_by,
    )
