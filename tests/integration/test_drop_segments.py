"""Segmented download against a real OpenSSH sshd: the tail over a second connection in a forked worker.

The thresholds (``MIN_RTT``, ``MIN_BYTES``) are lowered so a small file on
loopback splits; everything else (the fork, the second login, the segment
file, the append through the digest, resume) is the real path.
"""

from __future__ import annotations

import hashlib
import io
import os
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

import ettui.drop.segments as segments
from ettui.drop.client import DropClient, trust_host_key
from ettui.drop.fetch import fetch_file
from ettui.drop.segments import leftover_segments, plan_segments, segment_file
from tests.integration.sshd import OpenSSHServer, openssh_sshd, sshd_unavailable

_why = sshd_unavailable()
pytestmark = [pytest.mark.sshd, pytest.mark.skipif(_why is not None, reason=_why or "")]

SIZE = 6 * 1024 * 1024


@pytest.fixture
async def sshd(tmp_path: Path) -> AsyncIterator[OpenSSHServer]:
    async with openssh_sshd(tmp_path / "sshd") as server:
        yield server


@pytest.fixture(autouse=True)
def split_small_files(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(segments, "MIN_RTT", 0.0)
    monkeypatch.setattr(segments, "MIN_BYTES", 1024 * 1024)
    monkeypatch.setattr(segments, "START_SECONDS", 0.0)
    monkeypatch.setattr(segments, "START_TRIPS", 0)


def _zip_file(path: Path) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        z.writestr("output.xml", os.urandom(SIZE))
    path.write_bytes(buf.getvalue())
    return buf.getvalue()


def _client(server: OpenSSHServer, tmp_path: Path) -> DropClient:
    kh = tmp_path / "known_hosts"
    trust_host_key(kh, server.host, server.port, server.key_line)
    return DropClient(server.host, server.port, server.user, key_file=str(server.user_key), known_hosts=kh, max_segments=2)


async def test_a_split_download_has_the_files_sha256(sshd: OpenSSHServer, tmp_path: Path) -> None:
    data = _zip_file(tmp_path / "drop.zip")
    client = _client(sshd, tmp_path)
    async with client:
        result = await fetch_file(client, str(tmp_path / "drop.zip"), tmp_path / "dl", lock_dir=tmp_path / "locks")
    assert client.last_split is not None and client.last_split[1] == "done"
    assert result.sha256 == hashlib.sha256(data).hexdigest()
    assert (tmp_path / "dl" / "drop.zip").read_bytes() == data
    assert not leftover_segments(tmp_path / "dl" / "drop.zip.part")


async def test_a_broken_split_download_resumes_both_segments(sshd: OpenSSHServer, tmp_path: Path) -> None:
    data = _zip_file(tmp_path / "drop.zip")
    client = _client(sshd, tmp_path)
    async with client:
        entry = await client.stat(str(tmp_path / "drop.zip"))
    # What a break leaves: the sidecar, a head prefix, and a partly written tail segment.
    dest = tmp_path / "dl"
    dest.mkdir(mode=0o700)
    part = dest / "drop.zip.part"
    split = plan_segments(0, len(data), 0.0, {})
    assert split is not None
    part.write_bytes(data[:1000])
    seg = segment_file(part, split.split)
    seg.write_bytes(data[split.split : split.split + 12345])
    (dest / "drop.zip.part.json").write_text(
        '{{"remote_path": "{}", "size": {:d}, "mtime": "{}"}}'.format(tmp_path / "drop.zip", entry.size, entry.mtime.isoformat())
    )
    os.chmod(part, 0o600)
    async with client:
        result = await fetch_file(client, str(tmp_path / "drop.zip"), dest, lock_dir=tmp_path / "locks")
    assert client.last_split == (split.split, "done")
    assert result.sha256 == hashlib.sha256(data).hexdigest()
    assert (dest / "drop.zip").read_bytes() == data
    assert not leftover_segments(part)


async def test_a_fresh_start_discards_old_segments(sshd: OpenSSHServer, tmp_path: Path) -> None:
    data = _zip_file(tmp_path / "drop.zip")
    dest = tmp_path / "dl"
    dest.mkdir(mode=0o700)
    stale = segment_file(dest / "drop.zip.part", 4096)
    stale.write_bytes(b"from another version of the file")
    client = _client(sshd, tmp_path)
    async with client:
        result = await fetch_file(client, str(tmp_path / "drop.zip"), dest, lock_dir=tmp_path / "locks")
    assert result.sha256 == hashlib.sha256(data).hexdigest()
    assert not stale.exists()


async def test_progress_counts_both_streams_and_ends_at_the_size(sshd: OpenSSHServer, tmp_path: Path) -> None:
    data = _zip_file(tmp_path / "drop.zip")
    seen: list[int] = []
    client = _client(sshd, tmp_path)
    async with client:
        await fetch_file(
            client, str(tmp_path / "drop.zip"), tmp_path / "dl", lock_dir=tmp_path / "locks",
            progress=lambda p: seen.append(p.done),
        )
    assert client.last_split is not None
    assert seen and seen[-1] == len(data) and max(seen) == len(data)
