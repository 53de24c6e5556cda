"""The drop transports against the sandbox's own servers (the default run's path): one suite, SFTP and FTPS."""

from __future__ import annotations

import ftplib
import hashlib
import io
import ssl
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from ettui.drop.certs import trust_cert
from ettui.drop.client import DropClient, trust_host_key
from ettui.drop.extract import extract_zip
from ettui.drop.fetch import fetch_file
from ettui.drop.ftps import FtpsClient
from ettui.drop.transport import DropTransport, RemoteFileMissing
from ettui.errors import DropError, ServerIdentityUnknown
from ettui.sandbox import Sandbox, SandboxInfo, SandboxOptions

TRANSPORTS = ["sftp", "ftps"]


def output_zip(size: int) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("bulkasync_42.xml", b"<Root>" + hashlib.shake_256(b"sandbox").hexdigest(size // 2).encode() + b"</Root>")
    return buf.getvalue()


def maker(kind: str, info: SandboxInfo, tmp_path: Path, **kw: object) -> Callable[[], DropTransport]:
    """A factory for an untrusting client of ``kind`` (nothing pinned, empty trust files)."""
    if kind == "sftp":
        return lambda: DropClient(
            info.sftp_host, info.sftp_port, info.sftp_username,
            password=str(kw.get("password", info.sftp_password)), known_hosts=tmp_path / "known_hosts", max_requests=4,
        )
    return lambda: FtpsClient(
        info.sftp_host, info.ftps_port, info.ftps_username,
        password=str(kw.get("password", info.ftps_password)), known_certs=tmp_path / "known_certs",
    )


def trust(kind: str, error: ServerIdentityUnknown, tmp_path: Path) -> None:
    if kind == "sftp":
        trust_host_key(tmp_path / "known_hosts", error.host, error.port, error.save_line)
    else:
        trust_cert(tmp_path / "known_certs", error.host, error.port, error.fingerprint)


@pytest.mark.parametrize("kind", TRANSPORTS)
async def test_trust_list_fetch_resume_extract(kind: str, tmp_path: Path) -> None:
    async with Sandbox(SandboxOptions(root=tmp_path / "sb")) as sb:
        info = sb.info
        data = output_zip(3 * 1024 * 1024)
        sb.drop_dir.mkdir(parents=True, exist_ok=True)
        (sb.drop_dir / "bulkasync_42.zip").write_bytes(data)
        (sb.drop_dir / info.member_id).mkdir()
        (sb.drop_dir / info.member_id / "bulkasync_43.zip").write_bytes(output_zip(1024))
        make = maker(kind, info, tmp_path)

        with pytest.raises(ServerIdentityUnknown) as unknown:
            await make().connect()
        want = info.host_key_fingerprint if kind == "sftp" else info.ftps_cert_fingerprint
        assert unknown.value.fingerprint == want
        trust(kind, unknown.value, tmp_path)

        client = make()
        try:
            await client.connect()
            listed = {e.name: e for e in await client.list("/")}
            assert listed["bulkasync_42.zip"].size == len(data) and not listed["bulkasync_42.zip"].is_dir
            assert listed[info.member_id].is_dir
            (sub,) = await client.list(f"/{info.member_id}")
            assert sub.path == f"/{info.member_id}/bulkasync_43.zip"
            assert (await client.stat("/bulkasync_42.zip")).mtime == listed["bulkasync_42.zip"].mtime
            with pytest.raises(RemoteFileMissing):
                await client.stat("/bulkasync_missing.zip")
            with pytest.raises(RemoteFileMissing):
                await client.list("/no-such-folder")

            sb.faults.sftp_drop_after_bytes = 1024 * 1024  # the sandbox breaks the transfer once
            sb.faults.sftp_drop_once = True
            delays: list[float] = []

            async def no_wait(delay: float) -> None:
                delays.append(delay)

            result = await fetch_file(client, "/bulkasync_42.zip", tmp_path / "dl", lock_dir=tmp_path / "locks", sleep=no_wait)
        finally:
            await client.close()
        assert delays == [1.0]
        assert result.sha256 == hashlib.sha256(data).hexdigest()
        files = extract_zip(result.path, tmp_path / "dl" / "bulkasync_42")
        assert [f.name for f in files] == ["bulkasync_42.xml"]


@pytest.mark.parametrize("kind", TRANSPORTS)
async def test_wrong_password_is_one_clear_permanent_error(kind: str, tmp_path: Path) -> None:
    async with Sandbox(SandboxOptions(root=tmp_path / "sb")) as sb:
        (sb.drop_dir / "bulkasync_42.zip").write_bytes(output_zip(1024))
        make = maker(kind, sb.info, tmp_path)
        with pytest.raises(ServerIdentityUnknown) as unknown:
            await make().connect()
        trust(kind, unknown.value, tmp_path)
        client = maker(kind, sb.info, tmp_path, password="wrong")()
        with pytest.raises(DropError) as caught:
            await fetch_file(client, "/bulkasync_42.zip", tmp_path / "dl", lock_dir=tmp_path / "locks")
        assert "refused the login" in caught.value.message
        assert not client.is_transient(caught.value)
        if kind == "ftps":
            assert sb.ftps is not None and sb.ftps.failed_logins == 1


async def test_sandbox_ftps_refuses_data_connections_without_session_reuse(tmp_path: Path) -> None:
    async with Sandbox(SandboxOptions(root=tmp_path / "sb")) as sb:
        info = sb.info
        ctx = ssl.create_default_context(cafile=str(sb.root / "ftps_cert.pem"))

        def stock_ftplib() -> str:
            ftp = ftplib.FTP_TLS(context=ctx, timeout=10)
            ftp.connect(info.sftp_host, info.ftps_port)
            ftp.login(info.ftps_username, info.ftps_password)
            ftp.prot_p()
            try:
                ftp.nlst("/")
            except (ftplib.error_perm, ftplib.error_temp, OSError) as exc:
                return str(exc)
            finally:
                ftp.close()
            return "listed"

        import asyncio

        answer = await asyncio.to_thread(stock_ftplib)
        assert sb.ftps is not None and sb.ftps.reuse_refusals == 1, answer


async def test_a_sandbox_profile_fetches_over_either_protocol(tmp_path: Path) -> None:
    """Session + open_transport: the same profile, drop_protocol switched."""
    import dataclasses

    from ettui.config import Config, sandbox_profile
    from ettui.session import Session

    for kind in TRANSPORTS:
        profile = dataclasses.replace(sandbox_profile(), drop_protocol=kind)
        config = Config(path=tmp_path / "none.toml", exists=False, default_profile="sandbox", profiles={"sandbox": profile})
        session = await Session.open(
            config, "sandbox", sandbox_options=SandboxOptions(root=tmp_path / f"sb-{kind}"), start_poller=False,
            store_path=tmp_path / f"jobs-{kind}.db",
        )
        try:
            assert session.sandbox is not None
            (session.sandbox.drop_dir / "bulkasync_7.zip").write_bytes(output_zip(2048))
            files = await session.drop_files()
            assert [f.path for f in files if f.listed] == ["/bulkasync_7.zip"]
            outcome = await session.fetch("bulkasync_7.zip", dest=tmp_path / f"dl-{kind}", extract=False)
            assert outcome.size == (session.sandbox.drop_dir / "bulkasync_7.zip").stat().st_size
            assert type(session.drop.transport).__name__ == ("DropClient" if kind == "sftp" else "FtpsClient")
        finally:
            await session.close()
