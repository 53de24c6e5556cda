"""Every test gets its own ettui home: config, job store, known_hosts, locks and sandbox state.

``ETTUI_TEST_STORE=postgres`` runs the suite on the shared-store backend: every
test's default job store (the one ``open_store`` picks for a config without
``[store] url``: the CLI's, a ``Session``'s, the TUI's) is then a throwaway
database of its own on one session-wide PostgreSQL server, through
``$ETTUI_STORE_URL`` (inherited by the CLI subprocesses too). Tests marked
``sqlite_file`` look at the local SQLite file itself and are skipped then.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from ettui.jobs.base import STORE_URL_ENV

TEST_STORE_ENV = "ETTUI_TEST_STORE"


def _postgres_pass() -> bool:
    backend = os.environ.get(TEST_STORE_ENV, "sqlite")
    if backend not in ("sqlite", "postgres"):
        raise pytest.UsageError(f"{TEST_STORE_ENV} is sqlite or postgres, not {backend!r}.")
    return backend == "postgres"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "sqlite_file: looks at the local SQLite job store file itself (skipped when ETTUI_TEST_STORE=postgres)"
    )
    _postgres_pass()  # a typo in the switch fails the run instead of quietly testing SQLite


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not _postgres_pass():
        return
    for item in items:
        marker = item.get_closest_marker("sqlite_file")
        if marker is not None:
            why = marker.args[0] if marker.args else "it looks at the local SQLite file"
            item.add_marker(pytest.mark.skip(reason=f"{TEST_STORE_ENV}=postgres: {why}"))


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path_factory.mktemp("ettui-home")
    monkeypatch.setenv("ETTUI_HOME", str(home))
    monkeypatch.delenv("ETTUI_CONFIG", raising=False)
    return home


@pytest.fixture(autouse=True)
def _default_store(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """On the PostgreSQL pass: this test's default job store is a fresh database, dropped after it."""
    monkeypatch.delenv(STORE_URL_ENV, raising=False)
    if not _postgres_pass():
        yield
        return
    server: PostgresServer = request.getfixturevalue("pg_server")
    name = "d_" + uuid.uuid4().hex[:16]
    monkeypatch.setenv(STORE_URL_ENV, server.create_database(name))
    monkeypatch.setenv("PGPASSWORD", PASSWORD)
    yield
    server.drop_database(name)


# --- the job store on both backends (issue 13) --------------------------------
#
# One throwaway PostgreSQL server per test session (initdb is the slow part) and
# a fresh database per test. ``store`` yields the async job store on SQLite and
# on PostgreSQL; ``open_another`` opens a second one on the same history, as
# another ettui process (or host) would.

import shutil  # noqa: E402
import tempfile  # noqa: E402
import uuid  # noqa: E402
from collections.abc import AsyncIterator, Awaitable, Callable  # noqa: E402

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
def pg_url(pg_server: PostgresServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh database on the session's server; its password is in $ETTUI_TEST_PG_PASSWORD."""
    monkeypatch.setenv(PG_PASSWORD_ENV, PASSWORD)
    name = "t_" + uuid.uuid4().hex[:16]
    yield pg_server.create_database(name)
    pg_server.drop_database(name)


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
