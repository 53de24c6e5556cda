"""Every test gets its own ettui home: config, job store, known_hosts, locks and sandbox state."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path_factory.mktemp("ettui-home")
    monkeypatch.setenv("ETTUI_HOME", str(home))
    monkeypatch.delenv("ETTUI_CONFIG", raising=False)
    return home


# --- the job store on both backends (issue 13) --------------------------------
#
# One throwaway PostgreSQL server per test session (initdb is the slow part) and
# a fresh database per test. ``store`` yields the async job store on SQLite and
# on PostgreSQL; ``open_another`` opens a second one on the same history, as
# another ettui process (or host) would.

import shutil  # noqa: E402
import tempfile  # noqa: E402
import uuid  # noqa: E402
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator  # noqa: E402

from tests.pgserver import PASSWORD, PostgresServer, postgres_server, postgres_unavailable  # noqa: E402
from tests.stores import PG_PASSWORD_ENV, store_config  # noqa: E402


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    reason = postgres_unavailable()
    if reason:
        pytest.skip(reason)
    # Not under pytest's basetemp: another pytest session starting on this host
    # resets /tmp/pytest-of-USER to 0700, and the server's user (postgres, when
    # the tests run as root) could then no longer reach its data folder.
    root = Path(tempfile.mkdtemp(prefix="ettui-pg-"))
    try:
        with postgres_server(root / "server") as server:
            yield server
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def pg_url(pg_server: PostgresServer, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh database on the session's server; its password is in $ETTUI_TEST_PG_PASSWORD."""
    monkeypatch.setenv(PG_PASSWORD_ENV, PASSWORD)
    return pg_server.create_database("t_" + uuid.uuid4().hex[:16])


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> str | None:
    """None for SQLite (a file in tmp_path), else a fresh PostgreSQL database's URL."""
    if request.param == "sqlite":
        return None
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def open_another(backend: str | None, tmp_path: Path) -> Callable[[], Awaitable[object]]:
    """Open another store on the same history (the caller closes it)."""
    from ettui.jobs.base import open_store

    async def opener() -> object:
        if backend is None:
            return await open_store(path=tmp_path / "jobs.sqlite3")
        return await open_store(store_config(backend))

    return opener


@pytest.fixture
async def store(open_another: Callable[[], Awaitable[object]]) -> AsyncIterator[object]:
    """The async job store, on each backend."""
    opened: object = await open_another()
    try:
        yield opened
    finally:
        await opened.aclose()  # type: ignore[attr-defined]
