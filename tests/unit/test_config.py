"""Config loading: profiles, secret sources, and one clear sentence per mistake."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from ettui import config
from ettui.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    path.chmod(0o600)
    return path


def test_no_file_at_the_default_location_gives_the_sandbox_profile() -> None:
    cfg = config.load()
    assert not cfg.exists
    assert cfg.default_profile == "sandbox"
    assert cfg.profile().sandbox


def test_a_real_profile_is_read_with_types(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
default_profile = "prod"
[profiles.prod]
endpoint = "https://api.s6.exacttarget.com/integrate.aspx"
api_username = "ops"
api_password_env = "ET_TEST_PW"
sftp_port = 2222
retention_hours = 48
[ui]
keymap = { poll_now = "ctrl+r" }
""",
    )
    cfg = config.load(path)
    prod = cfg.profile()
    assert prod.name == "prod" and prod.sftp_port == 2222 and prod.retention_hours == 48.0
    assert cfg.ui.keymap == {"poll_now": "ctrl+r"}
    assert "sandbox" in cfg.profiles


def test_env_and_command_secret_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ET_TEST_PW", "s3cret")
    assert config.SecretSource(env="ET_TEST_PW").resolve("API password") == "s3cret"
    cmd = f"{sys.executable} -c \"print('from-command')\""
    assert config.SecretSource(command=cmd).resolve("API password") == "from-command"


def test_missing_env_names_the_variable() -> None:
    os.environ.pop("ET_ABSENT_PW", None)
    with pytest.raises(ConfigError, match=r"\$ET_ABSENT_PW"):
        config.SecretSource(env="ET_ABSENT_PW").resolve("API password")


def test_failing_command_is_one_sentence() -> None:
    cmd = f"{sys.executable} -c \"raise SystemExit(3)\""
    with pytest.raises(ConfigError, match="exited with 3"):
        config.SecretSource(command=cmd).resolve("API password")


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("[profiles.p]\napi_password = 'x'\n", "must not hold the secret itself"),
        ("[profiles.p]\nfrobnicate = 1\n", "unknown key `frobnicate`"),
        ("[profiles.p]\nsftp_port = 'twenty-two'\n", "`sftp_port` should be a whole number"),
        ("[profiles.p]\ndialect = 'rest'\n", "`dialect` must be"),
        ("default_profile = 'nope'\n", "`default_profile` 'nope'"),
        ("this is = = not toml", "is not valid TOML"),
        ("[ui]\ncolour = 'red'\n", "[ui]: unknown key `colour`"),
    ],
)
def test_mistakes_name_file_and_key(tmp_path: Path, text: str, fragment: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        config.load(path)
    assert fragment in info.value.message
    assert str(path) in info.value.message


def test_unknown_profile_lists_the_known_ones(tmp_path: Path) -> None:
    cfg = config.load(write(tmp_path, "[profiles.prod]\napi_username = 'x'\n"))
    with pytest.raises(ConfigError, match="known: prod, sandbox"):
        cfg.profile("staging")


def test_world_readable_file_is_warned_about(tmp_path: Path) -> None:
    path = write(tmp_path, "")
    assert config.check_permissions(path) is None
    path.chmod(0o644)
    assert "chmod 600" in (config.check_permissions(path) or "")


def test_retention_by_folder() -> None:
    p = config.Profile(name="x")
    assert p.retention_for("/") == 72
    assert p.retention_for("/Export") == 21 * 24


class _MemoryKeyring:
    """A real keyring backend that keeps entries in memory (keyring's own KeyringBackend API)."""

    @staticmethod
    def make() -> object:
        from keyring.backend import KeyringBackend

        class Memory(KeyringBackend):
            priority = 1  # type: ignore[assignment]

            def __init__(self) -> None:
                super().__init__()
                self.entries: dict[tuple[str, str], str] = {}

            def get_password(self, service: str, username: str) -> str | None:
                return self.entries.get((service, username))

            def set_password(self, service: str, username: str, password: str) -> None:
                self.entries[(service, username)] = password

            def delete_password(self, service: str, username: str) -> None:
                self.entries.pop((service, username), None)

        return Memory()


@pytest.fixture
def memory_keyring() -> object:
    keyring = pytest.importorskip("keyring")
    before = keyring.get_keyring()
    backend = _MemoryKeyring.make()
    keyring.set_keyring(backend)  # type: ignore[arg-type]
    yield backend
    keyring.set_keyring(before)


def test_keyring_secret_source(tmp_path: Path, memory_keyring: object) -> None:
    import keyring

    keyring.set_password("exacttarget-api", "ops-batch-user", "from-the-keyring")
    cfg = config.load(write(tmp_path, "[profiles.p]\napi_username = 'ops-batch-user'\n"
                                      "api_password_keyring = 'exacttarget-api:ops-batch-user'\n"))
    source = cfg.profile("p").api_password
    assert source.configured
    assert source.resolve("API password") == "from-the-keyring"
    with pytest.raises(ConfigError, match="keyring set exacttarget-api nobody"):
        config.SecretSource(keyring="exacttarget-api:nobody").resolve("API password")
    with pytest.raises(ConfigError, match="should read service:username"):
        config.SecretSource(keyring="no-colon").resolve("API password")


def test_ui_time_zone_is_an_iana_name_used_for_absolute_times(tmp_path: Path) -> None:
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    cfg = config.load(write(tmp_path, '[ui]\ntime_zone = "Europe/Berlin"\n'))
    assert cfg.ui.time_zone == "Europe/Berlin" and cfg.ui.zone == ZoneInfo("Europe/Berlin")
    winter, summer = datetime(2026, 1, 15, 12, 0, tzinfo=UTC), datetime(2026, 7, 15, 12, 0, tzinfo=UTC)
    assert config.absolute_time(winter, cfg.ui.zone) == "2026-01-15 13:00 CET"
    assert config.absolute_time(summer, cfg.ui.zone) == "2026-07-15 14:00 CEST"  # the zone's own rules, not a fixed offset
    utc = config.load(write(tmp_path, '[ui]\ntime_zone = "UTC"\n')).ui.zone
    assert config.absolute_time(winter, utc) == "2026-01-15 12:00 UTC"


@pytest.mark.parametrize("name", ["Europe/Berln", "../../etc/passwd", ""])
def test_a_bad_time_zone_is_one_sentence_naming_it(tmp_path: Path, name: str) -> None:
    cfg, problems = config.check(write(tmp_path, f'[ui]\ntime_zone = "{name}"\n'))
    assert cfg is None and len(problems) == 1
    assert "`time_zone`" in problems[0] and repr(name) in problems[0] and "Europe/Berlin" in problems[0], problems


def test_no_time_zone_means_the_computer_s_local_zone(tmp_path: Path) -> None:
    import time
    from datetime import UTC, datetime

    cfg = config.load(write(tmp_path, "[ui]\n"))
    assert cfg.ui.time_zone is None and cfg.ui.zone is None
    try:
        with pytest.MonkeyPatch.context() as env:
            env.setenv("TZ", "Asia/Kolkata")
            time.tzset()
            assert config.absolute_time(datetime(2026, 1, 15, 12, 0, tzinfo=UTC), cfg.ui.zone) == "2026-01-15 17:30 IST"
    finally:
        time.tzset()
