"""The job-store interface: everything the session, poller, CLI and UI need from the history.

One typed, async ``Protocol``; the SQLite store (``ettui.jobs.sqlite``) is one
implementation, a PostgreSQL store is meant to be the other. Nothing above
this module knows which backend it has: ``open_store(config)`` builds it.

Semantics every backend keeps (no SQLite-only behaviour is promised here):

* **Write-ahead.** ``add_unconfirmed`` is durable when it returns, before the
  request it records leaves; ``confirm`` turns it into Scheduled with its
  batch ID, also durably. ``discard`` removes an Unconfirmed job whose
  request provably never reached the service; ``dismiss`` keeps it as
  Dismissed when the operator closes it.
* **Change counter.** Every write gives the job a new ``version`` from one
  store-wide, increasing sequence. ``changes(cursor)`` returns the jobs
  written after ``cursor`` (oldest change first) and the cursor to ask with
  next; ``changes(-1)`` gives the current cursor only. This is how a process
  learns what other processes (other hosts, for a shared database) did.
* **Change notification.** ``wait_for_change(timeout)`` returns when another
  process may have written (a SQLite backend polls cheaply, PostgreSQL would
  LISTEN), or after ``timeout`` seconds; readers then call ``changes``.
* Writes return the job as written (with its new ``version``), so the writer
  can announce it and will not mistake its own write for another's.
* **Leases.** Each live job is polled by one process across everyone who
  shares the store: a poller ``claim``s the jobs it is about to poll for a
  holder id and a lease time, ``renew``s them while it runs and ``release``s
  them when it stops; a lease that runs out (its holder died) can be taken by
  anyone. Lease times are the store's own wall clock (the database's, for a
  shared server), never a caller's clock, and lease writes are not changes.
  Pollers ``heartbeat`` to learn how many share a profile, so each claims
  its fair share (``ettui.jobs.leases``).
* **Fetch claims.** ``claim_fetch`` marks a job's file as being downloaded
  by someone, so a second operator is told who instead of fetching it too.
* **Who did what.** ``submitted_by`` and ``fetched_by`` (``whoami()``:
  ``user@host``) are kept on the job.
* **Health.** ``status`` is ``None`` while the store works, else a short
  text for the board (``"store: reconnecting"``); after a reconnect,
  ``wait_for_change`` returns so readers resync through ``changes``.
* Times are aware UTC datetimes; ``list`` orders by ``"<column> asc|desc"``.
"""

from __future__ import annotations

import builtins
import getpass
import os
import socket
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from ettui.model import Job, JobStatus

if TYPE_CHECKING:
    from ettui.config import Config

StatusFilter = JobStatus | str | Iterable[JobStatus | str] | None


def status_columns(
    status: JobStatus,
    status_raw: str,
    at: datetime,
    *,
    changed: bool,
    stored_file_name: str | None,
    file_name: str | None,
    message: str | None,
    next_poll: tuple[datetime | None, datetime | None] | None,
) -> list[tuple[str, object]]:
    """The columns ``record_status`` sets, with their values: one rule for every backend.

    Only what differs is named (an indexed column named in an UPDATE rewrites
    its index entries even when the value is the same, and most polls change
    nothing but the times). Each backend turns the pairs into its own SQL and
    encodes the datetimes its way.
    """
    columns: list[tuple[str, object]] = []
    if changed:
        columns += [("status", status.value), ("status_raw", status_raw), ("status_changed_at", at)]
    if file_name is not None and file_name != stored_file_name:
        columns.append(("file_name", file_name))
    if message is not None and status is JobStatus.ERROR:
        columns.append(("last_error", message))
    elif next_poll is not None:
        columns += [("last_error", None), ("poll_failures", 0)]
    if next_poll is not None:
        next_at = None if not status.polled else (next_poll[0] if changed else next_poll[1])
        columns += [("last_poll_at", at), ("next_poll_at", next_at)]
    return columns


