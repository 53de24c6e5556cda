"""The PostgreSQL job store's connections: pools, migrations, the LISTEN connection and its health.

``PgConnections`` is the base of ``PostgresStore`` (``ettui.jobs.postgres``):
it owns every connection, turns driver failures into one-sentence
``StoreError``s, and follows the server's notifications; the store's queries
live in the subclass.

* **Connections.** A small ``AsyncConnectionPool`` for queries, each checked
  before use so a database restart costs a reconnect, not an error; one
  dedicated connection LISTENs for changes, and leases and the change feed
  have a one-connection pool of their own.
* **Notifications.** Every change ``pg_notify``s the job id (ids
  only: readers re-read the rows through ``changes``). ``wait_for_change``
  waits for one. When the LISTEN connection drops (the server restarted),
  ``status`` says ``"store: reconnecting"`` until it is back, and then
  ``wait_for_change`` returns at once so every reader resyncs.
* The password comes from the ``[store]`` secret source, resolved once in a
  thread, and is passed to libpq apart from the URL; ``location`` never
  shows it.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Self

import psycopg
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from ettui.jobs.pg_schema import CHANGE_LOCK, CHANNEL, COLUMNS, MIGRATION_LOCK, MIGRATIONS, SCHEMA_VERSION
from ettui.jobs.store import StoreError
from ettui.model import Job, JobStatus

if TYPE_CHECKING:
    from ettui.config import StoreSettings

log = logging.getLogger(__name__)

RECONNECTING = "store: reconnecting"
POOL_WAIT = 60.0
"""Seconds a call may queue for a pooled connection (a burst of poll writes queues; that is not an outage)."""
CONNECT_TIMEOUT = 10.0
"""Seconds to reach the server (and to get a pooled connection while it is down)."""


def aware(at: datetime) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"naive datetime {at!r}: the job store needs aware UTC times")
    return at.astimezone(UTC)


def maybe_aware(at: datetime | None) -> datetime | None:
    return aware(at) if at is not None else None


def utc(at: datetime | None) -> datetime | None:
    return at.astimezone(UTC) if at is not None else None


def row_to_job(row: tuple[Any, ...]) -> Job:
    (job_id, profile, dialect, call, batch_id, submitted, status, status_raw, changed, request_doc, params,
     file_name, last_poll, next_poll, last_error, download_path, extract_dir, sha256, expires, replaces_id,
     poll_failures, version, submitted_by, fetched_by) = row  # fmt: skip
    return Job(
        id=job_id, profile=profile, dialect=dialect, call=call, batch_id=batch_id,
        submitted_at=submitted.astimezone(UTC), status=JobStatus(status), status_raw=status_raw,
        request_doc=request_doc, params=dict(params or {}), file_name=file_name,
        status_changed_at=utc(changed), last_poll_at=utc(last_poll), next_poll_at=utc(next_poll),
        last_error=last_error, download_path=download_path, extract_dir=extract_dir, sha256=sha256,
        expires_at=utc(expires), replaces_id=replaces_id, poll_failures=poll_failures, version=version,
        submitted_by=submitted_by, fetched_by=fetched_by,
    )  # fmt: skip


Conn = psycopg.AsyncConnection[tuple[Any, ...]]


class PgConnections:
    """Connections to the shared store, their health, migrations and the change feed.

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
    async def open(cls, settings: StoreSettings) -> Self:
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

    # -- other processes --------------------------------------------------------------

    async def changes(self, since: int, *, limit: int = 1000) -> tuple[builtins.list[Job], int]:
        async with self._read(control=True) as conn:
            if since < 0:
                row = await (await conn.execute("SELECT coalesce(max(version), 0) FROM jobs")).fetchone()
                return [], int(row[0]) if row else 0
            cur = await conn.execute(
                f"SELECT {COLUMNS} FROM jobs WHERE version > %s ORDER BY version LIMIT %s", (since, limit)
            )
            jobs = [row_to_job(row) for row in await cur.fetchall()]
        return jobs, (jobs[-1].version if jobs else since)

    async def wait_for_change(self, timeout: float) -> None:
        # asyncio.timeout, not wait_for: on 3.11 a wait_for whose inner wait
        # ends as the caller is cancelled swallows the cancellation, and the
        # poller's stop() then waited for its change feed for ever (team_poll).
        try:
            async with asyncio.timeout(timeout):
                await self._changed.wait()
        except TimeoutError:
            return
        self._changed.clear()


def _reason(exc: BaseException | None) -> str:
    """The first line of a driver error, which names the cause (never the password)."""
    if exc is None:
        return "no reason given"
    text = str(exc).strip().splitlines()
    return text[0] if text else exc.__class__.__name__
