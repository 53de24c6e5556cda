"""Helpers for tests that open the job store on either backend (see the fixtures in tests/conftest.py)."""

from __future__ import annotations

from ettui import paths
from ettui.config import Config, SecretSource, StoreSettings, builtin_profiles

PG_PASSWORD_ENV = "ETTUI_TEST_PG_PASSWORD"
"""The variable the test configs name as the PostgreSQL password source (``pg_url`` sets it)."""


def store_config(url: str | None, *, lease_seconds: float = 30.0) -> Config:
    """A config whose ``[store]`` names ``url`` (None: the local SQLite store)."""
    store = (
        StoreSettings(url=url, password=SecretSource(env=PG_PASSWORD_ENV), lease_seconds=lease_seconds)
        if url
        else StoreSettings(lease_seconds=lease_seconds)
    )
    return Config(path=paths.config_file(), exists=False, default_profile="sandbox", profiles=builtin_profiles(), store=store)


def store_toml(url: str) -> str:
    """The ``[store]`` table of a config file for ``url``."""
    return f'[store]\nurl = "{url}"\npassword_env = "{PG_PASSWORD_ENV}"\n'
