"""The vendor's drop limits against a real OpenSSH sshd, through the whole ``ettui fetch`` command.

A wrong password costs one failed login per command; 12 concurrent fetches
never hold more than ``sftp_max_connections`` (10) connections, counted in
sshd's own log; a server dying mid-download gives one sentence on stderr and
nothing else, and the next fetch resumes.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import sys
import zipfile
from pathlib import Path

import pytest

from ettui.drop.client import trust_host_key
from tests.integration.sshd import OpenSSHServer, openssh_sshd, sshd_unavailable

_why = sshd_unavailable()
pytestmark = [pytest.mark.sshd, pytest.mark.skipif(_why is not None, reason=_why or "")]


def env_for(home: Path) -> dict[str, str]:
    return {**os.environ, "ETTUI_HOME": str(home), "ET_UNUSED_PW": "unused", "ET_SFTP_PW": "certainly-not-it"}


async def start(*args: str, home: Path) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "ettui", *args, env=env_for(home),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )


async def ettui(*args: str, home: Path) -> tuple[int, str, str]:
    proc = await start(*args, home=home)
    out, err = await asyncio.wait_for(proc.communicate(), 180)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def write_config(server: OpenSSHServer, drop: Path, tmp_path: Path, *, password: bool = False, extra: str = "") -> Path:
    kh = tmp_path / "known_hosts"
    trust_host_key(kh, server.host, server.port, server.key_line)
    login = 'sftp_password_env = "ET_SFTP_PW"' if password else f'sftp_key_file = "{server.user_key}"'
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        "\n".join(
            [
                'default_profile = "acct"',
                "[profiles.acct]",
                'endpoint = "http://127.0.0.1:9/integrate.aspx"',
                'api_username = "unused"',
                'api_password_env = "ET_UNUSED_PW"',
                f'sftp_host = "{server.host}"',
                f"sftp_port = {server.port}",
                f'sftp_username = "{server.user}"',
                login,
                f'known_hosts = "{kh}"',
                f'drop_folder = "{drop}"',
                'export_folder = ""',
                extra,
                "",
            ]
        )
    )
    cfg.chmod(0o600)
    return cfg


def make_drop_zip(path: Path, size: int) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        z.writestr("output.xml", hashlib.shake_256(path.name.encode()).digest(size))
    return path.read_bytes()


def most_open_at_once(log: list[str]) -> int:
    """Connections sshd held at once, from its VERBOSE log: opened on accept, gone at its close line."""
    open_ports: set[str] = set()
    most = 0
    for line in log:
        if m := re.search(r"Connection from \S+ port (\d+)", line):
            open_ports.add(m.group(1))
            most = max(most, len(open_ports))
        elif m := re.search(
            r"(?:Connection closed by|Disconnected from|Received disconnect from|Connection reset by)\b.*? port (\d+)", line
        ):
            open_ports.discard(m.group(1))
    return most


async def test_a_wrong_password_costs_exactly_one_failed_login_per_command(tmp_path: Path) -> None:
    drop = tmp_path / "drop"
    make_drop_zip(drop / "out.zip", 1000)
    async with openssh_sshd(tmp_path / "sshd", log_level="VERBOSE") as server:
        cfg = write_config(server, drop, tmp_path, password=True)
        home = tmp_path / "home"
        for attempt in (1, 2):
            code, out, err = await ettui("--config", str(cfg), "fetch", "out.zip", "--dest", str(tmp_path / "dl"), home=home)
            assert code == 6 and out == ""
            assert err.count("\n") == 1 and "refused the login" in err and "30 minutes" in err, err
            await asyncio.sleep(0.2)  # let sshd's child flush its last log line (not a timing assertion)
            failed = [line for line in server.log if "Failed password" in line]
            assert len(failed) == attempt, server.log


async def test_twelve_concurrent_fetches_hold_at_most_ten_connections(tmp_path: Path) -> None:
    drop = tmp_path / "drop"
    files = {f"out{i:02d}.zip": make_drop_zip(drop / f"out{i:02d}.zip", 3 * 1024 * 1024) for i in range(12)}
    async with openssh_sshd(tmp_path / "sshd", log_level="VERBOSE") as server:
        cfg = write_config(server, drop, tmp_path, extra="sftp_max_connections = 10")
        home = tmp_path / "home"
        procs = [
            await start("--config", str(cfg), "fetch", name, "--no-extract", "--dest", str(tmp_path / "dl" / name), home=home)
            for name in files
        ]
        results = await asyncio.wait_for(asyncio.gather(*(p.communicate() for p in procs)), 300)
        for proc, (_name, data), (out, err) in zip(procs, files.items(), results, strict=True):
            assert proc.returncode == 0, err.decode()
            assert hashlib.sha256(data).hexdigest() in out.decode()
            assert all("waiting for one to be free" in line for line in err.decode().splitlines()), err.decode()
        accepted = sum("Connection from" in line for line in server.log)
        assert accepted == 12
        most = most_open_at_once(server.log)
        print("most connections at once:", most, "waited:", sum(b"waiting" in e for _, e in results))
        assert most <= 10


async def test_a_server_dying_mid_download_is_one_sentence_then_the_next_fetch_resumes(tmp_path: Path) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()
    data = hashlib.shake_256(b"big").digest(96 * 1024 * 1024)
    (drop / "big.bin").write_bytes(data)  # not a zip: no CRC check, so a resumed prefix is visible as is
    dest = tmp_path / "dl"
    part = dest / "big.bin.part"
    async with openssh_sshd(tmp_path / "sshd") as server:
        cfg = write_config(server, drop, tmp_path)
        home = tmp_path / "home"
        proc = await start("--config", str(cfg), "fetch", "big.bin", "--no-extract", "--retries", "1", "--dest", str(dest),
                           home=home)
        while not (part.exists() and part.stat().st_size > 4 * 1024 * 1024):
            assert proc.returncode is None
            await asyncio.sleep(0.01)
        server.kill()
        out, err = await asyncio.wait_for(proc.communicate(), 120)
        assert proc.returncode == 6 and out == b""
        lines = err.decode().splitlines()
        assert len(lines) == 1 and lines[0].startswith("ettui: Downloading big.bin failed"), lines
        assert "fetch again to resume" in lines[0]
        kept = part.stat().st_size
        assert 0 < kept < len(data)
        # Mark the kept prefix: if the next fetch resumes, the mark survives (it never re-reads those bytes).
        with open(part, "r+b") as f:
            f.seek(1000)
            f.write(b"RESUMED")
        expected = data[:1000] + b"RESUMED" + data[1007:]

        await server.stop()
        await server.start()
        code, out_text, err_text = await ettui("--config", str(cfg), "fetch", "big.bin", "--no-extract", "--dest", str(dest),
                                               home=home)
        assert code == 0 and err_text == "", err_text
        assert (dest / "big.bin").read_bytes() == expected
        # The sha256 printed was computed while writing: prefix hashed once from the .part, then the rest.
        assert hashlib.sha256(expected).hexdigest() in out_text
