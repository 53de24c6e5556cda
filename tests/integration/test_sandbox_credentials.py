"""The sandbox's passwords are generated per root, private to the operator, and the only ones accepted."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import asyncssh
import httpx

from ettui.sandbox import Sandbox, SandboxOptions
from ettui.sandbox.credentials import CREDENTIALS_NAME, load_credentials


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_generated_per_root_private_and_stable(tmp_path: Path) -> None:
    first, second = load_credentials(tmp_path / "a"), load_credentials(tmp_path / "b")
    assert first != second
    assert first.api_password != first.sftp_password
    assert len(first.api_password) >= 20 and "sandbox-secret" not in (first.api_password, first.sftp_password)
    for root in (tmp_path / "a", tmp_path / "b"):
        assert mode(root / CREDENTIALS_NAME) == 0o600
        assert mode(root) == 0o700
    assert load_credentials(tmp_path / "a") == first, "a restart keeps the root's passwords"
    assert [p.name for p in (tmp_path / "a").iterdir()] == [CREDENTIALS_NAME], "no temp file left behind"


def test_a_file_others_could_read_is_replaced(tmp_path: Path) -> None:
    root = tmp_path / "sb"
    root.mkdir(mode=0o700)
    planted = root / CREDENTIALS_NAME
    planted.write_text(json.dumps({"api_password": "known", "sftp_password": "known"}))
    planted.chmod(0o644)
    creds = load_credentials(root)
    assert creds.api_password != "known" and mode(planted) == 0o600


def test_a_symlink_is_not_followed(tmp_path: Path) -> None:
    root = tmp_path / "sb"
    root.mkdir(mode=0o700)
    target = tmp_path / "elsewhere.json"
    target.write_text(json.dumps({"api_password": "known", "sftp_password": "known"}))
    target.chmod(0o600)
    (root / CREDENTIALS_NAME).symlink_to(target)
    creds = load_credentials(root)
    assert creds.api_password != "known"
    assert not (root / CREDENTIALS_NAME).is_symlink()
    assert json.loads(target.read_text())["api_password"] == "known", "the link's target is untouched"


async def test_the_running_sandbox_accepts_only_its_generated_passwords(tmp_path: Path) -> None:
    async with Sandbox(SandboxOptions(root=tmp_path / "sb")) as sb:
        stored = load_credentials(tmp_path / "sb")
        assert sb.info.api_password == stored.api_password and sb.info.sftp_password == stored.sftp_password
        for password, ok in ((sb.info.sftp_password, True), ("sandbox-secret", False)):
            try:
                async with asyncssh.connect(sb.info.sftp_host, sb.info.sftp_port, username=sb.info.sftp_username,
                                            password=password, client_keys=None, known_hosts=None):
                    logged_in = True
            except asyncssh.PermissionDenied:
                logged_in = False
            assert logged_in is ok
        inquire = ("<exacttarget><authorization><username>{u}</username><password>{p}</password></authorization>"
                   "<system><system_name>batch</system_name><action>inquire</action><search_type>batchid</search_type>"
                   "<search_value>1</search_value></system></exacttarget>")
        async with httpx.AsyncClient(timeout=10) as http:
            for password, ok in ((sb.info.api_password, True), ("sandbox-secret", False)):
                body = {"qf": "xml", "xml": inquire.format(u=sb.info.api_username, p=password)}
                reply = await http.post(sb.info.xml_api_url, data=body)
                assert ("Login failed" in reply.text) is not ok, reply.text


def test_an_existing_open_root_is_made_private(tmp_path: Path) -> None:
    root = tmp_path / "sb"
    root.mkdir()
    root.chmod(0o755)
    load_credentials(root)
    assert mode(root) == 0o700
