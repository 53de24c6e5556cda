"""fetch_file against an in-process asyncssh server: resume, retry, verify, every bad case."""

from __future__ import annotations

import errno
import hashlib
import io
import json
import os
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import BinaryIO, cast

import pytest

import ettui.drop.localfile as localfile
from ettui.drop.client import DropClient, LocalWriteError, RemoteFileMissing, trust_host_key
from ettui.drop.fetch import fetch_file
from ettui.errors import DropError
from tests.integration.sshd import PASSWORD, USER, InProcessServer, sftp_server

BLOCK = 64 * 1024


def make_zip(size: int, seed: bytes = b"x") -> bytes:
    """A zip whose member is incompressible, so the zip is about ``size`` bytes."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("output.xml", hashlib.shake_256(seed).digest(size))
    return buf.getvalue()


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[InProcessServer]:
    root = tmp_path / "remote"
    root.mkdir()
    async with sftp_server(root) as srv:
        yield srv


class Recorder:
    """A client factory (like ``Session._drop_client``) that records each download's offset."""

    def __init__(self, srv: InProcessServer, tmp_path: Path) -> None:
        kh = tmp_path / "known_hosts"
        trust_host_key(kh, srv.host, srv.port, srv.key_line)
        self.client = DropClient(srv.host, srv.port, USER, password=PASSWORD, known_hosts=kh, block_size=BLOCK, max_requests=4)
        self.offsets: list[int] = []
        real = self.client.download

        async def download(remote_path: str, local_part: Path, *, offset: int = 0, **kw) -> None:  # type: ignore[no-untyped-def]
            self.offsets.append(offset)
            await real(remote_path, local_part, offset=offset, **kw)

        self.client.download = download  # type: ignore[method-assign]

    async def __call__(self) -> DropClient:
        return self.client


class Sleeps:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


def leftovers(dest: Path) -> list[str]:
    return sorted(p.name for p in dest.iterdir()) if dest.exists() else []


async def test_resumes_after_connection_drops_with_equal_sha256(server: InProcessServer, tmp_path: Path) -> None:
    data = make_zip(2 * 1024 * 1024)
    (server.root / "out.zip").write_bytes(data)
    server.faults.drop_after_bytes = 700 * 1024  # every connection breaks after ~700 KiB
    factory, sleeps = Recorder(server, tmp_path), Sleeps()
    dest = tmp_path / "dl"
    progress: list[int] = []
    result = await fetch_file(
        factory, "/out.zip", dest, lock_dir=tmp_path / "locks", progress=lambda p: progress.append(p.done), sleep=sleeps
    )
    assert result.sha256 == hashlib.sha256(data).hexdigest()
    assert result.size == len(data) and result.path == dest / "out.zip"
    assert result.path.read_bytes() == data
    assert server.faults.drops >= 2
    assert factory.offsets[0] == 0 and all(o > 0 for o in factory.offsets[1:])
    assert factory.offsets == sorted(factory.offsets)  # resumed forward, never restarted
    assert leftovers(dest) == ["out.zip"]
    assert progress[-1] == len(data)
    assert server.faults.writes == []
    await factory.client.close()


async def test_restarts_when_remote_file_changed(server: InProcessServer, tmp_path: Path) -> None:
    dest = tmp_path / "dl"
    dest.mkdir()
    old = make_zip(300_000, b"old")
    new = make_zip(400_000, b"new")
    (server.root / "out.zip").write_bytes(new)
    (dest / "out.zip.part").write_bytes(old[:100_000])
    (dest / "out.zip.part.json").write_text(
        json.dumps({"remote_path": "/out.zip", "size": len(old), "mtime": "2020-01-01T00:00:00+00:00"})
    )
    factory = Recorder(server, tmp_path)
    result = await fetch_file(factory, "/out.zip", dest, lock_dir=tmp_path / "locks")
    assert factory.offsets == [0]
    assert result.path.read_bytes() == new
    await factory.client.close()


async def test_vanished_file_is_one_sentence_and_part_kept(server: InProcessServer, tmp_path: Path) -> None:
    dest = tmp_path / "dl"
    dest.mkdir()
    (dest / "gone.zip.part").write_bytes(b"PK partial")
    factory = Recorder(server, tmp_path)
    with pytest.raises(RemoteFileMissing) as info:
        await fetch_file(factory, "/gone.zip", dest, lock_dir=tmp_path / "locks")
    assert "/gone.zip" in info.value.message and "expired" in info.value.message
    assert leftovers(dest) == ["gone.zip.part"]
    await factory.client.close()


