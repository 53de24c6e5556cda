"""The PostgreSQL backend of the job-store interface: one history for a whole team.

Built by ``open_store`` when the config has ``[store] url``; this module and
``ettui.jobs.pg_conn`` (its connections, migrations and notifications: the
base class) are the only ones that import psycopg, and only then, so the
CLI's start-up does not pay for it without a shared store.

* **The change counter** is the sequence ``job_changes``. A sequence alone
  would hand out numbers in call order but commit them in any order, and a
  reader that saw version 12 before 11 committed would skip 11 for ever; so
  a write draws its version last (``_stamp``), under a transaction-level
  advisory lock (``CHANGE_LOCK``) held to its commit, and versions become
  visible in order, as SQLite's serialised writers give them. Only that one
  statement (lock, version, notify) and the commit run under the lock, so
  writers of many processes queue for two round trips, not a whole write
  (holding it for the whole transaction, 5 processes polling 1,000 jobs
  waited over 10 s for a pooled connection).
* **Leases** use ``SELECT ... FOR UPDATE SKIP LOCKED``: two pollers claiming
  the same job at once never wait for each other, one of them gets it.
  Lease times are the server's ``now()``, one clock for every host.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from psycopg import errors as pg_errors
from psycopg.types.json import Jsonb

from ettui.jobs.base import StatusFilter, status_columns
from ettui.jobs.pg_conn import Conn, PgConnections, aware, maybe_aware, row_to_job
from ettui.jobs.pg_schema import COLUMNS, NULLABLE_ORDER_COLUMNS
from ettui.jobs.schema import LIVE_SQL, ORDER_COLUMNS, status_values
from ettui.jobs.store import StoreError
from ettui.model import Job, JobStatus, StatusChange


class PostgresStore(PgConnections):
    """The async job store on a shared PostgreSQL database (see ``ettui.jobs.base.AsyncJobStore``).

    Use ``await PostgresStore.open(settings)``.
    """

    # -- writing ----------------------------------------------------------------------

    async def add(
        self,
        *,
        profile: str,
        dialect: str,
        call: str,
        batch_id: str,
        submitted_at: datetime,
        request_doc: str,
        params: dict[str, str],
        submitted_by: str | None = None,
    ) -> Job:
        return await self._insert(profile, dialect, call, batch_id, submitted_at, request_doc, params,
                                  JobStatus.SCHEDULED, None, submitted_by)  # fmt: skip

    async def add_unconfirmed(
        self,
        *,
        profile: str,
        dialect: str,
        call: str,
        submitted_at: datetime,
        request_doc: str,
        params: dict[str, str],
        replaces_id: int | None = None,
        submitted_by: str | None = None,
    ) -> Job:
        return await self._insert(profile, dialect, call, None, submitted_at, request_doc, params,
                                  JobStatus.UNCONFIRMED, replaces_id, submitted_by)  # fmt: skip

    async def _insert(
        self, profile: str, dialect: str, call: str, batch_id: str | None, submitted_at: datetime,
        request_doc: str, params: dict[str, str], status: JobStatus, replaces_id: int | None, submitted_by: str | None,
    ) -> Job:  # fmt: skip
        at = aware(submitted_at)
        try:
            async with self._write() as conn:
                cur = await conn.execute(
                    "INSERT INTO jobs (profile, dialect, call, batch_id, submitted_at, status, status_raw, "
                    "status_changed_at, request_doc, params, replaces_id, version, submitted_by) "
                    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 0, %s) RETURNING id",
                    (profile, dialect, call, batch_id, at, status.value, status.value, at, request_doc,
                     Jsonb(params), replaces_id, submitted_by),
                )  # fmt: skip
                row = await cur.fetchone()
                assert row is not None
                job_id = int(row[0])
                await conn.execute(
                    "INSERT INTO status_history (job_id, at, status, status_raw) VALUES (%s, %s, %s, %s)",
                    (job_id, at, status.value, status.value),
                )
                await self._stamp(conn, job_id)
        except pg_errors.UniqueViolation:
            raise StoreError(
                f"Profile {profile!r} already has a job with batch ID {batch_id}; it is not recorded twice."
            ) from None
        return await self._get_or_fail(job_id)

    async def confirm(self, job_id: int, *, batch_id: str, at: datetime, request_doc: str | None = None) -> Job:
        when = aware(at)
        scheduled = JobStatus.SCHEDULED.value
        try:
            async with self._write() as conn:
                cur = await conn.execute(
                    "UPDATE jobs SET batch_id = %s, status = %s, status_raw = %s, status_changed_at = %s, "
                    "last_error = NULL, request_doc = coalesce(%s, request_doc) WHERE id = %s",
                    (batch_id, scheduled, scheduled, when, request_doc, job_id),
                )
                if cur.rowcount == 0:
                    raise KeyError(f"no job {job_id}")
                await conn.execute(
                    "INSERT INTO status_history (job_id, at, status, status_raw) VALUES (%s, %s, %s, %s)",
                    (job_id, when, scheduled, scheduled),
                )
                await self._stamp(conn, job_id)
        except pg_errors.UniqueViolation:
            raise StoreError(f"Another job already has batch ID {batch_id}; job {job_id} stays Unconfirmed.") from None
        return await self._get_or_fail(job_id)

    async def note(self, job_id: int, message: str | None) -> Job:
        return await self._update(job_id, "last_error = %s", message)

    async def discard(self, job_id: int) -> bool:
        async with self._write() as conn:
            cur = await conn.execute(
                "DELETE FROM jobs WHERE id = %s AND status = %s", (job_id, JobStatus.UNCONFIRMED.value)
            )
            return cur.rowcount > 0

    async def dismiss(self, job_id: int, *, at: datetime) -> Job:
        when = aware(at)
        async with self._write() as conn:
            row = await (await conn.execute("SELECT status FROM jobs WHERE id = %s FOR UPDATE", (job_id,))).fetchone()
            if row is None:
                raise KeyError(f"no job {job_id}")
            if row[0] != JobStatus.UNCONFIRMED.value:
                raise StoreError(f"Job {job_id} is {row[0]}, not Unconfirmed; only Unconfirmed jobs are dismissed.")
            value = JobStatus.DISMISSED.value
            await conn.execute(
                "UPDATE jobs SET status = %s, status_raw = %s, status_changed_at = %s WHERE id = %s",
                (value, value, when, job_id),
            )
            await conn.execute(
                "INSERT INTO status_history (job_id, at, status, status_raw) VALUES (%s, %s, %s, %s)",
                (job_id, when, value, value),
            )
            await self._stamp(conn, job_id)
        return await self._get_or_fail(job_id)

    async def record_status(
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
        when = aware(at)
        async with self._write() as conn:
            row = await (
                await conn.execute("SELECT status, status_raw, file_name FROM jobs WHERE id = %s FOR UPDATE", (job_id,))
            ).fetchone()
            if row is None:
                raise KeyError(f"no job {job_id}")
            changed = row[1] != status_raw or row[0] != status.value
            if changed:
                await conn.execute(
                    "INSERT INTO status_history (job_id, at, status, status_raw) VALUES (%s, %s, %s, %s)",
                    (job_id, when, status.value, status_raw),
                )
            columns = status_columns(status, status_raw, when, changed=changed, stored_file_name=row[2],
                                     file_name=file_name, message=message, next_poll=next_poll)
            if columns:
                sets = ", ".join(f"{name} = %s" for name, _ in columns)
                args = [maybe_aware(v) if isinstance(v, datetime) else v for _, v in columns]
                await conn.execute(f"UPDATE jobs SET {sets} WHERE id = %s", (*args, job_id))
                await self._stamp(conn, job_id)
        return await self._get_or_fail(job_id), changed

    async def record_poll(self, job_id: int, *, at: datetime, next_at: datetime | None, error: str | None = None) -> Job:
        return await self._update(
            job_id,
            "last_poll_at = %s, next_poll_at = %s, last_error = %s, "
            "poll_failures = CASE WHEN %s::text IS NULL THEN 0 ELSE poll_failures + 1 END",
            aware(at), maybe_aware(next_at), error, error,
        )  # fmt: skip

    async def record_download(self, job_id: int, *, path: str, sha256: str, fetched_by: str | None = None) -> Job:
        return await self._update(
            job_id, "download_path = %s, sha256 = %s, fetched_by = coalesce(%s, fetched_by)", path, sha256, fetched_by
        )

    async def record_extract(self, job_id: int, *, path: str) -> Job:
        return await self._update(job_id, "extract_dir = %s", path)

    async def set_expires(self, job_id: int, at: datetime | None) -> Job:
        return await self._update(job_id, "expires_at = %s", maybe_aware(at))

    async def _update(self, job_id: int, sets: str, *args: Any) -> Job:
        async with self._write() as conn:
            cur = await conn.execute(
                f"UPDATE jobs SET {sets} WHERE id = %s RETURNING {COLUMNS}",
                (*args, job_id),
            )
            row = await cur.fetchone()
            if row is None:
                raise KeyError(f"no job {job_id}")
            job = row_to_job(row)
            job.version = await self._stamp(conn, job_id)
            job.history = await self._history(conn, job_id)
        return job

    async def import_job(self, job: Job) -> bool:
        async with self._write() as conn:
            if job.batch_id is not None:
                cur = await conn.execute(
                    "SELECT 1 FROM jobs WHERE profile = %s AND batch_id = %s", (job.profile, job.batch_id)
                )
            else:
                cur = await conn.execute(
                    "SELECT 1 FROM jobs WHERE profile = %s AND batch_id IS NULL AND call = %s AND submitted_at = %s "
                    "AND request_doc = %s",
                    (job.profile, job.call, aware(job.submitted_at), job.request_doc),
                )
            if await cur.fetchone() is not None:
                return False
            cur = await conn.execute(
                "INSERT INTO jobs (profile, dialect, call, batch_id, submitted_at, status, status_raw, status_changed_at, "
                "request_doc, params, file_name, last_poll_at, next_poll_at, last_error, download_path, extract_dir, "
                "sha256, expires_at, poll_failures, version, submitted_by, fetched_by) VALUES (%s, %s, %s, %s, %s, %s, "
                "%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 0, %s, %s) RETURNING id",
                (job.profile, job.dialect, job.call, job.batch_id, aware(job.submitted_at), job.status.value,
                 job.status_raw, maybe_aware(job.status_changed_at), job.request_doc, Jsonb(job.params), job.file_name,
                 maybe_aware(job.last_poll_at), maybe_aware(job.next_poll_at), job.last_error, job.download_path,
                 job.extract_dir, job.sha256, maybe_aware(job.expires_at), job.poll_failures, job.submitted_by,
                 job.fetched_by),
            )  # fmt: skip
            row = await cur.fetchone()
            assert row is not None
            new_id = int(row[0])
            async with conn.cursor() as many:
                await many.executemany(
                    "INSERT INTO status_history (job_id, at, status, status_raw) VALUES (%s, %s, %s, %s)",
                    [(new_id, aware(h.at), h.status.value, h.status_raw) for h in job.history],
                )
            await self._stamp(conn, new_id)
        return True

    # -- leases -----------------------------------------------------------------------

    async def claim(
        self, job_ids: Iterable[int], *, holder: str, lease_seconds: float, limit: int | None = None
    ) -> set[int]:
        ids = list(dict.fromkeys(job_ids))
        if not ids:
            return set()
        async with self._write(control=True) as conn:
            cur = await conn.execute(
                "UPDATE jobs SET lease_holder = %(holder)s, lease_until = now() + make_interval(secs => %(lease)s) "
                "WHERE id IN (SELECT id FROM jobs WHERE id = ANY(%(ids)s) AND " + LIVE_SQL + " AND "
                "(lease_holder IS NULL OR lease_holder = %(holder)s OR lease_until < now()) "
                "ORDER BY array_position(%(ids)s::bigint[], id) LIMIT %(limit)s FOR UPDATE SKIP LOCKED) RETURNING id",
                {"holder": holder, "lease": lease_seconds, "ids": ids, "limit": limit},
            )
            return {int(r[0]) for r in await cur.fetchall()}

    async def renew(self, *, holder: str, lease_seconds: float) -> set[int]:
        async with self._write(control=True) as conn:
            cur = await conn.execute(
                "UPDATE jobs SET lease_until = now() + make_interval(secs => %s) WHERE lease_holder = %s AND "
                + LIVE_SQL + " RETURNING id",
                (lease_seconds, holder),
            )
            return {int(r[0]) for r in await cur.fetchall()}

    async def release(self, *, holder: str, job_ids: Iterable[int] | None = None) -> None:
        async with self._write(control=True) as conn:
            if job_ids is None:
                await conn.execute(
                    "UPDATE jobs SET lease_holder = NULL, lease_until = NULL WHERE lease_holder = %s", (holder,)
                )
            else:
                await conn.execute(
                    "UPDATE jobs SET lease_holder = NULL, lease_until = NULL WHERE id = ANY(%s) AND lease_holder = %s",
                    (sorted(set(job_ids)), holder),
                )

    async def heartbeat(self, *, holder: str, profile: str, seconds: float) -> int:
        async with self._write(control=True) as conn:
            await conn.execute(
                "DELETE FROM pollers WHERE alive_until < now() OR (holder = %s AND profile = %s)", (holder, profile)
            )
            if seconds > 0:
                await conn.execute(
                    "INSERT INTO pollers (holder, profile, alive_until) VALUES (%s, %s, now() + make_interval(secs => %s))",
                    (holder, profile, seconds),
                )
            row = await (await conn.execute("SELECT count(*) FROM pollers WHERE profile = %s", (profile,))).fetchone()
        return int(row[0]) if row else 0

    async def claim_fetch(self, job_id: int, *, holder: str, lease_seconds: float) -> str | None:
        async with self._write() as conn:
            row = await (
                await conn.execute(
                    "SELECT fetching_by, fetching_until >= now() FROM jobs WHERE id = %s FOR UPDATE", (job_id,)
                )
            ).fetchone()
            if row is None:
                raise KeyError(f"no job {job_id}")
            if row[0] and row[0] != holder and row[1]:
                return str(row[0])
            await conn.execute(
                "UPDATE jobs SET fetching_by = %s, fetching_until = now() + make_interval(secs => %s) WHERE id = %s",
                (holder, lease_seconds, job_id),
            )
        return None

    async def release_fetch(self, job_id: int, *, holder: str) -> None:
        async with self._write() as conn:
            await conn.execute(
                "UPDATE jobs SET fetching_by = NULL, fetching_until = NULL WHERE id = %s AND fetching_by = %s",
                (job_id, holder),
            )

    # -- reading ----------------------------------------------------------------------

    @staticmethod
    async def _history(conn: Conn, job_id: int) -> builtins.list[StatusChange]:
        cur = await conn.execute(
            "SELECT at, status, status_raw FROM status_history WHERE job_id = %s ORDER BY id", (job_id,)
        )
        return [
            StatusChange(at=at.astimezone(UTC), status=JobStatus(status), status_raw=raw)
            for at, status, raw in await cur.fetchall()
        ]

    async def _one(self, where: str, args: tuple[Any, ...]) -> Job | None:
        async with self._read() as conn:
            cur = await conn.execute(
                f"SELECT {COLUMNS} FROM jobs WHERE {where} ORDER BY submitted_at DESC, id DESC LIMIT 1", args
            )
            row = await cur.fetchone()
            if row is None:
                return None
            job = row_to_job(row)
            job.history = await self._history(conn, job.id)
            return job

    async def _get_or_fail(self, job_id: int) -> Job:
        job = await self.get(job_id)
        if job is None:
            raise KeyError(f"no job {job_id}")
        return job

    async def get(self, job_id: int) -> Job | None:
        return await self._one("id = %s", (job_id,))

    async def find(self, batch_id: str, profile: str | None = None) -> Job | None:
        if profile is None:
            return await self._one("batch_id = %s", (batch_id,))
        return await self._one("batch_id = %s AND profile = %s", (batch_id, profile))

    async def find_by_file(self, file_name: str, profile: str | None = None) -> Job | None:
        if profile is None:
            return await self._one("file_name = %s", (file_name,))
        return await self._one("file_name = %s AND profile = %s", (file_name, profile))

    async def find_by_files(self, file_names: Iterable[str], profile: str | None = None) -> dict[str, Job]:
        names = sorted(set(file_names))
        if not names:
            return {}
        sql = f"SELECT DISTINCT ON (file_name) {COLUMNS} FROM jobs WHERE file_name = ANY(%s)"
        args: list[Any] = [names]
        if profile is not None:
            sql += " AND profile = %s"
            args.append(profile)
        sql += " ORDER BY file_name, submitted_at DESC, id DESC"
        async with self._read() as conn:
            rows = await (await conn.execute(sql, args)).fetchall()
        found: dict[str, Job] = {}
        for row in rows:
            job = row_to_job(row)
            assert job.file_name is not None
            found[job.file_name] = job
        return found

    @staticmethod
    def _filters(status: StatusFilter, profile: str | None, since: datetime | None) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        args: list[Any] = []
        if status is not None:
            values = status_values(status)
            clauses.append("status = ANY(%s)" if values else "false")
            if values:
                args.append(values)
        if profile is not None:
            clauses.append("profile = %s")
            args.append(profile)
        if since is not None:
            clauses.append("submitted_at >= %s")
            args.append(aware(since))
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", args

    async def list(
        self,
        *,
        status: StatusFilter = None,
        profile: str | None = None,
        since: datetime | None = None,
        limit: int | None = None,
        offset: int = 0,
        order: str = "submitted_at desc",
    ) -> builtins.list[Job]:
        where, args = self._filters(status, profile, since)
        column, _, direction = order.strip().lower().partition(" ")
        direction = direction.strip() or "asc"
        if column not in ORDER_COLUMNS or direction not in ("asc", "desc"):
            raise ValueError(f"cannot order jobs by {order!r}")
        nulls = ""
        if column in NULLABLE_ORDER_COLUMNS:
            nulls = " NULLS FIRST" if direction == "asc" else " NULLS LAST"  # as SQLite orders NULLs
        sql = f"SELECT {COLUMNS} FROM jobs{where} ORDER BY {column} {direction}{nulls}, id {direction}"
        if limit is not None:
            sql += " LIMIT %s"
            args.append(limit)
        if offset:
            sql += " OFFSET %s"
            args.append(offset)
        async with self._read() as conn:
            rows = await (await conn.execute(sql, args)).fetchall()
        return [row_to_job(row) for row in rows]

    async def count(self, *, status: StatusFilter = None, profile: str | None = None, since: datetime | None = None) -> int:
        where, args = self._filters(status, profile, since)
        async with self._read() as conn:
            row = await (await conn.execute(f"SELECT count(*) FROM jobs{where}", args)).fetchone()
        return int(row[0]) if row else 0

    async def live(self, profile: str | None = None) -> builtins.list[Job]:
        sql = f"SELECT {COLUMNS} FROM jobs WHERE {LIVE_SQL}"
        args: tuple[str, ...] = ()
        if profile is not None:
            sql += " AND profile = %s"
            args = (profile,)
        async with self._read() as conn:
            rows = await (await conn.execute(sql + " ORDER BY submitted_at, id", args)).fetchall()
        return [row_to_job(row) for row in rows]
