"""The sandbox's drop emulates the vendor's limits: 10 connections per user, lockout, idle close."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import asyncssh
import pytest

from ettui.sandbox import Sandbox, SandboxOptions


@pytest.fixture
async def sandbox(tmp_path: Path) -> AsyncIterator[Sandbox]:
    async with Sandbox(SandboxOptions(root=tmp_path / "sb")) as sb:
        yield sb


async def login(sb: Sandbox, password: str | None = None) -> asyncssh.SSHClientConnection:
    return await asyncssh.connect(
        sb.info.sftp_host, sb.info.sftp_port, username=sb.info.sftp_username, known_hosts=None,
        password=password or sb.info.sftp_password, client_keys=None, agent_path=None, preferred_auth="password",
    )


async def sftp_works(conn: asyncssh.SSHClientConnection) -> bool:
    try:
        async with conn.start_sftp_client() as sftp:
            await sftp.listdir("/")
        return True
    except (asyncssh.Error, OSError):
        return False


async def test_an_eleventh_connection_of_one_user_is_refused(sandbox: Sandbox) -> None:
    conns = [await login(sandbox) for _ in range(10)]
    try:
        assert all([await sftp_works(c) for c in conns])
        try:
            eleventh = await login(sandbox)
        except asyncssh.DisconnectError as exc:
            # Refused at login or at the SFTP channel: both are a refusal, so no pytest.raises.
            assert "Too many connections" in exc.reason  # noqa: PT017
        else:
            assert not await sftp_works(eleventh)
            eleventh.close()
        assert sandbox.drop_limits.refused_connections == 1
        conns.pop().close()
        await asyncio.sleep(0)  # not a wait on time: lets the server see the close
        for _ in range(100):
            if sandbox.drop_limits.connections.get(sandbox.info.sftp_username) == 9:
                break
            await asyncio.sleep(0.01)
        again = await login(sandbox)  # a freed slot is usable again
        assert await sftp_works(again)
        conns.append(again)
    finally:
        for c in conns:
            c.close()


async def test_the_limit_is_a_knob(sandbox: Sandbox) -> None:
    sandbox.drop_limits.max_connections = 1
    first = await login(sandbox)
    try:
        assert await sftp_works(first)
        # The refusal may come at login or at the channel open: both steps belong inside.
        with pytest.raises((asyncssh.DisconnectError, asyncssh.ChannelOpenError)):  # noqa: PT012
            second = await login(sandbox)
            async with second.start_sftp_client():
                pass
    finally:
        first.close()


async def test_three_bad_passwords_lock_the_user_for_thirty_minutes_of_its_clock(sandbox: Sandbox) -> None:
    for _ in range(3):
        with pytest.raises(asyncssh.PermissionDenied):
            await login(sandbox, password="wrong")
    with pytest.raises(asyncssh.PermissionDenied):
        await login(sandbox)  # locked: even the right password is refused
    sandbox.clock.advance(29 * 60)
    with pytest.raises(asyncssh.PermissionDenied):
        await login(sandbox)
    sandbox.clock.advance(61)
    conn = await login(sandbox)  # 30 minutes on the sandbox clock: unlocked
    assert await sftp_works(conn)
    conn.close()


async def test_two_bad_passwords_then_a_good_one_do_not_lock(sandbox: Sandbox) -> None:
    for _ in range(2):
        with pytest.raises(asyncssh.PermissionDenied):
            await login(sandbox, password="wrong")
    (await login(sandbox)).close()
    with pytest.raises(asyncssh.PermissionDenied):
        await login(sandbox, password="wrong")
    (await login(sandbox)).close()  # the count started again after the good login


async def test_the_lockout_is_a_knob(tmp_path: Path) -> None:
    options = SandboxOptions(root=tmp_path / "sb", sftp_lockout_failures=1, sftp_lockout_minutes=1)
    async with Sandbox(options) as sb:
        with pytest.raises(asyncssh.PermissionDenied):
            await login(sb, password="wrong")
        with pytest.raises(asyncssh.PermissionDenied):
            await login(sb)
        sb.clock.advance(61)
        (await login(sb)).close()


async def test_an_idle_connection_is_closed_by_the_server(tmp_path: Path) -> None:
    options = SandboxOptions(root=tmp_path / "sb", sftp_idle_close_seconds=0.3)
    async with Sandbox(options) as sb:
        conn = await login(sb)
        async with conn.start_sftp_client() as sftp:
            await sftp.listdir("/")
            await asyncio.wait_for(conn.wait_closed(), 20)  # an event: the server's close
        assert conn.is_closed()


async def test_ettui_reopens_after_the_sandboxs_idle_close(tmp_path: Path) -> None:
    from ettui.drop.client import DropClient, trust_host_key

    options = SandboxOptions(root=tmp_path / "sb", sftp_idle_close_seconds=0.3)
    async with Sandbox(options) as sb:
        kh = tmp_path / "known_hosts"
        key = (Path(sb.info.drop_dir).parent / "ssh_host_ed25519_key.pub").read_text().split()
        trust_host_key(kh, sb.info.sftp_host, sb.info.sftp_port, " ".join(key[:2]))
        client = DropClient(sb.info.sftp_host, sb.info.sftp_port, sb.info.sftp_username,
                            password=sb.info.sftp_password, known_hosts=kh)
        await client.connect()
        assert await client.list("/") == []
        assert client.connection is not None
        await asyncio.wait_for(client.connection.wait_closed(), 20)
        assert await client.list("/") == []  # reopened transparently
        await client.close()
