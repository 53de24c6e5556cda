"""The PostgreSQL backend of the job-store interface: one history for a whole team.

Built by ``open_store`` when the config has ``[store] url``; the only module
that imports psycopg (and it is imported only then, so the CLI's start-up
does not pay for it without a shared store).

* **Connections.** A small ``AsyncConnectionPool`` for queries, each checked
  before use so a database restart costs a reconnect, not an error; one
  dedicated connection LISTENs for changes.
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
* **Notifications.** Every change ``pg_notify``s the job id (ids
  only: readers re-read the rows through ``changes``). ``wait_for_change``
  waits for one. When the LISTEN connection drops (the server restarted),
  ``status`` says ``"store: reconnecting"`` until it is back, and then
  ``wait_for_change`` returns at once so every reader resyncs.
* **Leases** use ``SELECT ... FOR UPDATE SKIP LOCKED``: two pollers claiming
  the same job at once never wait for each other, one of them gets it.
  Lease times are the server's ``now()``, one clock for every host.
* The password comes from the ``[store]`` secret source, resolved once in a
  thread, and is passed to libpq apart from the URL; ``location`` never
  shows it.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import logging
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import errors as pg_errors
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from ettui.jobs.base import StatusFilter, status_columns
from ettui.jobs.pg_schema import (
    CHANGE_LOCK,
    CHANNEL,
    COLUMNS,
    MIGRATION_LOCK,
    MIGRATIONS,
    NULLABLE_ORDER_COLUMNS,
    SCHEMA_VERSION,
)
from ettui.jobs.schema import LIVE_SQL, ORDER_COLUMNS, status_values
from ettui.jobs.store import StoreError
from ettui.model import Job, JobStatus, StatusChange

if TYPE_CHECKING:
    from ettui.config import StoreSettings

log = logging.getLogger(__name__)

RECONNECTING = "store: reconnecting"
POOL_WAIT = 60.0
"""Seconds a call may queue for a pooled connection (a burst of poll writes queues; that is not an outage)."""
CONNECT_TIMEOUT = 10.0
"""Seconds to reach the server (and to get a pooled connection while it is down)."""


def _aware(at: datetime) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"naive datetime {at!r}: the job store needs aware UTC times")
    return at.astimezone(UTC)


def _maybe(at: datetime | None) -> datetime | None:
    return _aware(at) if at is not None else None


def _utc(at: datetime | None) -> datetime | None:
    return at.astimezone(UTC) if at is not None else None


def _row_to_job(row: tuple[Any, ...]) -> Job:
    (job_id, profile, dialect, call, batch_id, submitted, status, status_raw, changed, request_doc, params,
     file_name, last_poll, next_poll, last_error, download_path, extract_dir, sha256, expires, replaces_id,
     poll_failures, version, submitted_by, fetched_by) = row  # fmt: skip
    return Job(
        id=job_id, profile=profile, dialect=dialect, call=call, batch_id=batch_id,
        submitted_at=submitted.astimezone(UTC), status=JobStatus(status), status_raw=status_raw,
        request_doc=request_doc, params=dict(params or {}), file_name=file_name,
        status_changed_at=_utc(changed), last_poll_at=_utc(last_poll), next_poll_at=_utc(next_poll),
        last_error=last_error, download_path=download_path, extract_dir=extract_dir, sha256=sha256,
        expires_at=_utc(expires), replaces_id=replaces_id, poll_failures=poll_failures, version=version,
        submitted_by=submitted_by, fetched_by=fetched_by,
    )  # fmt: skip


Conn = psycopg.AsyncConnection[tuple[Any, ...]]


class PostgresStore:
    """The async job store on a shared PostgreSQL database (see ``ettui.jobs.base.AsyncJobStore``).

    Use ``await PostgresStore.open(settings)``.
    """

    def __init__(self, url: str, location: str, kwargs: dict[str, Any]) -> None:
        self._url = url
        self._location = location
        self._kwargs = kwargs
        self._pool: AsyncConnectionPool[Conn] = AsyncConnectionPool(
            url, kwargs=kwargs, min_size=1, max_size=6, open=False, timeout=POOL_WAIT,
            check=AsyncConnectionPool.check_connection, name="ettui-store",
        )
        # Leases and the change feed get a connection of their own: a poller's
        # burst of writes (a thousand jobs due at once) must not hold back a
        # lease renewal (the lease would run out) or a board's read.
        self._control: AsyncConnectionPool[Conn] = AsyncConnectionPool(
            url, kwargs=kwargs, min_size=1, max_size=1, open=False, timeout=POOL_WAIT,
            check=AsyncConnectionPool.check_connection, name="ettui-store-control",
        )
        self._changed = asyncio.Event()
        self._listening = asyncio.Event()
        self._status: str | None = None
        self._listener: asyncio.Task[None] | None = None
        self._closed = False
        self._schema_version = 0

    @classmethod
    async def open(cls, settings: StoreSettings) -> PostgresStore:
        """Connect (the password resolved in a thread), migrate, start listening."""
        assert settings.url
        kwargs: dict[str, Any] = {"connect_timeout": int(CONNECT_TIMEOUT), "options": "-c TimeZone=UTC"}
        if settings.password.configured:
            kwargs["password"] = await asyncio.to_thread(settings.password.resolve, "job store password")
        store = cls(settings.url, settings.location, kwargs)
        try:
            # One plain connection first: it fails at once with libpq's reason
            # (refused, bad password), where the pool would retry until its timeout.
            first = await psycopg.AsyncConnection.connect(settings.url, **kwargs)
            await first.close()
            await store._pool.open(wait=True, timeout=CONNECT_TIMEOUT)
            await store._control.open(wait=True, timeout=CONNECT_TIMEOUT)
        except Exception as exc:
            await store._pool.close()
            await store._control.close()
            raise StoreError(
                f"Cannot reach the shared job store {store._location}: {_reason(exc)}; check [store] url and its password."
            ) from None
        try:
            await store.migrate()
            store._listener = asyncio.get_running_loop().create_task(store._listen(), name="store:listen")
            await asyncio.wait_for(store._listening.wait(), CONNECT_TIMEOUT)
        except BaseException:
            await store.aclose()
            raise
        return store

    # -- lifecycle --------------------------------------------------------------------

    @property
    def location(self) -> str:
        return self._location

    @property
    def status(self) -> str | None:
        return self._status

    @property
    def schema_version(self) -> int:
        return self._schema_version

    async def migrate(self) -> int:
        """Apply pending migrations (one transaction, under an advisory lock); returns the version."""
        async with self._pool.connection() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
            await conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version integer NOT NULL)")
            row = await (await conn.execute("SELECT version FROM schema_version")).fetchone()
            version = int(row[0]) if row else 0
            if row is None:
                await conn.execute("INSERT INTO schema_version (version) VALUES (0)")
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"The shared job store {self._location} was written by a newer ettui (schema {version}, "
                    f"this one knows {SCHEMA_VERSION}); upgrade ettui to use it."
                )
            for step in MIGRATIONS[version:]:
                for statement in step:
                    await conn.execute(statement)
            await conn.execute("UPDATE schema_version SET version = %s", (SCHEMA_VERSION,))
        self._schema_version = SCHEMA_VERSION
        return SCHEMA_VERSION

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
        await self._pool.close()
        await self._control.close()

    async def _listen(self) -> None:
        """Hold the LISTEN connection; on loss say so, reconnect with back-off, and wake readers to resync."""
        delay = 0.2
        while True:
            try:
                conn = await psycopg.AsyncConnection.connect(self._url, autocommit=True, **self._kwargs)
            except psycopg.Error as exc:
                self._set_status(RECONNECTING, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            try:
                await conn.execute(f"LISTEN {CHANNEL}")
                if self._status is not None:
                    self._changed.set()  # back: everyone re-reads what they missed
                self._set_status(None)
                self._listening.set()
                delay = 0.2
                async for _ in conn.notifies():
                    self._changed.set()
            except psycopg.Error as exc:
                self._set_status(RECONNECTING, exc)
                self._changed.set()  # readers look now, and see the store's status
            finally:
                with contextlib.suppress(Exception):
                    await conn.close()

    def _set_status(self, status: str | None, exc: BaseException | None = None) -> None:
        if status != self._status:
            if status is not None:
                log.warning("job store %s: %s (%s)", self._location, status, _reason(exc))
            else:
                log.info("job store %s: connected", self._location)
        self._status = status

    @contextlib.asynccontextmanager
    async def _read(self, *, control: bool = False) -> AsyncIterator[Conn]:
        try:
            async with (self._control if control else self._pool).connection(timeout=self._wait) as conn:
                yield conn
        except psycopg.OperationalError as exc:
            raise self._unreachable(exc) from None
        except PoolTimeout as exc:
            raise self._busy(exc) from None

    @contextlib.asynccontextmanager
    async def _write(self, *, control: bool = False) -> AsyncIterator[Conn]:
        """One transaction (a change ends with ``_stamp``); ``control``: on the leases' own connection."""
        try:
            async with (
                (self._control if control else self._pool).connection(timeout=self._wait) as conn,
                conn.transaction(),
            ):
                yield conn
        except psycopg.OperationalError as exc:
            raise self._unreachable(exc) from None
        except PoolTimeout as exc:
            raise self._busy(exc) from None

    @property
    def _wait(self) -> float:
        """How long to queue for a connection: long when busy, short while the server is known to be away."""
        return CONNECT_TIMEOUT if self._status is not None else POOL_WAIT

    def _busy(self, exc: BaseException) -> StoreError:
        if self._status is not None:
            return self._unreachable(exc)
        return StoreError(
            f"The shared job store {self._location} is too busy (no free connection within {POOL_WAIT:.0f} s); "
            "ettui tries again."
        )

    def _unreachable(self, exc: BaseException) -> StoreError:
        self._set_status(RECONNECTING, exc)
        return StoreError(
            f"The shared job store {self._location} cannot be reached ({_reason(exc)}); "
            "ettui reconnects when it is back, try again then."
        )

    @staticmethod
    async def _stamp(conn: Conn, job_id: int) -> int:
        """The last statement of a change: take the change lock, draw the job's version, notify. Returns it."""
        cur = await conn.execute(
            "WITH lock AS (SELECT pg_advisory_xact_lock(%s)) UPDATE jobs SET version = nextval('job_changes') "
            "FROM lock WHERE id = %s RETURNING version, pg_notify(%s, id::text)",
            (CHANGE_LOCK, job_id, CHANNEL),
        )
        row = await cur.fetchone()
        if row is None:
            raise KeyError(f"no job {job_id}")
        return int(row[0])

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
        at = _aware(submitted_at)
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
        when = _aware(at)
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
        when = _aware(at)
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
        when = _aware(at)
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
                args = [_maybe(v) if isinstance(v, datetime) else v for _, v in columns]
                await conn.execute(f"UPDATE jobs SET {sets} WHERE id = %s", (*args, job_id))
                await self._stamp(conn, job_id)
        return await self._get_or_fail(job_id), changed

    async def record_poll(self, job_id: int, *, at: datetime, next_at: datetime | None, error: str | None = None) -> Job:
        return await self._update(
            job_id,
            "last_poll_at = %s, next_poll_at = %s, last_error = %s, "
            "poll_failures = CASE WHEN %s::text IS NULL THEN 0 ELSE poll_failures + 1 END",
            _aware(at), _maybe(next_at), error, error,
        )  # fmt: skip

    async def record_download(self, job_id: int, *, path: str, sha256: str, fetched_by: str | None = None) -> Job:
        return await self._update(
            job_id, "download_path = %s, sha256 = %s, fetched_by = coalesce(%s, fetched_by)", path, sha256, fetched_by
        )

    async def record_extract(self, job_id: int, *, path: str) -> Job:
        return await self._update(job_id, "extract_dir = %s", path)

    async def set_expires(self, job_id: int, at: datetime | None) -> Job:
        return await self._update(job_id, "expires_at = %s", _maybe(at))

    async def _update(self, job_id: int, sets: str, *args: Any) -> Job:
        async with self._write() as conn:
            cur = await conn.execute(
                f"UPDATE jobs SET {sets} WHERE id = %s RETURNING {COLUMNS}",
                (*args, job_id),
            )
            row = await cur.fetchone()
            if row is None:
                raise KeyError(f"no job {job_id}")
            job = _row_to_job(row)
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
                    (job.profile, job.call, _aware(job.submitted_at), job.request_doc),
                )
            if await cur.fetchone() is not None:
                return False
            cur = await conn.execute(
                "INSERT INTO jobs (profile, dialect, call, batch_id, submitted_at, status, status_raw, status_changed_at, "
                "request_doc, params, file_name, last_poll_at, next_poll_at, last_error, download_path, extract_dir, "
                "sha256, expires_at, poll_failures, version, submitted_by, fetched_by) VALUES (%s, %s, %s, %s, %s, %s, "
                "%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 0, %s, %s) RETURNING id",
                (job.profile, job.dialect, job.call, job.batch_id, _aware(job.submitted_at), job.status.value,
                 job.status_raw, _maybe(job.status_changed_at), job.request_doc, Jsonb(job.params), job.file_name,
                 _maybe(job.last_poll_at), _maybe(job.next_poll_at), job.last_error, job.download_path,
                 job.extract_dir, job.sha256, _maybe(job.expires_at), job.poll_failures, job.submitted_by,
                 job.fetched_by),
            )  # fmt: skip
            row = await cur.fetchone()
            assert row is not None
            new_id = int(row[0])
            async with conn.cursor() as many:
                await many.executemany(
                    "INSERT INTO status_history (job_id, at, status, status_raw) VALUES (%s, %s, %s, %s)",
                    [(new_id, _aware(h.at), h.status.value, h.status_raw) for h in job.history],
                )
            await self._stamp(conn, new_id)
        return True

    # -- leases -----------------------------------------------------------------------

    async def claim(self, job_ids: Iterable[int], *, holder: str, lease_seconds: float) -> set[int]:
        ids = sorted(set(job_ids))
        if not ids:
            return set()
        async with self._write(control=True) as conn:
            cur = await conn.execute(
                "UPDATE jobs SET lease_holder = %(holder)s, lease_until = now() + make_interval(secs => %(lease)s) "
                "WHERE id IN (SELECT id FROM jobs WHERE id = ANY(%(ids)s) AND " + LIVE_SQL + " AND "
                "(lease_holder IS NULL OR lease_holder = %(holder)s OR lease_until < now()) "
                "FOR UPDATE SKIP LOCKED) RETURNING id",
                {"holder": holder, "lease": lease_seconds, "ids": ids},
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
            job = _row_to_job(row)
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
            job = _row_to_job(row)
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
            args.append(_aware(since))
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
        return [_row_to_job(row) for row in rows]

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
        return [_row_to_job(row) for row in rows]

    # -- other processes --------------------------------------------------------------

    async def changes(self, since: int, *, limit: int = 1000) -> tuple[builtins.list[Job], int]:
        async with self._read(control=True) as conn:
            if since < 0:
                row = await (await conn.execute("SELECT coalesce(max(version), 0) FROM jobs")).fetchone()
                return [], int(row[0]) if row else 0
            cur = await conn.execute(
                f"SELECT {COLUMNS} FROM jobs WHERE version > %s ORDER BY version LIMIT %s", (since, limit)
            )
            jobs = [_row_to_job(row) for row in await cur.fetchall()]
        return jobs, (jobs[-1].version if jobs else since)

    async def wait_for_change(self, timeout: float) -> None:
        try:
            await asyncio.wait_for(self._changed.wait(), timeout)
        except TimeoutError:
            return
        self._changed.clear()


def _reason(exc: BaseException | None) -> str:
    """The first line of a driver error, which names the cause (never the password)."""
    if exc is None:
        return "no reason given"
    text = str(exc).strip().splitlines()
    return text[0] if text else exc.__class__.__name__
