"""A stalled server is a dead connection (issue 9, item 3) and local files are created safely (item 4)."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from collections.abc import AsyncIterator
from datetime import UTC
from pathlib import Path

import pytest

from ettui.drop.client import DropClient, DropStalled, trust_host_key
from ettui.drop.fetch import fetch_file
from ettui.errors import DropError, ExitCode
from tests.integration.sshd import PASSWORD, USER, InProcessServer, sftp_server
from tests.integration.test_drop_fetch import Recorder, Sleeps, leftovers, make_zip


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[InProcessServer]:
    root = tmp_path / "remote"
    root.mkdir()
    async with sftp_server(root) as srv:
        yield srv


def stalling_client(srv: InProcessServer, tmp_path: Path) -> Recorder:
    factory = Recorder(srv, tmp_path)
    factory.client.stall_timeout = 0.5
    return factory


async def test_a_stalled_read_reconnects_and_resumes_from_the_part(server: InProcessServer, tmp_path: Path) -> None:
    data = make_zip(1024 * 1024)
    (server.root / "out.zip").write_bytes(data)
    server.faults.stall_after_bytes = 300 * 1024
    server.faults.max_stalls = 1
    factory, sleeps = stalling_client(server, tmp_path), Sleeps()
    result = await fetch_file(factory, "/out.zip", tmp_path / "dl", lock_dir=tmp_path / "locks", sleep=sleeps)
    assert server.faults.stalls == 1
    assert result.sha256 == hashlib.sha256(data).hexdigest()
    assert len(factory.offsets) == 2 and 0 < factory.offsets[1] <= 300 * 1024  # resumed, not restarted
    assert leftovers(tmp_path / "dl") == ["out.zip"]
    await factory.client.close()


async def test_a_server_that_always_stalls_is_one_sentence_and_the_part_is_kept(server: InProcessServer, tmp_path: Path) -> None:
    data = make_zip(1024 * 1024)
    (server.root / "out.zip").write_bytes(data)
    server.faults.stall_at_offset = 200 * 1024
    factory, sleeps = stalling_client(server, tmp_path), Sleeps()
    dest = tmp_path / "dl"
    with pytest.raises(DropError) as info:
        await fetch_file(factory, "/out.zip", dest, lock_dir=tmp_path / "locks", retries=2, sleep=sleeps)
    assert not isinstance(info.value, DropStalled)  # the retries' own sentence, not the last break
    assert info.value.exit_code == ExitCode.DROP
    assert "sent nothing for 0.5 s" in info.value.message and "fetch again to resume" in info.value.message
    assert "\n" not in info.value.message
    assert leftovers(dest) == ["out.zip.part", "out.zip.part.json"]
    assert data.startswith((dest / "out.zip.part").read_bytes())
    await factory.client.close()


async def test_planted_links_are_never_written_through(server: InProcessServer, tmp_path: Path) -> None:
    data = make_zip(200_000)
    (server.root / "out.zip").write_bytes(data)
    dest = tmp_path / "shared"
    dest.mkdir()
    victim_part, victim_tmp, victim_json = tmp_path / "victim1", tmp_path / "victim2", tmp_path / "victim3"
    for victim in (victim_part, victim_tmp, victim_json):
        victim.write_bytes(b"precious")
    (dest / "out.zip.part").symlink_to(victim_part)
    (dest / "out.zip.part.json.tmp").symlink_to(victim_tmp)
    (dest / "out.zip.part.json").symlink_to(victim_json)
    factory = Recorder(server, tmp_path)
    result = await fetch_file(factory, "/out.zip", dest, lock_dir=tmp_path / "locks")
    assert result.path.read_bytes() == data
    assert factory.offsets == [0]
    for victim in (victim_part, victim_tmp, victim_json):
        assert victim.read_bytes() == b"precious"
    assert not (dest / "out.zip").is_symlink()
    await factory.client.close()


async def test_a_planted_hard_link_part_is_not_resumed(server: InProcessServer, tmp_path: Path) -> None:
    data = make_zip(200_000)
    (server.root / "out.zip").write_bytes(data)
    dest = tmp_path / "shared"
    dest.mkdir()
    victim = tmp_path / "victim"
    victim.write_bytes(data[:1000])
    os.link(victim, dest / "out.zip.part")
    entry_mtime = (server.root / "out.zip").stat().st_mtime
    factory = Recorder(server, tmp_path)
    sidecar = {"remote_path": "/out.zip", "size": len(data), "mtime": _iso(entry_mtime)}
    (dest / "out.zip.part.json").write_text(json.dumps(sidecar))
    await fetch_file(factory, "/out.zip", dest, lock_dir=tmp_path / "locks")
    assert factory.offsets == [0]
    assert victim.read_bytes() == data[:1000]
    await factory.client.close()


def _iso(mtime: float) -> str:
    from datetime import datetime

    return datetime.fromtimestamp(int(mtime), tz=UTC).isoformat()


async def test_modes_folder_0700_download_and_part_0600(server: InProcessServer, tmp_path: Path) -> None:
    data = make_zip(300_000)
    (server.root / "out.zip").write_bytes(data)
    server.faults.drop_after_bytes = 100 * 1024
    server.faults.max_drops = 1
    dest = tmp_path / "new" / "downloads"
    factory, sleeps = Recorder(server, tmp_path), Sleeps()
    seen_part_modes: list[int] = []
    real = factory.client.download

    async def spy(remote_path: str, local_part: Path, **kw: object) -> None:
        try:
            await real(remote_path, local_part, **kw)  # type: ignore[arg-type]
        finally:
            seen_part_modes.append(stat.S_IMODE(local_part.stat().st_mode))
            seen_part_modes.append(stat.S_IMODE((local_part.parent / (local_part.name + ".json")).stat().st_mode))

    factory.client.download = spy  # type: ignore[method-assign]
    result = await fetch_file(factory, "/out.zip", dest, lock_dir=tmp_path / "locks", sleep=sleeps)
    assert stat.S_IMODE(dest.stat().st_mode) == 0o700
    assert stat.S_IMODE(dest.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(result.path.stat().st_mode) == 0o600
    assert seen_part_modes and all(m == 0o600 for m in seen_part_modes)
    await factory.client.close()


async def test_extracted_files_are_0600(tmp_path: Path) -> None:
    from ettui.drop.extract import extract_zip

    z = tmp_path / "x.zip"
    z.write_bytes(make_zip(10_000))
    files = extract_zip(z, tmp_path / "x")
    assert files and all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in files)


async def test_an_existing_folder_keeps_its_mode(server: InProcessServer, tmp_path: Path) -> None:
    (server.root / "out.zip").write_bytes(make_zip(10_000))
    dest = tmp_path / "mine"
    dest.mkdir(mode=0o755)
    os.chmod(dest, 0o755)
    factory = Recorder(server, tmp_path)
    await fetch_file(factory, "/out.zip", dest, lock_dir=tmp_path / "locks")
    assert stat.S_IMODE(dest.stat().st_mode) == 0o755
    await factory.client.close()


_ = (DropClient, trust_host_key, PASSWORD, USER)
