"""`ettui drop ls` and `ettui fetch` with a profile on a real vsftpd that enforces TLS session reuse."""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import pytest

from tests.e2e.test_cli_sshd import ettui
from tests.integration.vsftpd import VsftpdServer, vsftpd_server, vsftpd_unavailable

_why = vsftpd_unavailable()
pytestmark = [pytest.mark.vsftpd, pytest.mark.skipif(_why is not None, reason=_why or "")]

NAME = "bulkasync_10012345_20260301120000000_1.zip"


def config_for(server: VsftpdServer, tmp_path: Path) -> Path:
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        "\n".join(
            [
                'default_profile = "legacy"',
                "[profiles.legacy]",
                'endpoint = "http://127.0.0.1:9/integrate.aspx"',
                'api_username = "unused"',
                'api_password_env = "ET_UNUSED_PW"',
                'drop_protocol = "ftps"',
                f'ftps_host = "{server.host}"',
                f"ftps_port = {server.port}",
                f'ftps_username = "{server.user}"',
                'ftps_password_env = "ET_FTPS_PW"',
                'member_id = "10012345"',
                'drop_folder = "/"',
                'export_folder = ""',
                "",
            ]
        )
    )
    cfg.chmod(0o600)
    return cfg


async def test_legacy_ftps_profile_lists_fetches_and_refuses_an_unknown_cert(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()
    with zipfile.ZipFile(drop / NAME, "w", zipfile.ZIP_DEFLATED) as zf:
        body = "".join(f"<record><EmailAddress>u{i}@example.org</EmailAddress></record>" for i in range(2000))
        zf.writestr(NAME.replace(".zip", ".xml"), f"<exacttarget><tracking>{body}</tracking></exacttarget>")
    async with vsftpd_server(tmp_path / "vsftpd", drop) as server:
        monkeypatch.setenv("ET_FTPS_PW", server.password)
        cfg = config_for(server, tmp_path)
        home = tmp_path / "home"
        code, _, err = await ettui("--config", str(cfg), "drop", "ls", home=home)
        assert code == 6 and server.fingerprint in err and "--accept-cert" in err, err
        assert "Subject: CN=ettui-test-server" in err
        code, out, err = await ettui("--config", str(cfg), "drop", "ls", "--accept-cert", server.fingerprint, home=home)
        assert code == 0, err
        assert NAME in out and "EXPIRED" not in out
        code, out, err = await ettui("--config", str(cfg), "drop", "ls", "--json", home=home)  # remembered now
        assert code == 0, err
        (entry,) = json.loads(out)
        assert entry["name"] == NAME and 0 < entry["seconds_left"] <= 72 * 3600
        code, out, err = await ettui("--config", str(cfg), "fetch", NAME, "--json", "--dest", str(tmp_path / "dl"), home=home)
        assert code == 0, err
        result = json.loads(out)
        assert result["sha256"] == hashlib.sha256((drop / NAME).read_bytes()).hexdigest()
        assert [Path(p).name for p in result["files"]] == [NAME.replace(".zip", ".xml")]
        assert "session reuse required" not in server.log_text()
