"""DropClient and fetch_file against a real OpenSSH sshd on 127.0.0.1.

sshd gets its own config, host key and authorized_keys in tmp_path; the user is
whoever runs the tests (key login). Skipped, with the reason, where sshd cannot run.
"""

from __future__ import annotations

import hashlib
import io
import subprocess
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

import ettui.drop.localfile as localfile
from ettui.drop.client import DropClient, trust_host_key
from ettui.drop.fetch import fetch_file
from ettui.errors import DropError, HostKeyChanged, HostKeyUnknown
from tests.integration.sshd import OpenSSHServer, keygen, openssh_sshd, sshd_unavailable

_why = sshd_unavailable()
pytestmark = [pytest.mark.sshd, pytest.mark.skipif(_why is not None, reason=_why or "")]


@pytest.fixture
async def sshd(tmp_path: Path) -> AsyncIterator[OpenSSHServer]:
    async with openssh_sshd(tmp_path / "sshd") as server:
        yield server


def drop_client(server: OpenSSHServer, known_hosts: Path, **kw: object) -> DropClient:
    kw.setdefault("key_file", str(server.user_key))
    return DropClient(server.host, server.port, server.user, known_hosts=known_hosts, **kw)  # type: ignore[arg-type]


async def test_unknown_key_fingerprint_matches_openssh_then_trust(sshd: OpenSSHServer, tmp_path: Path) -> None:
    kh = tmp_path / "known_hosts"
    with pytest.raises(HostKeyUnknown) as info:
        await drop_client(sshd, kh).connect()
    assert info.value.fingerprint == sshd.fingerprint()  # as ssh-keygen -l prints it
    trust_host_key(kh, info.value.host, info.value.port, info.value.key_line)
    async with drop_client(sshd, kh) as c:
        names = [e.name for e in await c.list(str(sshd.home))]
    assert "sshd_config" in names
    # OpenSSH's own client accepts the entry we wrote.
    out = subprocess.run(
        ["ssh-keygen", "-F", f"[127.0.0.1]:{sshd.port}", "-f", str(kh)], capture_output=True, text=True
    )
    assert out.returncode == 0


async def test_accept_fingerprint_connects_once(sshd: OpenSSHServer, tmp_path: Path) -> None:
    kh = tmp_path / "known_hosts"
    async with drop_client(sshd, kh, accept_fingerprint=sshd.fingerprint()) as c:
        assert c.connected
    assert not kh.exists()


async def test_known_hosts_hashed_by_ssh_keygen(sshd: OpenSSHServer, tmp_path: Path) -> None:
    kh = tmp_path / "known_hosts"
    trust_host_key(kh, sshd.host, sshd.port, sshd.key_line)
    subprocess.run(["ssh-keygen", "-H", "-f", str(kh)], check=True, capture_output=True)
    assert kh.read_text().startswith("|1|")
    async with drop_client(sshd, kh) as c:
        assert c.connected


async def test_changed_key(sshd: OpenSSHServer, tmp_path: Path) -> None:
    keygen(tmp_path / "other")
    other_line = " ".join((tmp_path / "other.pub").read_text().split()[:2])
    kh = tmp_path / "known_hosts"
    trust_host_key(kh, sshd.host, sshd.port, other_line)
    with pytest.raises(HostKeyChanged) as info:
        await drop_client(sshd, kh).connect()
    assert sshd.fingerprint() in info.value.message and f"[127.0.0.1]:{sshd.port}" in info.value.message


async def test_wrong_password(sshd: OpenSSHServer, tmp_path: Path) -> None:
    kh = tmp_path / "known_hosts"
    trust_host_key(kh, sshd.host, sshd.port, sshd.key_line)
    c = DropClient(sshd.host, sshd.port, sshd.user, password="not-the-password", known_hosts=kh)
    with pytest.raises(DropError) as info:
        await c.connect()
    assert f"{sshd.user}@127.0.0.1" in info.value.message


