"""The SQLite job store's queries: one job, the listings, the live jobs and the change feed.

``JobStore`` (``ettui.jobs.store``) opens the file and writes; this base class
holds what only reads, on the same connection under the same lock. Listings
name their index where SQLite's planner would otherwise pick the wrong one
(``INDEXED BY``; see ``bench/store_scale.py``).
"""

from __future__ import annotations

import builtins
import sqlite3
import threading
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from ettui.jobs.schema import COLUMNS, LIVE_SQL, ORDER_COLUMNS, row_to_job, status_values, to_text
from ettui.model import Job, JobStatus, StatusChange


class JobReader:
    """The read side of ``JobStore``: every query, none of the writes."""

    _conn: sqlite3.Connection
    _lock: threading.RLock

    def get(self, job_id: int) -> Job | None:
        """One job with its status history, or ``None``."""
        return self._one("id = ?", (job_id,))

    def find(self, batch_id: str, profile: str | None = None) -> Job | None:
        """The job with this batch ID (newest if several profiles share the ID)."""
        if profile is None:
            return self._one("batch_id = ?", (batch_id,))
        return self._one("batch_id = ? AND profile = ?", (batch_id, profile))

    def find_by_file(self, file_name: str, profile: str | None = None) -> Job | None:
        """The job whose output file has exactly this name (as the service reported it)."""
        if profile is None:
            return self._one("file_name = ?", (file_name,))
        return self._one("file_name = ? AND profile = ?", (file_name, profile))

    def find_by_files(self, file_names: Iterable[str], profile: str | None = None) -> dict[str, Job]:
        """The newest job for each of these output file names, in one query (the drop listing)."""
        names = sorted(set(file_names))
        if not names:
            return {}
        found: dict[str, Job] = {}
        with self._lock:
            for start in range(0, len(names), 500):  # SQLite's bound-parameter limit
                chunk = names[start : start + 500]
                sql = f"SELECT {COLUMNS} FROM jobs INDEXED BY jobs_file WHERE file_name IN ({', '.join('?' * len(chunk))})"
                args: list[Any] = list(chunk)
                if profile is not None:
                    sql += " AND profile = ?"
                    args.append(profile)
                # No ORDER BY: it would make the planner walk the submitted_at
                # index over every job instead of looking each name up.
                for row in self._conn.execute(sql, args):
                    job = row_to_job(row)
                    assert job.file_name is not None
                    seen = found.get(job.file_name)
                    if seen is None or (job.submitted_at, job.id) > (seen.submitted_at, seen.id):
                        found[job.file_name] = job
        return found

    def changes(self, since: int, *, limit: int = 1000) -> tuple[builtins.list[Job], int]:
        """Jobs written after change counter ``since`` (oldest change first) and the new counter.

        ``since=-1`` asks only for the current counter (no jobs), the start of a feed.
        """
        with self._lock:
            if since < 0:
                row = self._conn.execute("SELECT coalesce(max(version), 0) FROM jobs").fetchone()
                return [], int(row[0])
            jobs = [
                row_to_job(row)
                for row in self._conn.execute(
                    f"SELECT {COLUMNS} FROM jobs WHERE version > ? ORDER BY version LIMIT ?", (since, limit)
                )
            ]
        return jobs, (jobs[-1].version if jobs else since)

    def data_version(self) -> int:
        """SQLite's ``PRAGMA data_version``: changes when *another* connection commits (a cheap check)."""
        with self._lock:
            return int(self._conn.execute("PRAGMA data_version").fetchone()[0])

    def _one(self, where: str, args: tuple[Any, ...]) -> Job | None:
        with self._lock:
            row = self._conn.execute(
                f"SELECT {COLUMNS} FROM jobs WHERE {where} ORDER BY submitted_at DESC, id DESC LIMIT 1", args
            ).fetchone()
            if row is None:
                return None
            job = row_to_job(row)
            job.history = [
                StatusChange(at=datetime.fromisoformat(at), status=JobStatus(status), status_raw=raw)
                for at, status, raw in self._conn.execute(
                    "SELECT at, status, status_raw FROM status_history WHERE job_id = ? ORDER BY id", (job.id,)
                )
            ]
            return job

    @staticmethod
    def _filters(
        status: JobStatus | str | Iterable[JobStatus | str] | None,
        profile: str | None,
        since: datetime | None,
    ) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        args: list[Any] = []
        if status is not None:
            values = status_values(status)
            clauses.append(f"status IN ({', '.join('?' * len(values))})" if values else "0")
            args.extend(values)
        if profile is not None:
            clauses.append("profile = ?")
            args.append(profile)
        if since is not None:
            clauses.append("submitted_at >= ?")
            args.append(to_text(since))
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", args

    def list(
        self,
        *,
        status: JobStatus | str | Iterable[JobStatus | str] | None = None,
        profile: str | None = None,
        since: datetime | None = None,
        limit: int | None = None,
        offset: int = 0,
        order: str = "submitted_at desc",
    ) -> list[Job]:
        """Jobs matching every given filter, without their history.

        Args:
            status: One status or several.
            profile: Only this profile's jobs.
            since: Only jobs submitted at or after this time.
            limit: At most this many (``None``: all).
            offset: Skip this many first (paging).
            order: ``"<column> asc|desc"``; ties broken by id in the same direction.
        """
        where, args = self._filters(status, profile, since)
        column, _, direction = order.strip().lower().partition(" ")
        direction = direction.strip() or "asc"
        if column not in ORDER_COLUMNS or direction not in ("asc", "desc"):
            raise ValueError(f"cannot order jobs by {order!r}")
        sql = f"SELECT {COLUMNS} FROM jobs{where} ORDER BY {column} {direction}, id {direction}"
        if limit is not None or offset:
            sql += " LIMIT ? OFFSET ?"
            args += [-1 if limit is None else limit, offset]
        with self._lock:
            return [row_to_job(row) for row in self._conn.execute(sql, args)]

    def count(
        self,
        *,
        status: JobStatus | str | Iterable[JobStatus | str] | None = None,
        profile: str | None = None,
        since: datetime | None = None,
    ) -> int:
        """How many jobs match (same filters as ``list``)."""
        where, args = self._filters(status, profile, since)
        with self._lock:
            return int(self._conn.execute(f"SELECT count(*) FROM jobs{where}", args).fetchone()[0])

    # ``builtins.list``: inside the class, ``list`` names the method above.
    def live(self, profile: str | None = None) -> builtins.list[Job]:
        """Jobs the service may still move (not Complete, not Error), oldest first."""
        sql = f"SELECT {COLUMNS} FROM jobs INDEXED BY jobs_live WHERE {LIVE_SQL}"
        args: tuple[str, ...] = ()
        if profile is not None:
            sql += " AND profile = ?"
            args = (profile,)
        with self._lock:
            return [row_to_job(row) for row in self._conn.execute(sql + " ORDER BY submitted_at, id", args)]