async def test_full_disk_keeps_part_then_resumes(server: InProcessServer, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """ENOSPC is injected by replacing the module's local write function (no tmpfs needed)."""
    data = make_zip(1024 * 1024)
    (server.root / "out.zip").write_bytes(data)
    dest = tmp_path / "dl"
    real_write = localfile._write
    written = [0]

    class FullDisk:
        def write(self, data: bytes) -> int:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def write_until_full(local, block, path):  # type: ignore[no-untyped-def]
        if written[0] >= 300 * 1024:
            return real_write(cast(BinaryIO, FullDisk()), block, path)  # the real error mapping runs
        written[0] += len(block)
        real_write(local, block, path)

    monkeypatch.setattr(localfile, "_write", write_until_full)
    factory, sleeps = Recorder(server, tmp_path), Sleeps()
    with pytest.raises(LocalWriteError) as info:
        await fetch_file(factory, "/out.zip", dest, lock_dir=tmp_path / "locks", sleep=sleeps)
    assert "full" in info.value.message and str(dest) in info.value.message
    assert sleeps.delays == []  # a full disk is not retried
    assert leftovers(dest) == ["out.zip.part", "out.zip.part.json"]
    kept = (dest / "out.zip.part").stat().st_size
    assert kept == written[0] and data.startswith((dest / "out.zip.part").read_bytes())

    monkeypatch.setattr(localfile, "_write", real_write)
    result = await fetch_file(factory, "/out.zip", dest, lock_dir=tmp_path / "locks")
    assert factory.offsets[-1] == kept
    assert result.path.read_bytes() == data
    await factory.client.close()


async def test_permission_error_on_destination(server: InProcessServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """As root chmod does not deny anything, so EACCES is injected at os.open for the .part file."""
    (server.root / "out.zip").write_bytes(make_zip(10_000))
    dest = tmp_path / "dl"
    real_open = os.open

    def deny_part(path, flags, mode=0o777, *, dir_fd=None):  # type: ignore[no-untyped-def]
        if str(path).endswith(".part"):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
        return real_open(path, flags, mode, dir_fd=dir_fd)

    monkeypatch.setattr("ettui.drop.localfile.os.open", deny_part)
    factory = Recorder(server, tmp_path)
    with pytest.raises(LocalWriteError) as info:
        await fetch_file(factory, "/out.zip", dest, lock_dir=tmp_path / "locks")
    assert "may not write" in info.value.message and str(dest) in info.value.message
    assert not (dest / "out.zip").exists()
    await factory.client.close()


async def test_truncated_zip_is_set_aside_as_corrupt(server: InProcessServer, tmp_path: Path) -> None:
    data = make_zip(200_000)
    (server.root / "out.zip").write_bytes(data[: len(data) // 2])
    dest = tmp_path / "dl"
    factory = Recorder(server, tmp_path)
    with pytest.raises(DropError) as info:
        await fetch_file(factory, "/out.zip", dest, lock_dir=tmp_path / "locks")
    assert "not a valid zip" in info.value.message and "out.zip.corrupt" in info.value.message
    assert leftovers(dest) == ["out.zip.corrupt"]  # nothing that looks complete
    await factory.client.close()


async def test_bad_resume_is_fetched_again_from_scratch(server: InProcessServer, tmp_path: Path) -> None:
    """A .part whose bytes are wrong but whose sidecar matches: verify fails, one fresh download fixes it."""
    data = make_zip(300_000)
    (server.root / "out.zip").write_bytes(data)
    st = (server.root / "out.zip").stat()
    factory = Recorder(server, tmp_path)
    entry = None
    async with factory.client as c:
        entry = await c.stat("/out.zip")
    dest = tmp_path / "dl"
    dest.mkdir()
    (dest / "out.zip.part").write_bytes(b"\0" * 100_000)
    (dest / "out.zip.part.json").write_text(
        json.dumps({"remote_path": "/out.zip", "size": st.st_size, "mtime": entry.mtime.isoformat()})
    )
    result = await fetch_file(factory, "/out.zip", dest, lock_dir=tmp_path / "locks")
    assert factory.offsets == [100_000, 0]
    assert result.path.read_bytes() == data
    await factory.client.close()


async def test_gives_up_after_retries_with_capped_backoff(server: InProcessServer, tmp_path: Path) -> None:
    (server.root / "out.zip").write_bytes(make_zip(500_000))
    server.faults.drop_after_bytes = 0  # every read breaks the connection: no progress at all
    factory, sleeps = Recorder(server, tmp_path), Sleeps()
    dest = tmp_path / "dl"
    with pytest.raises(DropError) as info:
        await fetch_file(factory, "/out.zip", dest, lock_dir=tmp_path / "locks", retries=4, backoff_cap=3.0, sleep=sleeps)
    assert sleeps.delays == [1.0, 2.0, 3.0, 3.0]
    assert "fetch again to resume" in info.value.message
    assert not (dest / "out.zip").exists()
    await factory.client.close()


async def test_a_cancel_the_transport_loses_or_reports_as_a_break_still_cancels(server: InProcessServer,
                                                                                tmp_path: Path) -> None:
    """Python 3.11's ``wait_for`` hands back the read (or its error), not the cancel, when both come at once.

    A watcher stopped by SIGTERM then kept downloading (retrying "the broken
    connection") after it had said it stopped, and held the file's claim.
    """
    import asyncio

    from ettui.drop.transport import DropConnectionLost

    (server.root / "out.zip").write_bytes(make_zip(2 * 1024 * 1024))
    factory, sleeps = Recorder(server, tmp_path), Sleeps()
    recorded = factory.client.download

    async def cancelled_mid_read(remote_path: str, local_part: Path, **kw) -> None:  # type: ignore[no-untyped-def]
        task = asyncio.current_task()
        assert task is not None
        task.cancel()  # the stop arrives while the reads are in flight
        try:
            await recorded(remote_path, local_part, **kw)  # the client may finish the reads in flight
        except asyncio.CancelledError:
            raise DropConnectionLost("The connection to the drop broke: reset by peer.") from None

    factory.client.download = cancelled_mid_read  # type: ignore[method-assign]
    fetching = asyncio.ensure_future(fetch_file(factory, "/out.zip", tmp_path / "dl", lock_dir=tmp_path / "locks",
                                                sleep=sleeps))
    with pytest.raises(asyncio.CancelledError):
        await fetching
    assert factory.offsets == [0] and sleeps.delays == [], "no retry after the cancel"
    assert not (tmp_path / "dl" / "out.zip").exists()
    await factory.client.close()


async def test_unreachable_at_first_is_not_retried(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sleeps = Sleeps()
    c = DropClient("127.0.0.1", port, USER, password="x", known_hosts=tmp_path / "kh")
    with pytest.raises(DropError):
        await fetch_file(c, "/out.zip", tmp_path / "dl", lock_dir=tmp_path / "locks", sleep=sleeps)
    assert sleeps.delays == []


async def test_a_second_downloader_of_the_same_file_is_refused(server: InProcessServer, tmp_path: Path) -> None:
    """Two ettui processes (or the UI and a CLI) must not interleave writes into one .part."""
    import asyncio

    data = make_zip(256 * 1024)
    (server.root / "out.zip").write_bytes(data)
    first, second = Recorder(server, tmp_path), Recorder(server, tmp_path)
    holding, go_on = asyncio.Event(), asyncio.Event()
    recorded = first.client.download

    async def held(remote_path: str, local_part: Path, **kw) -> None:  # type: ignore[no-untyped-def]
        holding.set()
        await go_on.wait()  # the first download is under way, holding the lock
        await recorded(remote_path, local_part, **kw)

    first.client.download = held  # type: ignore[method-assign]
    locks, dest = tmp_path / "locks", tmp_path / "dl"
    running = asyncio.ensure_future(fetch_file(first, "/out.zip", dest, lock_dir=locks))
    await asyncio.wait_for(holding.wait(), 10)
    with pytest.raises(DropError, match="already downloading out.zip to the same folder"):
        await fetch_file(second, "/out.zip", dest, lock_dir=locks)
    assert second.offsets == [], "refused before touching the .part"
    go_on.set()
    assert (await running).path.read_bytes() == data
    result = await fetch_file(second, "/out.zip", dest, lock_dir=locks)  # released: the next one may start
    assert result.path.read_bytes() == data
    await first.client.close()
    await second.client.close()
