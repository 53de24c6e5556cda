"""Drop listings a hostile or unlucky server can send, against the real client on 127.0.0.1."""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

import asyncssh
import pytest

from ettui.drop.client import DropClient, trust_host_key
from ettui.errors import DropError
from ettui.safetext import clean
from tests.hostile.hostile import assert_terminal_safe, run_cli
from tests.integration import sshd as S

EMPTY_ZIP = b"PK\x05\x06" + b"\0" * 18


def _client(srv: S.InProcessServer, tmp_path: Path, **kw: object) -> DropClient:
    kh = tmp_path / "known_hosts"
    trust_host_key(kh, srv.host, srv.port, srv.key_line)
    return DropClient(srv.host, srv.port, S.USER, password=S.PASSWORD, known_hosts=kh, **kw)  # type: ignore[arg-type]


async def test_one_name_that_is_not_utf8_does_not_hide_the_others(tmp_path: Path) -> None:
    root = tmp_path / "remote"
    root.mkdir()
    (root / "10012345_tracking.zip").write_bytes(EMPTY_ZIP)
    (root / os.fsdecode(b"evil\x9b31m\xff.zip")).write_bytes(EMPTY_ZIP)  # a raw C1 CSI byte: not UTF-8
    async with S.sftp_server(root) as srv, _client(srv, tmp_path, stall_timeout=5) as client:
        names = [e.name for e in await client.list("/")]
    assert "10012345_tracking.zip" in names
    assert len(names) == 2


def test_drop_ls_on_the_sandbox_with_a_name_that_is_not_utf8(tmp_path: Path) -> None:
    home = tmp_path / "home"
    drop = home / "state" / "sandbox" / "drop"
    drop.mkdir(parents=True)
    (drop / "ok.zip").write_bytes(EMPTY_ZIP)
    (drop / os.fsdecode(b"a\x9bb\x1b]52;c;eA==\x07.zip")).write_bytes(EMPTY_ZIP)
    done = run_cli(["drop", "ls"], home)
    assert_terminal_safe(done.stdout + done.stderr, "drop ls")
    assert done.returncode == 0, done.stderr
    shown = done.stdout.decode()
    assert "ok.zip" in shown
    assert clean("a\udc9bb\x1b]52;c;eA==\x07.zip") in shown


class _Endless(S.FaultySFTPServer):
    """Answers every READDIR at once, forever: the directory never ends."""

    async def scandir(self, path: bytes) -> AsyncIterator[asyncssh.SFTPName]:  # type: ignore[override]
        attrs = asyncssh.SFTPAttrs(size=22, mtime=int(time.time()), permissions=0o100644)
        i = 0
        while True:
            i += 1
            yield asyncssh.SFTPName(f"f{i:012d}.zip".encode(), b"-rw-r--r-- 1 a a 22 Jan 1 00:00 f", attrs)


async def test_an_endless_listing_is_cut_short_and_said_truthfully(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(S.FaultySFTPServer, "scandir", _Endless.scandir)
    root = tmp_path / "remote"
    root.mkdir()
    async with S.sftp_server(root) as srv, _client(srv, tmp_path, stall_timeout=8) as client:
        with pytest.raises(DropError) as info:
            await client.list("/")
    # Cut short by the name cap (not by the stall timeout, and not by running out of memory), and said so.
    assert "sent nothing" not in info.value.message, info.value.message
    assert "more than 100,000 entries" in info.value.message


async def test_a_planted_sidecar_of_deep_json_only_restarts_the_download(tmp_path: Path) -> None:
    from ettui.drop.fetch import fetch_file

    root = tmp_path / "remote"
    root.mkdir()
    (root / "out.zip").write_bytes(EMPTY_ZIP)
    dest = tmp_path / "downloads"
    dest.mkdir(mode=0o700)
    (dest / "out.zip.part").write_bytes(b"PK")
    (dest / "out.zip.part.json").write_text("[" * 60_000)
    async with S.sftp_server(root) as srv, _client(srv, tmp_path, stall_timeout=5) as client:
        result = await fetch_file(client, "/out.zip", dest, lock_dir=tmp_path / "locks")
    assert result.path.read_bytes() == EMPTY_ZIP
