"""The sandbox's SFTP drop from the outside: asyncssh client and OpenSSH ``sftp``."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncssh
import pytest

from ettui.sandbox import Sandbox, SandboxOptions


@pytest.fixture
def client_key(tmp_path: Path) -> Path:
    key = asyncssh.generate_private_key("ssh-ed25519")
    path = tmp_path / "id_ed25519"
    path.write_bytes(key.export_private_key())
    path.chmod(0o600)
    (tmp_path / "authorized_keys").write_bytes(key.export_public_key())
    return path


@pytest.fixture
async def sandbox(tmp_path: Path, client_key: Path) -> AsyncIterator[Sandbox]:
    options = SandboxOptions(root=tmp_path / "sb", authorized_keys=tmp_path / "authorized_keys")
    async with Sandbox(options) as sb:
        drop = Path(sb.info.drop_dir)
        (drop / "report.zip").write_bytes(os.urandom(300_000))
        (drop / "10012345").mkdir()
        (drop / "10012345" / "inner.zip").write_bytes(b"inner")
        yield sb


def connect(sb: Sandbox, **kwargs: Any) -> Any:
    return asyncssh.connect(sb.info.sftp_host, sb.info.sftp_port, username=sb.info.sftp_username,
                            known_hosts=None, **kwargs)  # type: ignore[arg-type]


async def test_password_login_lists_and_reads(sandbox: Sandbox) -> None:
    async with connect(sandbox, password=sandbox.info.sftp_password, client_keys=None) as conn:
        async with conn.start_sftp_client() as sftp:
            names = sorted(await sftp.listdir("/"))
            assert names == [".", "..", "10012345", "report.zip"]
            assert await sftp.realpath(".") == "/"
            data = await (await sftp.open("/report.zip", "rb")).read()
            assert data == (Path(sandbox.info.drop_dir) / "report.zip").read_bytes()
            assert await (await sftp.open("10012345/inner.zip", "rb")).read() == b"inner"


async def test_key_login(sandbox: Sandbox, client_key: Path) -> None:
    async with connect(sandbox, client_keys=[str(client_key)], password=None) as conn:
        async with conn.start_sftp_client() as sftp:
            assert (await sftp.stat("/report.zip")).size == 300_000


async def test_wrong_password_and_unknown_key_refused(sandbox: Sandbox) -> None:
    with pytest.raises(asyncssh.PermissionDenied):
        async with connect(sandbox, password="wrong", client_keys=None):
            pass
    other = asyncssh.generate_private_key("ssh-ed25519")
    with pytest.raises(asyncssh.PermissionDenied):
        async with connect(sandbox, client_keys=[other], password=None):
            pass


async def test_host_key_fingerprint_persists(tmp_path: Path) -> None:
    prints = []
    for _ in range(2):
        async with Sandbox(SandboxOptions(root=tmp_path / "same")) as sb:
            prints.append(sb.info.host_key_fingerprint)
            async with connect(sb, password=sb.info.sftp_password, client_keys=None) as conn:
                server_key = conn.get_server_host_key()
                assert server_key is not None
                assert server_key.get_fingerprint("sha256") == sb.info.host_key_fingerprint
    assert prints[0] == prints[1] and prints[0].startswith("SHA256:")
    assert oct((tmp_path / "same" / "ssh_host_ed25519_key").stat().st_mode & 0o777) == "0o600"


async def test_writes_are_refused(sandbox: Sandbox) -> None:
    drop = Path(sandbox.info.drop_dir)
    async with connect(sandbox, password=sandbox.info.sftp_password, client_keys=None) as conn:
        async with conn.start_sftp_client() as sftp:
            for attempt in (
                lambda: sftp.open("/new.zip", "wb"),
                lambda: sftp.open("/report.zip", "r+b"),
                lambda: sftp.open("/report.zip", "ab"),
                lambda: sftp.remove("/report.zip"),
                lambda: sftp.rename("/report.zip", "/moved.zip"),
                lambda: sftp.posix_rename("/report.zip", "/moved.zip"),
                lambda: sftp.mkdir("/newdir"),
                lambda: sftp.rmdir("/10012345"),
                lambda: sftp.chmod("/report.zip", 0o777),
                lambda: sftp.symlink("/report.zip", "/link.zip"),
            ):
                with pytest.raises(asyncssh.SFTPError):
                    await attempt()
    assert sorted(p.name for p in drop.iterdir()) == ["10012345", "report.zip"]
    assert (drop / "report.zip").stat().st_size == 300_000


async def test_chroot_escapes_are_refused(sandbox: Sandbox, tmp_path: Path) -> None:
    drop = Path(sandbox.info.drop_dir)
    secret = tmp_path / "sb" / "ssh_host_ed25519_key"  # a real file just outside the drop
    (drop / "etc-link").symlink_to("/etc")
    (drop / "key-link").symlink_to(secret)
    async with connect(sandbox, password=sandbox.info.sftp_password, client_keys=None) as conn:
        async with conn.start_sftp_client() as sftp:
            for path in ("../ssh_host_ed25519_key", "/../ssh_host_ed25519_key", "../../../../etc/passwd",
                         "/etc/passwd", str(secret), "etc-link/passwd", "/etc-link/hostname", "key-link"):
                with pytest.raises(asyncssh.SFTPError):
                    await (await sftp.open(path, "rb")).read()
            with pytest.raises(asyncssh.SFTPError):
                await sftp.listdir("etc-link")
            with pytest.raises(asyncssh.SFTPError):
                await sftp.stat("etc-link/passwd")
            # ".." above the root stays at the root, as on any chrooted server.
            assert await sftp.realpath("/../..") == "/"


async def test_connection_dropped_after_bytes_then_resume(sandbox: Sandbox) -> None:
    sandbox.faults.sftp_drop_after_bytes = 100_000
    sandbox.faults.sftp_drop_once = True
    expected = (Path(sandbox.info.drop_dir) / "report.zip").read_bytes()
    got = b""
    # The cut lands in whichever read crosses the byte limit, so the whole transfer is inside.
    with pytest.raises((asyncssh.Error, ConnectionError, asyncio.IncompleteReadError)):  # noqa: PT012
        async with connect(sandbox, password=sandbox.info.sftp_password, client_keys=None) as conn:
            async with conn.start_sftp_client() as sftp:
                async with sftp.open("/report.zip", "rb") as handle:
                    while chunk := await handle.read(16_384):
                        got += chunk
    assert 0 < len(got) <= 100_000
    assert sandbox.faults.sftp_drop_after_bytes is None  # "once" switched itself off
    async with connect(sandbox, password=sandbox.info.sftp_password, client_keys=None) as conn:
        async with conn.start_sftp_client() as sftp:
            async with sftp.open("/report.zip", "rb") as handle:
                await handle.seek(len(got))
                got += await handle.read()
    assert got == expected


@pytest.mark.skipif(not shutil.which("sftp"), reason="OpenSSH sftp not installed")
async def test_openssh_sftp_with_key(sandbox: Sandbox, client_key: Path, tmp_path: Path) -> None:
    local = tmp_path / "fetched.zip"
    proc = await asyncio.create_subprocess_exec(
        "sftp", "-b", "-", "-i", str(client_key), "-P", str(sandbox.info.sftp_port),
        "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
        "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
        f"{sandbox.info.sftp_username}@{sandbox.info.sftp_host}",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(f"ls\nget report.zip {local}\n".encode()), 30)
    assert proc.returncode == 0, err.decode()
    assert b"report.zip" in out
    assert local.read_bytes() == (Path(sandbox.info.drop_dir) / "report.zip").read_bytes()
    proc = await asyncio.create_subprocess_exec(
        "sftp", "-b", "-", "-i", str(client_key), "-P", str(sandbox.info.sftp_port),
        "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
        "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
        f"{sandbox.info.sftp_username}@{sandbox.info.sftp_host}",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    _out, _err = await asyncio.wait_for(proc.communicate(f"put {local} /uploaded.zip\n".encode()), 30)
    assert proc.returncode != 0
    assert not (Path(sandbox.info.drop_dir) / "uploaded.zip").exists()
