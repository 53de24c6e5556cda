"""Hostile drop file names: ``ettui drop ls`` writes nothing a terminal acts on.

The drop is served by the real OpenSSH sshd (files on disk, key login) and by
the sandbox's own SFTP server; the names are the attacks in :mod:`hostile`.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ettui.drop.client import trust_host_key
from ettui.safetext import clean
from tests.hostile.hostile import HOSTILE_FILE_NAMES, assert_terminal_safe, run_cli
from tests.integration.sshd import OpenSSHServer, openssh_sshd, sshd_unavailable


def plant(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in HOSTILE_FILE_NAMES.values():
        (folder / name).write_bytes(b"PK\x05\x06" + b"\0" * 18)  # an empty zip


def assert_listing(done: object, home: Path) -> None:
    stdout, stderr = done.stdout, done.stderr  # type: ignore[attr-defined]
    assert done.returncode == 0, stderr  # type: ignore[attr-defined]
    assert_terminal_safe(stdout, "drop ls stdout")
    assert_terminal_safe(stderr, "drop ls stderr")
    shown = stdout.decode()
    for name in HOSTILE_FILE_NAMES.values():
        assert clean(name) in shown  # the literal name, made visible


_why = sshd_unavailable()


@pytest.mark.sshd
@pytest.mark.skipif(_why is not None, reason=_why or "")
async def test_drop_ls_on_openssh(tmp_path: Path) -> None:
    drop = tmp_path / "drop"
    plant(drop)
    async with openssh_sshd(tmp_path / "sshd") as sshd:
        kh = tmp_path / "known_hosts"
        trust_host_key(kh, sshd.host, sshd.port, sshd.key_line)
        config = tmp_path / "config.toml"
        config.write_text(_profile(sshd, drop, kh))
        config.chmod(0o600)
        home = tmp_path / "home"
        import asyncio

        done = await asyncio.to_thread(run_cli, ["--config", str(config), "drop", "ls"], home, 60, {"ETTUI_API_PW": "x"})
        assert_listing(done, home)
        as_json = await asyncio.to_thread(run_cli, ["--config", str(config), "drop", "ls", "--json"], home, 60,
                                          {"ETTUI_API_PW": "x"})
        assert_terminal_safe(as_json.stdout, "drop ls --json")
        names = {Path(f["path"]).name for f in json.loads(as_json.stdout)}
        assert set(HOSTILE_FILE_NAMES.values()) <= names  # --json stays exact


def _profile(sshd: OpenSSHServer, drop: Path, known_hosts: Path) -> str:
    return f"""default_profile = "hostile"

[profiles.hostile]
dialect = "xml"
endpoint = "http://127.0.0.1:9/integrate.aspx"
api_username = "ops"
api_password_env = "ETTUI_API_PW"
sftp_host = "127.0.0.1"
sftp_port = {sshd.port}
sftp_username = "{sshd.user}"
sftp_key_file = "{sshd.user_key}"
known_hosts = "{known_hosts}"
drop_folder = "{drop}"
export_folder = ""
"""


def test_drop_ls_on_the_sandbox(tmp_path: Path) -> None:
    home = tmp_path / "home"
    plant(home / "state" / "sandbox" / "drop")
    done = run_cli(["drop", "ls"], home)
    assert_listing(done, home)
