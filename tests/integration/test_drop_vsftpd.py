"""The FTPS drop client against a real vsftpd that enforces TLS session reuse."""

from __future__ import annotations

import hashlib
import os
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

import ettui.drop.localfile as localfile
from ettui.drop.certs import trust_cert
from ettui.drop.fetch import fetch_file
from ettui.drop.ftps import FtpsClient
from ettui.drop.transport import DropTransport, LoginRefused, RemoteFileMissing
from ettui.errors import CertificateChanged, CertificateUnknown, DropError
from tests.integration.vsftpd import VsftpdServer, make_cert, vsftpd_server, vsftpd_unavailable

_why = vsftpd_unavailable()
pytestmark = [pytest.mark.vsftpd, pytest.mark.skipif(_why is not None, reason=_why or "")]

NAME = "bulkasync_10012345_20260301120000000_1.zip"


def write_zip(path: Path, records: int = 2000, *, noise: int = 0) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        body = "".join(f"<record><EmailAddress>u{i}@example.org</EmailAddress></record>" for i in range(records))
        zf.writestr(path.name.replace(".zip", ".xml"), f"<exacttarget><tracking>{body}</tracking></exacttarget>")
        if noise:
            zf.writestr("noise.bin", os.urandom(noise), compress_type=zipfile.ZIP_STORED)


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[VsftpdServer]:
    drop = tmp_path / "drop"
    drop.mkdir()
    write_zip(drop / NAME)
    (drop / "10012345").mkdir()
    write_zip(drop / "10012345" / "bulkasync_10012345_20260301130000000_2.zip")
    async with vsftpd_server(tmp_path / "vsftpd", drop) as srv:
        yield srv


def client_for(server: VsftpdServer, tmp_path: Path, **kw: object) -> FtpsClient:
    options: dict[str, object] = {"password": server.password, "known_certs": tmp_path / "known_certs"}
    options.update(kw)
    return FtpsClient(server.host, server.port, server.user, **options)  # type: ignore[arg-type]


async def test_pinned_client_lists_stats_and_satisfies_the_interface(server: VsftpdServer, tmp_path: Path) -> None:
    async with client_for(server, tmp_path, pinned=server.fingerprint) as client:
        assert isinstance(client, DropTransport)
        entries = await client.list("/")
        by_name = {e.name: e for e in entries}
        assert set(by_name) == {NAME, "10012345"}
        assert by_name["10012345"].is_dir and not by_name[NAME].is_dir
        assert by_name[NAME].size == (server.drop / NAME).stat().st_size
        assert int(by_name[NAME].mtime.timestamp()) == int((server.drop / NAME).stat().st_mtime)
        (sub,) = await client.list("/10012345")
        assert sub.path == "/10012345/bulkasync_10012345_20260301130000000_2.zip"
        assert (await client.stat("/" + NAME)).size == by_name[NAME].size
        with pytest.raises(RemoteFileMissing):
            await client.stat("/gone.zip")
        with pytest.raises(RemoteFileMissing):
            await client.list("/no-such-folder")
    log = server.log_text()
    assert "AUTH TLS" in log and "PROT P" in log and "EPSV" in log
    assert "session reuse required" not in log
    # debug_ssl: both LIST data connections resumed the control connection's session.
    assert log.count(", reused, ") == 2, log


async def test_fetch_verifies_and_matches_sha256(server: VsftpdServer, tmp_path: Path) -> None:
    client = client_for(server, tmp_path, pinned=server.fingerprint)
    try:
        result = await fetch_file(client, "/" + NAME, tmp_path / "dl", lock_dir=tmp_path / "locks")
    finally:
        await client.close()
    assert result.sha256 == hashlib.sha256((server.drop / NAME).read_bytes()).hexdigest()
    assert result.path.read_bytes() == (server.drop / NAME).read_bytes()
    assert not (tmp_path / "dl" / f"{NAME}.part").exists()


