"""`ettui drop ls` and `ettui fetch` against a real OpenSSH sshd (key login, strict host keys)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import sys
import zipfile
from pathlib import Path

import pytest

from tests.integration.sshd import OpenSSHServer, openssh_sshd, sshd_unavailable

_why = sshd_unavailable()
pytestmark = [pytest.mark.sshd, pytest.mark.skipif(_why is not None, reason=_why or "")]


async def ettui(*args: str, home: Path) -> tuple[int, str, str]:
    """The CLI in a subprocess; awaited so sshd's stderr keeps draining on this loop."""
    env = {**os.environ, "ETTUI_HOME": str(home), "ET_UNUSED_PW": "unused"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "ettui", *args, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def config_for(server: OpenSSHServer, drop: Path, tmp_path: Path) -> Path:
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        "\n".join(
            [
                'default_profile = "acct"',
                "[profiles.acct]",
                'endpoint = "http://127.0.0.1:9/integrate.aspx"',
                'api_username = "unused"',
                'api_password_env = "ET_UNUSED_PW"',
                f'sftp_host = "{server.host}"',
                f"sftp_port = {server.port}",
                f'sftp_username = "{server.user}"',
                f'sftp_key_file = "{server.user_key}"',
                f'known_hosts = "{tmp_path / "known_hosts"}"',
                f'drop_folder = "{drop}"',
                'export_folder = ""',
                "",
            ]
        )
    )
    cfg.chmod(0o600)
    return cfg


async def test_fetch_from_real_sshd_verified_and_extracted(tmp_path: Path) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()
    name = "bulkasync_10012345_20260301120000000_1.zip"
    with zipfile.ZipFile(drop / name, "w", zipfile.ZIP_DEFLATED) as zf:
        body = "".join(f"<record><EmailAddress>u{i}@example.org</EmailAddress></record>" for i in range(2000))
        zf.writestr(name.replace(".zip", ".xml"), f"<exacttarget><tracking>{body}</tracking></exacttarget>")
    async with openssh_sshd(tmp_path / "sshd") as server:
        cfg = config_for(server, drop, tmp_path)
        home = tmp_path / "home"
        code, _, err = await ettui("--config", str(cfg), "drop", "ls", home=home)
        assert code == 6 and server.fingerprint() in err, err
        code, out, err = await ettui("--config", str(cfg), "drop", "ls", "--json", "--accept-host-key", server.fingerprint(),
                                     home=home)
        assert code == 0, err
        (entry,) = json.loads(out)
        assert entry["name"] == name and 0 < entry["seconds_left"] <= 72 * 3600
        code, out, err = await ettui(
            "--config", str(cfg), "fetch", name, "--json", "--dest", str(tmp_path / "dl"), home=home
        )
        assert code == 0, err
        result = json.loads(out)
        assert result["sha256"] == hashlib.sha256((drop / name).read_bytes()).hexdigest()
        (xml,) = [Path(p) for p in result["files"]]
        assert xml.read_bytes().count(b"<record>") == 2000
        assert (drop / name).exists(), "nothing is ever removed or written on the remote side"