class AsyncJobStore(Protocol):
    """The job history, shared by every ettui process that opens the same store."""

    # -- writing ----------------------------------------------------------------

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
        """Record a job the service accepted (Scheduled). Durable when it returns."""
        ...

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
        """The write-ahead record of a request about to leave (Unconfirmed, no batch ID). Durable."""
        ...

    async def confirm(self, job_id: int, *, batch_id: str, at: datetime, request_doc: str | None = None) -> Job:
        """An accepted reply: the Unconfirmed job becomes Scheduled with its batch ID. Durable."""
        ...

    async def note(self, job_id: int, message: str | None) -> Job:
        """Set the job's ``last_error`` (why it is Unconfirmed; what a retry waits for)."""
        ...

    async def discard(self, job_id: int) -> bool:
        """Delete an Unconfirmed job whose request never reached the service; False if not Unconfirmed."""
        ...

    async def dismiss(self, job_id: int, *, at: datetime) -> Job:
        """Close an Unconfirmed job (kept as Dismissed). ``StoreError`` if it is not Unconfirmed."""
        ...

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
        """Record an inquiry's answer (history gains an entry on change); returns the job and whether it changed."""
        ...

    async def record_poll(self, job_id: int, *, at: datetime, next_at: datetime | None, error: str | None = None) -> Job:
        """Record a poll, the next one, and its error (counted into ``poll_failures``; ``None`` resets)."""
        ...

    async def record_download(self, job_id: int, *, path: str, sha256: str, fetched_by: str | None = None) -> Job:
        """Record where the job's verified file was saved, its SHA-256, and who fetched it."""
        ...

    async def record_extract(self, job_id: int, *, path: str) -> Job:
        """Record the folder the job's zip was extracted into."""
        ...

    async def set_expires(self, job_id: int, at: datetime | None) -> Job:
        """Record when the job's file leaves the drop."""
        ...

    # -- reading ----------------------------------------------------------------

    async def get(self, job_id: int) -> Job | None:
        """One job with its status history, or ``None``."""
        ...

    async def find(self, batch_id: str, profile: str | None = None) -> Job | None:
        """The job with this batch ID (newest if several profiles share it)."""
        ...

    async def find_by_file(self, file_name: str, profile: str | None = None) -> Job | None:
        """The job whose output file has exactly this name."""
        ...

    async def find_by_files(self, file_names: Iterable[str], profile: str | None = None) -> dict[str, Job]:
        """The newest job for each file name, in one round trip (the drop listing)."""
        ...

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
        """Jobs matching every filter, without history, one page."""
        ...

    async def count(self, *, status: StatusFilter = None, profile: str | None = None, since: datetime | None = None) -> int:
        """How many jobs match (the filters of ``list``)."""
        ...

    async def live(self, profile: str | None = None) -> builtins.list[Job]:
        """Jobs the poller asks about (Scheduled, Processing, Unknown), oldest first."""
        ...

    async def import_job(self, job: Job) -> bool:
        """Copy a job (with its history) from another store; False when it is already here.

        Keyed on profile + batch ID, or for an Unconfirmed job on its request
        (profile, call, submission time, request document): importing twice adds nothing.
        """
        ...

    # -- leases -------------------------------------------------------------------

    async def claim(
        self, job_ids: Iterable[int], *, holder: str, lease_seconds: float, limit: int | None = None
    ) -> set[int]:
        """Take or renew the poll lease of these live jobs; returns the ids ``holder`` now holds.

        A job is taken when nobody holds it, ``holder`` already does, or its
        lease ran out. Jobs another holder has (or is claiming right now) are
        skipped, never waited for. ``limit``: take at most this many, the
        first that can be taken in the order given (a fair share).
        """
        ...

    async def renew(self, *, holder: str, lease_seconds: float) -> set[int]:
        """Extend every live job's lease ``holder`` still has; returns their ids."""
        ...

    async def release(self, *, holder: str, job_ids: Iterable[int] | None = None) -> None:
        """Give up ``holder``'s leases (these jobs, or all), so another process may poll them at once."""
        ...

    async def heartbeat(self, *, holder: str, profile: str, seconds: float) -> int:
        """Say ``holder`` polls ``profile`` for ``seconds`` more (0: it stops); returns how many do now, itself included.

        The pollers of a profile share its live jobs out by this count
        (``ettui.jobs.leases``); a heartbeat that is not renewed runs out.
        """
        ...

    async def claim_fetch(self, job_id: int, *, holder: str, lease_seconds: float) -> str | None:
        """Claim the job's file for a download: ``None`` when ``holder`` has it, else who is fetching it."""
        ...

    async def release_fetch(self, job_id: int, *, holder: str) -> None:
        """End ``holder``'s fetch claim on the job (a no-op if it is not theirs)."""
        ...

    # -- other processes --------------------------------------------------------

    async def changes(self, since: int) -> tuple[builtins.list[Job], int]:
        """Jobs written after cursor ``since`` and the next cursor (``since=-1``: the cursor only)."""
        ...

    async def wait_for_change(self, timeout: float) -> None:
        """Return when another process may have written, or after ``timeout`` seconds."""
        ...

    # -- lifecycle ----------------------------------------------------------------

    @property
    def status(self) -> str | None:
        """``None`` while the store works; else what the board shows (``"store: reconnecting"``)."""
        ...

    @property
    def schema_version(self) -> int:
        """The schema version the store is at (after ``open_store`` migrated it)."""
        ...

    @property
    def location(self) -> str:
        """Where the store is, for messages (a path, or a URL without its password)."""
        ...

    async def aclose(self) -> None:
        """Close the store (idempotent)."""
        ...


