"""The ``[store]`` table: a shared PostgreSQL store's URL and password source, never the password itself."""

from __future__ import annotations

from pathlib import Path

import pytest

from ettui import config
from ettui.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    path.chmod(0o600)
    return path


def test_no_store_table_means_the_local_sqlite_store(tmp_path: Path) -> None:
    cfg = config.load(write(tmp_path, ""))
    assert cfg.store.url is None and not cfg.store.password.configured


def test_a_team_store_is_read_with_its_password_source(tmp_path: Path) -> None:
    cfg = config.load(write(tmp_path, '[store]\nurl = "postgresql://ettui@db.example:5432/jobs"\n'
                                      'password_command = "pass show ettui/db"\nlease_seconds = 20\n'))
    assert cfg.store.url == "postgresql://ettui@db.example:5432/jobs"
    assert cfg.store.password.command == "pass show ettui/db" and cfg.store.lease_seconds == 20.0
    assert cfg.store.location == "postgresql://ettui@db.example:5432/jobs"


@pytest.mark.parametrize(
    ("table", "words"),
    [
        ('url = "postgresql://ettui:hunter2@db:5432/jobs"', "must not hold the password"),
        ('url = "postgresql://ettui@db/jobs?password=hunter2"', "must not hold the password"),
        ('url = "postgresql://ettui@db/jobs"\npassword = "hunter2"', "must not hold the secret"),
        ('url = "mysql://ettui@db/jobs"', "postgresql://USER@HOST:PORT/DBNAME"),
        ('url = "postgresql://ettui@db/jobs"\nlease_seconds = 1', "at least 5"),
        ('uri = "postgresql://ettui@db/jobs"', "unknown key `uri`"),
    ],
)
def test_store_mistakes_are_one_sentence_without_the_secret(tmp_path: Path, table: str, words: str) -> None:
    with pytest.raises(ConfigError, match="store") as caught:
        config.load(write(tmp_path, f"[store]\n{table}\n"))
    assert words in caught.value.message and "hunter2" not in caught.value.message


def test_redact_url_drops_password_and_query() -> None:
    assert config.redact_url("postgresql://u:pw@h:5/db?sslmode=require") == "postgresql://u@h:5/db"
    assert config.redact_url("postgresql://u@h/db") == "postgresql://u@h/db"


@pytest.mark.sqlite_file("with $ETTUI_STORE_URL set every CLI opens the shared store")
def test_without_a_store_url_the_cli_never_imports_psycopg(tmp_path: Path) -> None:
    """Start-up pays for the PostgreSQL driver only when [store] url is set."""
    import os
    import subprocess
    import sys

    code = ("import sys\nfrom ettui.cli import main\n"
            "assert main(['jobs', '--json']) == 0\n"
            "assert not [m for m in sys.modules if m.startswith('psycopg')], 'psycopg was imported'\n")
    env = {**os.environ, "ETTUI_HOME": str(tmp_path / "home")}
    env.pop("ETTUI_CONFIG", None)
    done = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 0, done.stderr
