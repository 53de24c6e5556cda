"""The SQLite engine of the job store: every submitted batch, its status history and its files.

This is the synchronous layer. Nothing above ``ettui.jobs`` uses it directly:
the session, poller, CLI and UI get the async interface
(``ettui.jobs.base.AsyncJobStore``, built by ``open_store``), whose SQLite
backend (``ettui.jobs.sqlite``) runs these methods on one worker thread.

One file (``paths.job_store()``) shared by every ettui process on the host.

Durability and concurrency choices, and why:

* **WAL journal.** Readers never block the writer and vice versa, so a UI and a
  CLI (or two UIs) can use one file at once. Writers serialise on SQLite's write
  lock; ``busy_timeout`` makes the loser wait instead of failing, and every
  write starts with ``BEGIN IMMEDIATE`` so the lock is taken up front (a
  deferred transaction that upgrades from read to write can fail with
  ``SQLITE_BUSY`` without the busy handler ever being called).
* **``synchronous``.** In WAL mode a commit ``write()``s its frames to the
  ``-wal`` file before ``COMMIT`` returns. A process killed with SIGKILL cannot
  take the OS page cache with it, so with ``synchronous=NORMAL`` a committed
  transaction already survives ``kill -9``. What NORMAL can lose is the last few
  commits on *power loss or an OS crash*, because it only fsyncs at checkpoints.
  ``add`` (the write-ahead record of a submit) and ``confirm`` (its batch ID,
  which we may never learn again) are the points where a submission is
  acknowledged, so they switch the
  connection to ``synchronous=FULL`` for its transaction: the WAL is fsynced
  before ``add`` returns, surviving power loss too. Poll bookkeeping (last and
  next poll, status changes) runs at NORMAL: it is frequent, and anything lost
  on power loss is re-learned by the next poll.
* **One connection per store object**, opened with ``check_same_thread=False``
  and guarded by a lock, because the async backend runs store methods in a
  worker thread while tests and benchmarks may call them directly.
* **A change counter** (``version``): every write gives the job the next value
  of ``max(version) + 1`` inside its write transaction (writers are serialised,
  so values are unique and increasing), and ``changes(since)`` reads what any
  process wrote after a point; ``data_version()`` tells cheaply whether another
  connection committed at all.

Times are stored as fixed-width ISO-8601 UTC text (``2026-01-01T00:00:00.000000+00:00``)
so text order is time order and indexes on them work; they come back as aware
``datetime`` objects.

The schema (``ettui.jobs.schema``) is versioned with ``PRAGMA user_version``; ``MIGRATIONS[i]`` takes a
file from version ``i`` to ``i + 1``. Opening a file migrates it in one
``BEGIN IMMEDIATE`` transaction, so two processes opening an old file at once
cannot both migrate it.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from ettui.errors import StoreError
from ettui.jobs.base import status_columns
from ettui.jobs.schema import (
    LIVE_SQL,
    MIGRATIONS,
    SCHEMA_VERSION,
    from_text,
    to_text,
)
from ettui.jobs.store_read import JobReader
from ettui.model import Job, JobStatus

__all__ = [
    "BUSY_TIMEOUT_MS",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "JobStore",
    "StoreError",
    "from_text",
    "to_text",
]

BUSY_TIMEOUT_MS = 10_000
"""How long a writer waits for another process's write lock before giving up."""


# --- the store ----------------------------------------------------------------


def _lease_text(epoch: float) -> str:
    """A wall-clock time (seconds since the epoch) as stored text, for leases."""
    return to_text(datetime.fromtimestamp(epoch, UTC))