def whoami() -> str:
    """This operator as ``user@host`` (what ``submitted_by`` / ``fetched_by`` record)."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no login name and no passwd entry (some containers)
        user = str(os.getuid()) if hasattr(os, "getuid") else "unknown"
    return f"{user}@{socket.gethostname()}"


def holder_id() -> str:
    """A lease holder id unique to this process: ``user@host (pid N)`` (shown to the others)."""
    return f"{whoami()} (pid {os.getpid()})"


def holder_gone(holder: str) -> bool:
    """True when ``holder`` (a ``holder_id``) names a process of this host that no longer exists.

    Its claims can be taken at once instead of waiting out their lease (a
    watcher killed, or stopped while its drop stalled, leaves one behind).
    Holders of other hosts, and live or unreadable pids, are never gone.
    """
    prefix, sep, rest = holder.rpartition(" (pid ")
    if not sep or not rest.endswith(")") or not rest[:-1].isdigit():
        return False
    if prefix.rpartition("@")[2] != socket.gethostname():
        return False
    try:
        os.kill(int(rest[:-1]), 0)
    except ProcessLookupError:
        return True
    except OSError:  # EPERM: alive, someone else's
        return False
    return False


STORE_URL_ENV = "ETTUI_STORE_URL"
"""A shared store's URL for a config without ``[store] url`` (its password: libpq's ``PGPASSWORD`` / ``.pgpass``)."""


async def open_store(config: Config | None = None, *, path: Path | None = None) -> AsyncJobStore:
    """The job store the config names: the shared PostgreSQL store of ``[store] url``, else the local SQLite file.

    A config without a URL takes ``$ETTUI_STORE_URL`` when it is set (one
    shared store for a whole environment: a CI pass, a container). ``path``
    forces a local SQLite file (tests, ``import-sqlite``); otherwise
    ``paths.job_store()``. The backend is chosen here, and only here; opening
    applies pending migrations. psycopg is imported only when a URL is set.
    """
    import dataclasses

    from ettui import paths
    from ettui.config import StoreSettings

    settings = config.store if config is not None else StoreSettings()
    if not settings.url and os.environ.get(STORE_URL_ENV):
        settings = dataclasses.replace(settings, url=os.environ[STORE_URL_ENV])
    if path is None and settings.url:
        from ettui.jobs.postgres import PostgresStore

        return await PostgresStore.open(settings)
    from ettui.jobs.sqlite import SqliteStore

    return await SqliteStore.open(path or paths.job_store())
