"""DropClient against an in-process asyncssh server: host keys, login errors, listing."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import socket
from collections.abc import AsyncIterator
from datetime import UTC
from pathlib import Path

import asyncssh
import pytest

from ettui.drop.client import DropClient, DropUnreachable, ProgressMeter, RemoteFileMissing, trust_host_key
from ettui.errors import DropError, HostKeyChanged, HostKeyUnknown
from ettui.model import Progress
from tests.integration.sshd import PASSWORD, USER, InProcessServer, sftp_server


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[InProcessServer]:
    root = tmp_path / "remote"
    (root / "10012345").mkdir(parents=True)
    (root / "out.zip").write_bytes(b"PK" + os.urandom(1000))
    async with sftp_server(root) as srv:
        yield srv


def client(srv: InProcessServer, known_hosts: Path, **kw: object) -> DropClient:
    kw.setdefault("password", PASSWORD)
    return DropClient(srv.host, srv.port, USER, known_hosts=known_hosts, **kw)  # type: ignore[arg-type]


def trusted(srv: InProcessServer, tmp_path: Path) -> Path:
    kh = tmp_path / "known_hosts"
    trust_host_key(kh, srv.host, srv.port, srv.key_line)
    return kh


async def test_unknown_key_carries_fingerprint_and_key_line(server: InProcessServer, tmp_path: Path) -> None:
    with pytest.raises(HostKeyUnknown) as info:
        await client(server, tmp_path / "known_hosts").connect()
    err = info.value
    assert err.fingerprint == server.fingerprint and err.fingerprint.startswith("SHA256:")
    assert err.key_line == server.key_line
    assert (err.host, err.port) == (server.host, server.port)
    assert server.fingerprint in err.message


async def test_accept_fingerprint_connects_once_without_saving(server: InProcessServer, tmp_path: Path) -> None:
    kh = tmp_path / "known_hosts"
    async with client(server, kh, accept_fingerprint=server.fingerprint) as c:
        assert [e.name for e in await c.list("/")] == ["10012345", "out.zip"]
    assert not kh.exists()
    with pytest.raises(HostKeyUnknown):
        await client(server, kh, accept_fingerprint="SHA256:not-this-one").connect()


async def test_trust_host_key_writes_bracketed_entry_0600(server: InProcessServer, tmp_path: Path) -> None:
    kh = tmp_path / "sub" / "known_hosts"
    trust_host_key(kh, server.host, server.port, server.key_line)
    assert kh.read_text() == f"[127.0.0.1]:{server.port} {server.key_line}\n"
    assert kh.stat().st_mode & 0o777 == 0o600
    async with client(server, kh) as c:
        assert c.connected


async def test_hashed_known_hosts_entry_is_trusted(server: InProcessServer, tmp_path: Path) -> None:
    salt = os.urandom(20)
    digest = hmac.new(salt, f"[127.0.0.1]:{server.port}".encode(), hashlib.sha1).digest()
    kh = tmp_path / "known_hosts"
    kh.write_text(f"|1|{base64.b64encode(salt).decode()}|{base64.b64encode(digest).decode()} {server.key_line}\n")
    async with client(server, kh) as c:
        assert c.connected


async def test_changed_key_is_a_hard_error_naming_both(server: InProcessServer, tmp_path: Path) -> None:
    other = asyncssh.generate_private_key("ssh-ed25519")
    old_line = " ".join(other.export_public_key().decode().split()[:2])
    kh = tmp_path / "known_hosts"
    trust_host_key(kh, server.host, server.port, old_line)
    with pytest.raises(HostKeyChanged) as info:
        # Even an explicit accept of the new fingerprint must not override a changed key.
        await client(server, kh, accept_fingerprint=server.fingerprint).connect()
    msg = info.value.message
    assert f"[127.0.0.1]:{server.port}" in msg
    assert other.get_fingerprint() in msg and server.fingerprint in msg


async def test_wrong_password_is_one_sentence_naming_user_at_host(server: InProcessServer, tmp_path: Path) -> None:
    with pytest.raises(DropError) as info:
        await client(server, trusted(server, tmp_path), password="wrong").connect()
    assert not isinstance(info.value, (HostKeyUnknown, HostKeyChanged))
    assert f"{USER}@127.0.0.1" in info.value.message
    assert info.value.message.endswith(".") and "\n" not in info.value.message and "Traceback" not in info.value.message


async def test_connection_refused_is_one_sentence(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(DropUnreachable) as info:
        await DropClient("127.0.0.1", port, USER, password="x", known_hosts=tmp_path / "kh").connect()
    assert f"127.0.0.1:{port}" in info.value.message


async def test_silent_server_times_out_in_one_sentence_and_frees_its_slot(tmp_path: Path) -> None:
    """The TCP dial succeeds (the kernel accepts), the server never speaks: the handshake's timeout is one sentence."""
    from ettui.drop.budget import ConnectionBudget

    budget = ConnectionBudget("127.0.0.1", USER, 1, lock_dir=tmp_path / "locks")
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)  # never accepted, never a banner
        port = listener.getsockname()[1]
        drop = DropClient("127.0.0.1", port, USER, password="x", known_hosts=tmp_path / "kh", connect_timeout=0.5,
                          budget=budget)
        with pytest.raises(DropUnreachable) as info:
            await drop.connect()
    assert info.value.message == (
        f"Connecting to the drop at 127.0.0.1:{port} timed out after 0.5 s; check the network and the SFTP host."
    )
    slot = budget.try_acquire()  # the failed connect gave its slot back
    assert slot is not None
    slot.release()