async def test_resume_after_sshd_is_killed_mid_transfer(
    sshd: OpenSSHServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """sshd (listener and session processes) is SIGKILLed after ~3 MiB; the retry restarts it and resumes."""
    payload = hashlib.shake_256(b"drop").digest(12 * 1024 * 1024)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        z.writestr("output.xml", payload)
    source = tmp_path / "remote" / "bulkasync_1.zip"
    source.parent.mkdir()
    source.write_bytes(buf.getvalue())

    written = [0]
    killed: list[int] = []
    real_write = localfile._write

    def write_then_kill(local, data, path):  # type: ignore[no-untyped-def]
        real_write(local, data, path)
        written[0] += len(data)
        if written[0] >= 3 * 1024 * 1024 and not killed:
            killed.append(written[0])
            sshd.kill()  # the connection dies under the in-flight reads

    monkeypatch.setattr(localfile, "_write", write_then_kill)
    restarts: list[float] = []

    async def restart_sshd(delay: float) -> None:  # fetch's back-off sleep: bring the server back
        restarts.append(delay)
        await sshd.stop()
        await sshd.start()

    kh = tmp_path / "known_hosts"
    trust_host_key(kh, sshd.host, sshd.port, sshd.key_line)
    # Few reads in flight, so the kill lands while most of the file is still on the server.
    client = drop_client(sshd, kh, max_requests=4)
    offsets: list[int] = []
    real_download = client.download

    async def spy(remote_path: str, local_part: Path, *, offset: int = 0, **kw) -> None:  # type: ignore[no-untyped-def]
        offsets.append(offset)
        await real_download(remote_path, local_part, offset=offset, **kw)

    client.download = spy  # type: ignore[method-assign]
    try:
        result = await fetch_file(client, str(source), tmp_path / "dl", lock_dir=tmp_path / "locks", sleep=restart_sshd)
    finally:
        await client.close()
    assert restarts == [1.0]
    assert offsets[0] == 0 and offsets[1] >= 3 * 1024 * 1024  # resumed, not restarted
    assert result.sha256 == hashlib.sha256(source.read_bytes()).hexdigest()
    assert result.path.read_bytes() == source.read_bytes()
    assert sorted(p.name for p in (tmp_path / "dl").iterdir()) == ["bulkasync_1.zip"]


async def test_a_connection_the_server_closed_is_reopened_transparently(sshd: OpenSSHServer, tmp_path: Path) -> None:
    kh = tmp_path / "known_hosts"
    trust_host_key(kh, sshd.host, sshd.port, sshd.key_line)
    (tmp_path / "remote").mkdir()
    (tmp_path / "remote" / "a.zip").write_bytes(b"PK")
    client = drop_client(sshd, kh, keepalive_interval=30)
    try:
        await client.connect()
        assert [e.name for e in await client.list(str(tmp_path / "remote"))] == ["a.zip"]
        await sshd.stop()  # the server closes every connection (as the drop does after 10 idle minutes)
        await sshd.start()
        assert [e.name for e in await client.list(str(tmp_path / "remote"))] == ["a.zip"]
        client.idle_reopen = 0.0  # idle "too long": replaced before use, not used until it breaks
        before = client.connection
        assert (await client.stat(str(tmp_path / "remote" / "a.zip"))).size == 2
        assert client.connection is not before
    finally:
        await client.close()


async def test_a_refused_password_is_tried_once_per_process(sshd: OpenSSHServer, tmp_path: Path) -> None:
    import asyncio

    from ettui.drop.client import LoginRefused

    kh = tmp_path / "known_hosts"
    trust_host_key(kh, sshd.host, sshd.port, sshd.key_line)
    for _ in range(3):
        c = DropClient(sshd.host, sshd.port, sshd.user, password="wrong-for-this-test", known_hosts=kh)
        with pytest.raises(LoginRefused) as info:
            await c.connect()
        assert "30 minutes" in info.value.message
    await asyncio.sleep(0.2)  # sshd's last log line
    assert sum("Failed password" in line for line in sshd.log) == 1

    from ettui.drop.client import allow_login_again

    allow_login_again(sshd.host, sshd.port, sshd.user)  # the operator asks for another try
    with pytest.raises(LoginRefused):
        await DropClient(sshd.host, sshd.port, sshd.user, password="wrong-for-this-test", known_hosts=kh).connect()
    await asyncio.sleep(0.2)
    assert sum("Failed password" in line for line in sshd.log) == 2
