"""The sandbox's FTPS drop emulates the vendor's limits like its SFTP (one account, one set of limits),
and the FTPS client takes its connections from the cross-process budget and never retries a refused login."""

from __future__ import annotations

import asyncio
import ftplib
import ssl
from datetime import timedelta
from pathlib import Path

import pytest

from ettui.drop.budget import ConnectionBudget
from ettui.drop.certs import trust_cert
from ettui.drop.ftps import FtpsClient
from ettui.drop.transport import REFUSED_LOGINS, LoginRefused, allow_login_again
from ettui.errors import DropError
from ettui.sandbox import Sandbox, SandboxOptions


def raw_login(sb: Sandbox, password: str | None = None) -> ftplib.FTP_TLS:
    """A plain ``ftplib`` login (no ettui client, so no refusal memory): raises on 530 / 421."""
    info = sb.info
    ftp = ftplib.FTP_TLS(context=ssl._create_unverified_context(), timeout=10)
    ftp.connect(info.sftp_host, info.ftps_port)
    ftp.login(info.ftps_username, info.ftps_password if password is None else password)
    return ftp


def client(sb: Sandbox, tmp_path: Path, **kw: object) -> FtpsClient:
    info = sb.info
    trust_cert(tmp_path / "known_certs", info.sftp_host, info.ftps_port, info.ftps_cert_fingerprint)
    options: dict[str, object] = {"password": info.ftps_password, "known_certs": tmp_path / "known_certs"}
    options.update(kw)
    return FtpsClient(info.sftp_host, info.ftps_port, info.ftps_username, **options)  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def _forget_refusals() -> None:
    REFUSED_LOGINS.clear()


async def test_a_connection_over_the_limit_is_refused(tmp_path: Path) -> None:
    async with Sandbox(SandboxOptions(root=tmp_path / "sb", sftp_max_connections=2)) as sb:
        held = [await asyncio.to_thread(raw_login, sb) for _ in range(2)]
        with pytest.raises(ftplib.error_temp, match="421 Too many connections"):
            await asyncio.to_thread(raw_login, sb)
        assert sb.drop_limits.refused_connections == 1
        held.pop().close()
        await asyncio.sleep(0.2)  # the server notices the close
        (await asyncio.to_thread(raw_login, sb)).close()
        for ftp in held:
            ftp.close()


async def test_three_bad_passwords_lock_the_user_on_the_sandbox_clock(tmp_path: Path) -> None:
    async with Sandbox(SandboxOptions(root=tmp_path / "sb")) as sb:
        for _ in range(3):
            with pytest.raises(ftplib.error_perm, match="530"):
                await asyncio.to_thread(raw_login, sb, "wrong")
        with pytest.raises(ftplib.error_perm, match="530"):
            await asyncio.to_thread(raw_login, sb)  # the right password, but locked
        until = sb.drop_limits.locked_until[sb.info.ftps_username]
        assert until - sb.clock.now() <= timedelta(minutes=30)
        sb.drop_limits.locked_until[sb.info.ftps_username] = sb.clock.now()  # 30 minutes later
        (await asyncio.to_thread(raw_login, sb)).close()


async def test_an_idle_connection_is_closed_and_the_client_reopens_it(tmp_path: Path) -> None:
    async with Sandbox(SandboxOptions(root=tmp_path / "sb", sftp_idle_close_seconds=0.5)) as sb:
        (sb.drop_dir / "bulkasync_1.zip").write_bytes(b"PK\x05\x06" + bytes(18))
        ftp = await asyncio.to_thread(raw_login, sb)
        await asyncio.sleep(1.0)
        with pytest.raises((EOFError, OSError, ftplib.Error)):
            await asyncio.to_thread(ftp.voidcmd, "NOOP")
        ftp.close()
        drop = client(sb, tmp_path, idle_reopen=0.3)
        await drop.connect()
        await asyncio.sleep(1.0)  # the server has closed it; the client replaces it before use
        assert [e.name for e in await drop.list("/")] == ["bulkasync_1.zip"]
        await drop.close()


async def test_a_refused_ftps_login_is_never_tried_again_in_the_process(tmp_path: Path) -> None:
    async with Sandbox(SandboxOptions(root=tmp_path / "sb")) as sb:
        first = client(sb, tmp_path, password="wrong")
        with pytest.raises(LoginRefused) as caught:
            await first.connect()
        assert "30 minutes" in caught.value.message and "wrong" not in caught.value.message
        # Another client object (a reconnect, the TUI's next refresh) with the same password: no second try.
        with pytest.raises(LoginRefused):
            await client(sb, tmp_path, password="wrong").connect()
        assert sb.ftps is not None and sb.ftps.failed_logins == 1
        assert sb.info.ftps_username not in sb.drop_limits.locked_until
        # The right password is a different credential; and the operator can clear the memory.
        good = client(sb, tmp_path)
        await good.connect()
        await good.close()
        allow_login_again(sb.info.sftp_host, sb.info.ftps_port, sb.info.ftps_username)
        with pytest.raises(LoginRefused):
            await client(sb, tmp_path, password="wrong").connect()
        assert sb.ftps.failed_logins == 2


async def test_ftps_connections_come_from_the_shared_budget(tmp_path: Path) -> None:
    async with Sandbox(SandboxOptions(root=tmp_path / "sb")) as sb:
        said: list[str] = []
        budget = ConnectionBudget(sb.info.sftp_host, sb.info.ftps_username, 1, lock_dir=tmp_path / "locks", on_wait=said.append)
        one, two = client(sb, tmp_path, budget=budget), client(sb, tmp_path, budget=budget)
        await one.connect()
        waiting = asyncio.ensure_future(two.connect())
        await asyncio.sleep(0.3)
        assert not waiting.done() and said and "in use" in said[0]
        assert sb.drop_limits.connections.get(sb.info.ftps_username) == 1
        await one.close()
        await asyncio.wait_for(waiting, 5)
        assert two.connected
        await two.close()
        with pytest.raises(DropError):
            await client(sb, tmp_path, budget=budget, password="wrong").connect()
        assert budget.try_acquire() is not None  # a failed connect gives its slot back
