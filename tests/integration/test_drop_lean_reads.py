"""The lean AES-GCM receive path (``_fast_start.lean_reads``) against a real OpenSSH sshd.

It takes channel data off asyncssh's hands and gives everything else back, so
these tests drive the hand-over points: server-initiated rekeys in the middle
of a download, a cipher it does not handle, and a packet corrupted on the way
(the tag check must still fail the connection, and the ``.part`` must stay an
exact prefix that the next attempt resumes).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ettui.drop import _fast_start
from ettui.drop._fast_start import LeanReadStats
from ettui.drop.client import DropClient, trust_host_key
from ettui.drop.fetch import fetch_file
from tests.integration.sshd import OpenSSHServer, openssh_sshd, sshd_unavailable

_why = sshd_unavailable()
pytestmark = [pytest.mark.sshd, pytest.mark.skipif(_why is not None, reason=_why or "")]

SIZE = 12 * 1024 * 1024


def remote_zip(tmp_path: Path) -> Path:
    source = tmp_path / "remote" / "bulkasync_7.zip"
    source.parent.mkdir()
    with zipfile.ZipFile(source, "w", zipfile.ZIP_STORED) as z:
        z.writestr("output.xml", hashlib.shake_256(b"lean").digest(SIZE))
    return source


def stats_of(client: DropClient) -> LeanReadStats:
    conn = client.connection
    assert conn is not None
    stats = conn.get_extra_info("ettui_lean_reads")
    assert isinstance(stats, LeanReadStats)
    return stats


@pytest.mark.parametrize("into", [True, False], ids=["decrypt-into", "decrypt-to-bytes"])
async def test_a_download_across_server_rekeys_is_exact(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, into: bool) -> None:
    """sshd rekeys every 1 MiB it sends: each KEXINIT/NEWKEYS goes to asyncssh, channel data resumes on the new key.

    Both ways of decrypting: into the reused buffer (cryptography >= 47) and to a new ``bytes`` (before).
    """
    if into and not _fast_start._DECRYPT_INTO:
        pytest.skip("this cryptography has no AESGCM.decrypt_into")
    monkeypatch.setattr(_fast_start, "_DECRYPT_INTO", into)
    source = remote_zip(tmp_path)
    async with openssh_sshd(tmp_path / "sshd", log_level="DEBUG1", extra_config=("RekeyLimit 1M",)) as sshd:
        kh = tmp_path / "known_hosts"
        trust_host_key(kh, sshd.host, sshd.port, sshd.key_line)
        client = DropClient(sshd.host, sshd.port, sshd.user, key_file=str(sshd.user_key), known_hosts=kh)
        async with client:
            target = tmp_path / "dl" / "bulkasync_7.zip.part"
            target.parent.mkdir()
            await client.download(str(source), target)
            stats = stats_of(client)
        assert client.last_cipher is not None and client.last_cipher.startswith("aes")
        rekeys = [line for line in sshd.log if "rekeying" in line.lower() or "SSH2_MSG_KEXINIT sent" in line]
    assert target.read_bytes() == source.read_bytes()
    assert len(rekeys) >= 5, sshd.log[-20:]
    assert stats.data_bytes > SIZE // 2  # the fast path carried most of the data ...
    assert stats.handed_back >= 5  # ... and gave every key exchange back


async def test_a_cipher_it_does_not_handle_is_left_to_asyncssh(tmp_path: Path) -> None:
    source = remote_zip(tmp_path)
    async with openssh_sshd(tmp_path / "sshd") as sshd:
        kh = tmp_path / "known_hosts"
        trust_host_key(kh, sshd.host, sshd.port, sshd.key_line)
        client = DropClient(sshd.host, sshd.port, sshd.user, key_file=str(sshd.user_key), known_hosts=kh,
                            encryption_algs=("chacha20-poly1305@openssh.com",))
        async with client:
            target = tmp_path / "out.part"
            await client.download(str(source), target)
            stats = stats_of(client)
    assert client.last_cipher == "chacha20-poly1305@openssh.com"
    assert target.read_bytes() == source.read_bytes()
    assert stats.packets == 0


class BitFlipProxy:
    """A TCP proxy that flips one bit of the server's stream once, ``at`` bytes in (then passes everything)."""

    def __init__(self, upstream_port: int, at: int) -> None:
        self.upstream_port, self.at = upstream_port, at
        self.flipped = 0
        self.port = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> BitFlipProxy:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        down = asyncio.ensure_future(self._pipe(up_reader, writer, corrupt=True))
        up = asyncio.ensure_future(self._pipe(reader, up_writer, corrupt=False))
        self._tasks |= {down, up}
        await asyncio.gather(down, up, return_exceptions=True)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, corrupt: bool) -> None:
        seen = 0
        try:
            while chunk := await reader.read(65536):
                if corrupt and not self.flipped and seen <= self.at < seen + len(chunk):
                    data = bytearray(chunk)
                    data[self.at - seen] ^= 0x10
                    chunk = bytes(data)
                    self.flipped += 1
                seen += len(chunk)
                writer.write(chunk)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()


@pytest.fixture
async def sshd(tmp_path: Path) -> AsyncIterator[OpenSSHServer]:
    async with openssh_sshd(tmp_path / "sshd") as server:
        yield server


async def test_a_corrupted_packet_fails_the_attempt_and_the_retry_resumes_exactly(
    sshd: OpenSSHServer, tmp_path: Path
) -> None:
    """One flipped bit 4 MiB into the stream: the tag check fails it; the .part is an exact prefix; the retry resumes."""
    source = remote_zip(tmp_path)
    async with BitFlipProxy(sshd.port, at=4 * 1024 * 1024) as proxy:
        kh = tmp_path / "known_hosts"
        trust_host_key(kh, sshd.host, proxy.port, sshd.key_line)
        client = DropClient(sshd.host, proxy.port, sshd.user, key_file=str(sshd.user_key), known_hosts=kh,
                            max_requests=4)
        offsets: list[int] = []
        prefixes: list[bool] = []
        real_download = client.download
        part = tmp_path / "dl" / "bulkasync_7.zip.part"

        async def spy(remote_path: str, local_part: Path, *, offset: int = 0, **kw) -> None:  # type: ignore[no-untyped-def]
            offsets.append(offset)
            if offset:
                written = local_part.read_bytes()
                prefixes.append(written == source.read_bytes()[: len(written)])
            await real_download(remote_path, local_part, offset=offset, **kw)

        client.download = spy  # type: ignore[method-assign]
        slept: list[float] = []

        async def no_wait(delay: float) -> None:
            slept.append(delay)

        try:
            result = await fetch_file(client, str(source), tmp_path / "dl", lock_dir=tmp_path / "locks", sleep=no_wait)
        finally:
            await client.close()
    assert proxy.flipped == 1
    assert len(offsets) == 2 and 0 < offsets[1] < SIZE, offsets  # failed part-way, then resumed
    assert prefixes == [True]
    assert not part.exists()
    assert result.sha256 == hashlib.sha256(source.read_bytes()).hexdigest()
    assert result.path.read_bytes() == source.read_bytes()