async def test_list_and_stat(server: InProcessServer, tmp_path: Path) -> None:
    async with client(server, trusted(server, tmp_path)) as c:
        entries = await c.list("/")
        by_name = {e.name: e for e in entries}
        assert by_name["10012345"].is_dir
        zip_entry = by_name["out.zip"]
        assert (zip_entry.path, zip_entry.size, zip_entry.is_dir) == ("/out.zip", 1002, False)
        assert zip_entry.mtime.tzinfo == UTC
        assert (await c.stat("/out.zip")).size == 1002
        with pytest.raises(RemoteFileMissing):
            await c.stat("/gone.zip")
        with pytest.raises(RemoteFileMissing):
            await c.list("/nope")
    assert server.faults.writes == []


async def test_download_pipelined_with_progress(server: InProcessServer, tmp_path: Path) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)
    (server.root / "big.zip").write_bytes(data)
    seen: list[Progress] = []
    async with client(server, trusted(server, tmp_path), block_size=64 * 1024, max_requests=8) as c:
        await c.download("/big.zip", tmp_path / "big.zip.part", progress=seen.append)
        # Resume from an offset: the prefix is kept and only the rest is fetched.
        part = tmp_path / "half.part"
        part.write_bytes(data[:1000])
        await c.download("/big.zip", part, offset=1000)
    assert (tmp_path / "big.zip.part").read_bytes() == data
    assert part.read_bytes() == data
    assert seen[-1].done == seen[-1].total == len(data)
    assert [p.done for p in seen] == sorted(p.done for p in seen)
    assert server.faults.writes == []


def test_progress_meter_throttles_and_smooths() -> None:
    now = [0.0]
    out: list[Progress] = []
    meter = ProgressMeter(1000, 0, out.append, interval=0.1, clock=lambda: now[0])
    for i in range(1, 11):
        now[0] = i * 0.01
        meter.update(i * 10)  # ten updates inside one interval: at most one callback
    assert len(out) == 1 and out[0].done == 100 and out[0].rate == pytest.approx(1000)
    now[0] = 0.2
    meter.update(300)  # instantaneous 2000 B/s, smoothed towards it
    assert 1000 < out[-1].rate < 2000
    meter.finish(1000)
    assert out[-1].done == 1000 and out[-1].eta_seconds == 0
