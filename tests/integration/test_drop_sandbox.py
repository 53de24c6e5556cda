"""The drop client against the sandbox's own SFTP server (the default run's path)."""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import pytest

from ettui.drop.client import DropClient, RemoteFileMissing, trust_host_key
from ettui.drop.extract import extract_zip
from ettui.drop.fetch import fetch_file
from ettui.errors import HostKeyUnknown
from ettui.sandbox import Sandbox, SandboxOptions


def output_zip(size: int) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("bulkasync_42.xml", b"<Root>" + hashlib.shake_256(b"sandbox").hexdigest(size // 2).encode() + b"</Root>")
    return buf.getvalue()


async def test_trust_list_fetch_resume_extract(tmp_path: Path) -> None:
    async with Sandbox(SandboxOptions(root=tmp_path / "sb")) as sb:
        info = sb.info
        data = output_zip(3 * 1024 * 1024)
        sb.drop_dir.mkdir(parents=True, exist_ok=True)
        (sb.drop_dir / "bulkasync_42.zip").write_bytes(data)

        kh = tmp_path / "known_hosts"

        def make() -> DropClient:
            return DropClient(
                info.sftp_host, info.sftp_port, info.sftp_username,
                password=info.sftp_password, known_hosts=kh, max_requests=4,
            )

        with pytest.raises(HostKeyUnknown) as unknown:
            await make().connect()
        assert unknown.value.fingerprint == info.host_key_fingerprint
        trust_host_key(kh, unknown.value.host, unknown.value.port, unknown.value.key_line)

        client = make()
        try:
            await client.connect()
            listed = {e.name: e for e in await client.list("/")}
            assert listed["bulkasync_42.zip"].size == len(data)
            with pytest.raises(RemoteFileMissing):
                await client.stat("/bulkasync_missing.zip")

            sb.faults.sftp_drop_after_bytes = 1024 * 1024  # the sandbox breaks the transfer once
            sb.faults.sftp_drop_once = True
            delays: list[float] = []

            async def no_wait(delay: float) -> None:
                delays.append(delay)

            result = await fetch_file(client, "/bulkasync_42.zip", tmp_path / "dl", sleep=no_wait)
        finally:
            await client.close()
        assert delays == [1.0]
        assert result.sha256 == hashlib.sha256(data).hexdigest()
        files = extract_zip(result.path, tmp_path / "dl" / "bulkasync_42")
        assert [f.name for f in files] == ["bulkasync_42.xml"]