class JobStore(JobReader):
    """Submitted jobs and their history in one SQLite file, safe for several processes.

    Methods are synchronous and may block briefly on another process's write
    lock (up to ``BUSY_TIMEOUT_MS``); async code uses ``ettui.jobs.sqlite.SqliteStore``.
    The queries are ``JobReader``'s (``ettui.jobs.store_read``); this class opens,
    migrates and writes.

    Args:
        path: The database file; created (mode 0600, parent 0700) if missing.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.RLock()
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not self.path.exists():
            # Request documents are stored without secrets, but the job list is
            # still nobody else's business. SQLite gives -wal/-shm the same mode.
            os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))
        try:
            self._conn = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000
            )
        except sqlite3.Error as exc:
            raise StoreError(f"Cannot open the job store {self.path}: {exc}.") from exc
        try:
            self._configure()
            self._migrate()
        except sqlite3.DatabaseError as exc:
            self._conn.close()
            raise StoreError(
                f"The job store {self.path} is not a usable SQLite file ({exc}); move it aside and restart."
            ) from exc
        except BaseException:
            self._conn.close()
            raise

    # -- lifecycle --

    def _configure(self) -> None:
        conn = self._conn
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA foreign_keys = ON")
        # Switching a fresh file to WAL needs an exclusive lock; two processes
        # creating the file at once can see SQLITE_BUSY here despite the busy
        # handler, so retry briefly.
        deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
        while True:
            try:
                mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                break
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.01)
        if str(mode).lower() != "wal":
            raise StoreError(f"The job store {self.path} cannot use WAL mode (got {mode!r}); is it on a network drive?")
        conn.execute("PRAGMA synchronous = NORMAL")

    def _migrate(self) -> None:
        if self._user_version() == SCHEMA_VERSION:
            return
        # A migration may rebuild a table (v4); with foreign keys on, dropping
        # the old one would cascade into status_history. The pragma cannot
        # change inside a transaction, so it is switched around it.
        self._conn.execute("PRAGMA foreign_keys = OFF")
        try:
            self._migrate_locked()
        finally:
            self._conn.execute("PRAGMA foreign_keys = ON")

    def _migrate_locked(self) -> None:
        with self._write():
            # Re-read inside the write lock: another process may have migrated
            # between our first look and taking the lock.
            version = self._user_version()
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"The job store {self.path} was written by a newer ettui (schema {version}, "
                    f"this one knows {SCHEMA_VERSION}); upgrade ettui to open it."
                )
            for step in MIGRATIONS[version:]:
                for statement in step:
                    self._conn.execute(statement)
            # user_version is transactional: it moves with the schema or not at all.
            self._conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def _user_version(self) -> int:
        return int(self._conn.execute("PRAGMA user_version").fetchone()[0])

    @property
    def schema_version(self) -> int:
        """The file's ``PRAGMA user_version``."""
        with self._lock:
            return self._user_version()

    @property
    def enforces_foreign_keys(self) -> bool:
        """``PRAGMA foreign_keys`` of this connection (a per-connection setting a migration must not lose)."""
        with self._lock:
            return bool(self._conn.execute("PRAGMA foreign_keys").fetchone()[0])

    def close(self) -> None:
        """Close the connection (idempotent)."""
        with self._lock:
            self._conn.close()

    def __enter__(self) -> JobStore:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @contextmanager
    def _write(self, *, durable: bool = False) -> Iterator[sqlite3.Connection]:
        """One write transaction under the thread lock; ``durable`` fsyncs on commit."""
        with self._lock:
            conn = self._conn
            if durable:
                conn.execute("PRAGMA synchronous = FULL")
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    yield conn
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
            finally:
                if durable:
                    conn.execute("PRAGMA synchronous = NORMAL")

    @staticmethod
    def _next_version(conn: sqlite3.Connection) -> int:
        """The next value of the store-wide change counter (inside a write transaction)."""
        return int(conn.execute("SELECT coalesce(max(version), 0) + 1 FROM jobs").fetchone()[0])

    # -- writing --

    def add(
        self,
        *,
        profile: str,
        dialect: str,
        call: str,
        batch_id: str | None,
        submitted_at: datetime,
        request_doc: str,
        params: dict[str, str],
        status: JobStatus = JobStatus.SCHEDULED,
        replaces_id: int | None = None,
        submitted_by: str | None = None,
    ) -> Job:
        """Record a job. Durable (fsynced) when it returns.

        ``request_doc`` must already have its secrets removed. The job starts
        with one history entry at ``submitted_at``: ``Scheduled`` for a job the
        service accepted, ``Unconfirmed`` (``batch_id=None``) for the write-ahead
        record of a request about to leave.

        Raises:
            StoreError: this profile already has a job with this batch ID.
        """
        submitted = to_text(submitted_at)
        try:
            with self._write(durable=True) as conn:
                cur = conn.execute(
                    "INSERT INTO jobs (profile, dialect, call, batch_id, submitted_at, status, status_raw, "
                    "status_changed_at, request_doc, params_json, replaces_id, version, submitted_by) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        profile,
                        dialect,
                        call,
                        batch_id,
                        submitted,
                        status.value,
                        status.value,
                        submitted,
                        request_doc,
                        json.dumps(params, sort_keys=True),
                        replaces_id,
                        self._next_version(conn),
                        submitted_by,
                    ),
                )
                job_id = int(cur.lastrowid or 0)
                conn.execute(
                    "INSERT INTO status_history (job_id, at, status, status_raw) VALUES (?, ?, ?, ?)",
                    (job_id, submitted, status.value, status.value),
                )
        except sqlite3.IntegrityError as exc:
            raise StoreError(
                f"Profile {profile!r} already has a job with batch ID {batch_id}; it is not recorded twice."
            ) from exc
        job = self.get(job_id)
        assert job is not None
        return job

    def confirm(self, job_id: int, *, batch_id: str, at: datetime, request_doc: str | None = None) -> Job:
        """An Unconfirmed job was accepted: give it its batch ID and make it Scheduled. Durable.

        Raises:
            StoreError: the profile already has a job with this batch ID.
            KeyError: no such job.
        """
        sets = "batch_id = ?, status = ?, status_raw = ?, status_changed_at = ?, last_error = NULL, version = ?"
        try:
            with self._write(durable=True) as conn:
                args: list[Any] = [batch_id, JobStatus.SCHEDULED.value, JobStatus.SCHEDULED.value, to_text(at),
                                   self._next_version(conn)]
                if request_doc is not None:
                    sets += ", request_doc = ?"
                    args.append(request_doc)
                cur = conn.execute(f"UPDATE jobs SET {sets} WHERE id = ?", (*args, job_id))
                if cur.rowcount == 0:
                    raise KeyError(f"no job {job_id}")
                conn.execute(
                    "INSERT INTO status_history (job_id, at, status, status_raw) VALUES (?, ?, ?, ?)",
                    (job_id, to_text(at), JobStatus.SCHEDULED.value, JobStatus.SCHEDULED.value),
                )
        except sqlite3.IntegrityError as exc:
            raise StoreError(f"Another job already has batch ID {batch_id}; job {job_id} stays Unconfirmed.") from exc
        job = self.get(job_id)
        assert job is not None
        return job

    def note(self, job_id: int, message: str | None) -> Job:
        """Set the job's ``last_error`` (why a submit is Unconfirmed, or what a retry waits for)."""
        self._update(job_id, "last_error = ?", message)
        job = self.get(job_id)
        assert job is not None
        return job

    def discard(self, job_id: int) -> bool:
        """Delete an Unconfirmed job whose request never reached the service. False if not Unconfirmed."""
        with self._write(durable=True) as conn:
            cur = conn.execute("DELETE FROM jobs WHERE id = ? AND status = ?", (job_id, JobStatus.UNCONFIRMED.value))
            return cur.rowcount > 0

    def dismiss(self, job_id: int, *, at: datetime) -> Job:
        """The operator closed an Unconfirmed job (it is kept, as Dismissed, in the history).

        Raises:
            StoreError: the job is not Unconfirmed.
            KeyError: no such job.
        """
        with self._write() as conn:
            row = conn.execute("SELECT status FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if row is None:
                raise KeyError(f"no job {job_id}")
            if row[0] != JobStatus.UNCONFIRMED.value:
                raise StoreError(f"Job {job_id} is {row[0]}, not Unconfirmed; only Unconfirmed jobs are dismissed.")
            value = JobStatus.DISMISSED.value
            conn.execute(
                "UPDATE jobs SET status = ?, status_raw = ?, status_changed_at = ?, version = ? WHERE id = ?",
                (value, value, to_text(at), self._next_version(conn), job_id),
            )
            conn.execute(
                "INSERT INTO status_history (job_id, at, status, status_raw) VALUES (?, ?, ?, ?)",
                (job_id, to_text(at), value, value),
            )
        job = self.get(job_id)
        assert job is not None
        return job

    def record_status(
        self,
        job_id: int,
        status: JobStatus,
        status_raw: str,
        at: datetime,
        *,
        file_name: str | None = None,
        message: str | None = None,
        next_poll: tuple[datetime | None, datetime | None] | None = None,
    ) -> tuple[Job, bool]:
        """Record what an inquiry said. Returns the job and whether its status changed.

        History gains an entry only when the raw status text changes (so an
        unknown status that changes wording is still seen). ``file_name`` is
        kept when given and never cleared by a later ``None``. ``message`` (the
        service's own words) is kept as ``last_error`` when the status is Error,
        because that is the reason the user needs to see.

        ``next_poll``, when given, also records the poll in the same
        transaction (as ``record_poll`` would, clearing an earlier error): the
        next poll time if the status changed, and if it did not (both worked
        out beforehand, so no caller code runs inside the transaction); a
        terminal status gets none. One transaction per poll instead of two is
        what the poller's throughput needs.
        """
        with self._write() as conn:
            row = conn.execute("SELECT status, status_raw, file_name FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if row is None:
                raise KeyError(f"no job {job_id}")
            changed = row[1] != status_raw or row[0] != status.value
            if changed:
                conn.execute(
                    "INSERT INTO status_history (job_id, at, status, status_raw) VALUES (?, ?, ?, ?)",
                    (job_id, to_text(at), status.value, status_raw),
                )
            columns = status_columns(status, status_raw, at, changed=changed, stored_file_name=row[2],
                                     file_name=file_name, message=message, next_poll=next_poll)
            if columns:
                sets = [f"{name} = ?" for name, _ in columns] + ["version = ?"]
                args = [to_text(v) if isinstance(v, datetime) else v for _, v in columns]
                args.append(self._next_version(conn))
                conn.execute(f"UPDATE jobs SET {', '.join(sets)} WHERE id = ?", (*args, job_id))
        job = self.get(job_id)
        assert job is not None
        return job, changed

    def record_poll(self, job_id: int, *, at: datetime, next_at: datetime | None, error: str | None = None) -> None:
        """Record that a poll happened, when the next is due (``None``: never), and its error.

        ``error=None`` clears ``last_error``: the poll succeeded, so an earlier
        transient failure is no longer news. A failure counts into
        ``poll_failures`` (failures in a row), a success resets it.
        """
        self._update(
            job_id,
            "last_poll_at = ?, next_poll_at = ?, last_error = ?, "
            "poll_failures = CASE WHEN ? IS NULL THEN 0 ELSE poll_failures + 1 END",
            to_text(at),
            to_text(next_at) if next_at else None,
            error,
            error,
        )

    def record_download(
        self, job_id: int, *, path: str | os.PathLike[str], sha256: str, fetched_by: str | None = None
    ) -> None:
        """Record where the job's file was saved, its SHA-256 and who fetched it."""
        self._update(
            job_id, "download_path = ?, sha256 = ?, fetched_by = coalesce(?, fetched_by)", os.fspath(path), sha256, fetched_by
        )

    def record_extract(self, job_id: int, *, path: str | os.PathLike[str]) -> None:
        """Record the folder the job's zip was extracted into."""
        self._update(job_id, "extract_dir = ?", os.fspath(path))

    def set_expires(self, job_id: int, at: datetime | None) -> None:
        """Record when the job's file leaves the drop."""
        self._update(job_id, "expires_at = ?", to_text(at) if at else None)

    def _update(self, job_id: int, sets: str, *args: Any) -> None:
        with self._write() as conn:
            cur = conn.execute(f"UPDATE jobs SET {sets}, version = ? WHERE id = ?", (*args, self._next_version(conn), job_id))
            if cur.rowcount == 0:
                raise KeyError(f"no job {job_id}")

    # -- leases --

    def claim(
        self, job_ids: Iterable[int], *, holder: str, lease_seconds: float, limit: int | None = None
    ) -> set[int]:
        """Take or renew the poll lease of these live jobs, at most ``limit`` (see ``AsyncJobStore.claim``)."""
        ids = list(dict.fromkeys(job_ids))
        now = time.time()
        held: set[int] = set()
        with self._write() as conn:  # the write lock: nobody claims between the look and the update
            for start in range(0, len(ids), 500):  # SQLite's bound-parameter limit
                chunk = ids[start : start + 500]
                room = len(chunk) if limit is None else limit - len(held)
                if room <= 0:
                    break
                free = {
                    int(r[0])
                    for r in conn.execute(
                        f"SELECT id FROM jobs WHERE id IN ({', '.join('?' * len(chunk))}) AND {LIVE_SQL} "
                        "AND (lease_holder IS NULL OR lease_holder = ? OR lease_until < ?)",
                        (*chunk, holder, _lease_text(now)),
                    )
                }
                take = [job_id for job_id in chunk if job_id in free][:room]
                if not take:
                    continue
                conn.execute(
                    f"UPDATE jobs SET lease_holder = ?, lease_until = ? WHERE id IN ({', '.join('?' * len(take))})",
                    (holder, _lease_text(now + lease_seconds), *take),
                )
                held.update(take)
        return held

    def renew(self, *, holder: str, lease_seconds: float) -> set[int]:
        """Extend every live lease ``holder`` still has; returns their ids."""
        with self._write() as conn:
            rows = conn.execute(
                f"UPDATE jobs SET lease_until = ? WHERE lease_holder = ? AND {LIVE_SQL} RETURNING id",
                (_lease_text(time.time() + lease_seconds), holder),
            ).fetchall()
        return {int(r[0]) for r in rows}

    def release(self, *, holder: str, job_ids: Iterable[int] | None = None) -> None:
        """Give up ``holder``'s leases (these jobs, or all)."""
        with self._write() as conn:
            if job_ids is None:
                conn.execute("UPDATE jobs SET lease_holder = NULL, lease_until = NULL WHERE lease_holder = ?", (holder,))
                return
            for job_id in set(job_ids):
                conn.execute(
                    "UPDATE jobs SET lease_holder = NULL, lease_until = NULL WHERE id = ? AND lease_holder = ?",
                    (job_id, holder),
                )

    def heartbeat(self, *, holder: str, profile: str, seconds: float) -> int:
        """Say ``holder`` polls ``profile`` for ``seconds`` more (0: it stops); how many do now (see ``AsyncJobStore``)."""
        now = time.time()
        with self._write() as conn:
            conn.execute("DELETE FROM pollers WHERE alive_until < ? OR (holder = ? AND profile = ?)",
                         (_lease_text(now), holder, profile))  # fmt: skip
            if seconds > 0:
                conn.execute("INSERT INTO pollers (holder, profile, alive_until) VALUES (?, ?, ?)",
                             (holder, profile, _lease_text(now + seconds)))  # fmt: skip
            return int(conn.execute("SELECT count(*) FROM pollers WHERE profile = ?", (profile,)).fetchone()[0])

    def claim_fetch(self, job_id: int, *, holder: str, lease_seconds: float) -> str | None:
        """Claim the job's file for a download: ``None`` when ``holder`` has it, else who is fetching it."""
        now = time.time()
        with self._write() as conn:
            row = conn.execute("SELECT fetching_by, fetching_until FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if row is None:
                raise KeyError(f"no job {job_id}")
            if row[0] and row[0] != holder and row[1] and row[1] >= _lease_text(now):
                return str(row[0])
            conn.execute(
                "UPDATE jobs SET fetching_by = ?, fetching_until = ? WHERE id = ?",
                (holder, _lease_text(now + lease_seconds), job_id),
            )
        return None

    def release_fetch(self, job_id: int, *, holder: str) -> None:
        """End ``holder``'s fetch claim on the job."""
        with self._write() as conn:
            conn.execute(
                "UPDATE jobs SET fetching_by = NULL, fetching_until = NULL WHERE id = ? AND fetching_by = ?",
                (job_id, holder),
            )

    # -- copying --

    def import_job(self, job: Job) -> bool:
        """Copy a job with its history from another store; False if it is here already (see ``AsyncJobStore``)."""
        with self._write(durable=True) as conn:
            if job.batch_id is not None:
                found = conn.execute(
                    "SELECT 1 FROM jobs WHERE profile = ? AND batch_id = ?", (job.profile, job.batch_id)
                ).fetchone()
            else:
                found = conn.execute(
                    "SELECT 1 FROM jobs WHERE profile = ? AND batch_id IS NULL AND call = ? AND submitted_at = ? "
                    "AND request_doc = ?",
                    (job.profile, job.call, to_text(job.submitted_at), job.request_doc),
                ).fetchone()
            if found:
                return False

            def text(at: datetime | None) -> str | None:
                return to_text(at) if at else None

            cur = conn.execute(
                "INSERT INTO jobs (profile, dialect, call, batch_id, submitted_at, status, status_raw, status_changed_at, "
                "request_doc, params_json, file_name, last_poll_at, next_poll_at, last_error, download_path, "
                "extract_dir, sha256, expires_at, poll_failures, version, submitted_by, fetched_by) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (job.profile, job.dialect, job.call, job.batch_id, to_text(job.submitted_at), job.status.value,
                 job.status_raw, text(job.status_changed_at), job.request_doc, json.dumps(job.params, sort_keys=True),
                 job.file_name, text(job.last_poll_at), text(job.next_poll_at), job.last_error, job.download_path,
                 job.extract_dir, job.sha256, text(job.expires_at), job.poll_failures, self._next_version(conn),
                 job.submitted_by, job.fetched_by),
            )
            new_id = int(cur.lastrowid or 0)
            conn.executemany(
                "INSERT INTO status_history (job_id, at, status, status_raw) VALUES (?, ?, ?, ?)",
                [(new_id, to_text(h.at), h.status.value, h.status_raw) for h in job.history],
            )
        return True