async def test_resume_after_server_killed_mid_transfer_uses_rest(
    server: VsftpdServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    big = server.drop / "big_1.zip"
    write_zip(big, 100, noise=48 * 1024 * 1024)
    real_write = localfile._write
    written = {"bytes": 0}

    def write_then_kill(local, data, path):  # type: ignore[no-untyped-def]
        real_write(local, data, path)
        written["bytes"] += len(data)
        if written["bytes"] >= 1024 * 1024 and server.proc is not None:
            server.kill()  # the listener and the session process: the transfer is cut

    monkeypatch.setattr(localfile, "_write", write_then_kill)
    restarts: list[float] = []

    async def restart(seconds: float) -> None:
        restarts.append(seconds)
        monkeypatch.setattr(localfile, "_write", real_write)
        await server.start()  # same port, same log

    client = client_for(server, tmp_path, pinned=server.fingerprint)
    try:
        result = await fetch_file(client, "/big_1.zip", tmp_path / "dl", lock_dir=tmp_path / "locks", sleep=restart)
    finally:
        await client.close()
    assert restarts, "the cut transfer should have been retried"
    assert result.sha256 == hashlib.sha256(big.read_bytes()).hexdigest()
    rests = [int(line.rsplit("REST ", 1)[1].split('"')[0]) for line in server.log_text().splitlines() if '"REST ' in line]
    assert rests and rests[-1] >= 1024 * 1024, rests


async def test_unknown_self_signed_cert_is_refused_with_its_fingerprint(server: VsftpdServer, tmp_path: Path) -> None:
    client = client_for(server, tmp_path)
    with pytest.raises(CertificateUnknown) as caught:
        await client.connect()
    err = caught.value
    assert err.fingerprint == server.fingerprint and server.fingerprint in err.message
    assert any(line.startswith("Subject: CN=ettui-test-server") for line in err.description)
    assert "USER" not in server.log_text().split("AUTH TLS")[-1], "no login before the certificate is trusted"
    client.accept_fingerprint = err.fingerprint
    await client.connect()
    assert [e.name for e in await client.list("/")]
    await client.close()


async def test_remembered_cert_and_ca_file_are_trusted(server: VsftpdServer, tmp_path: Path) -> None:
    trust_cert(tmp_path / "known_certs", server.host, server.port, server.fingerprint)
    async with client_for(server, tmp_path) as client:
        assert await client.list("/")
    # The self-signed certificate as its own CA: verified, host name (IP SAN) checked.
    async with client_for(server, tmp_path, known_certs=tmp_path / "none", ca_file=str(server.cert)) as client:
        assert await client.list("/")


async def test_changed_cert_is_a_hard_error(server: VsftpdServer, tmp_path: Path) -> None:
    _, _, other = make_cert(tmp_path / "other", "other")
    with pytest.raises(CertificateChanged):
        await client_for(server, tmp_path, pinned=other).connect()
    trust_cert(tmp_path / "known_certs", server.host, server.port, other)
    client = client_for(server, tmp_path, accept_fingerprint=server.fingerprint)
    with pytest.raises(CertificateChanged):
        await client.connect()  # a remembered certificate that changed is never accepted


async def test_wrong_password_is_tried_once(server: VsftpdServer, tmp_path: Path) -> None:
    client = client_for(server, tmp_path, pinned=server.fingerprint, password="wrong")
    with pytest.raises(DropError) as caught:
        await fetch_file(client, "/" + NAME, tmp_path / "dl", lock_dir=tmp_path / "locks")
    assert "refused the login" in caught.value.message and "wrong" not in caught.value.message
    assert not client.is_transient(caught.value)
    assert isinstance(caught.value, LoginRefused) and "30 minutes" in caught.value.message
    with pytest.raises(DropError):
        await client.connect()
    with pytest.raises(LoginRefused):  # a new client (a reconnect, the next command of a session) does not try either
        await client_for(server, tmp_path, pinned=server.fingerprint, password="wrong").connect()
    assert server.log_text().count("FAIL LOGIN") == 1
