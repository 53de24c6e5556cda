"""A ``.part.json`` sidecar replaced by a FIFO (a shared download folder) hangs the fetch, loop and all.

``_read_sidecar`` opens it with ``O_RDONLY | O_NOFOLLOW``: on a FIFO with no
writer that ``open`` never returns, on the event loop, so no deadline fires
(``asyncio.wait_for(..., 5)`` waited until the process was killed). It is only
read when a ``.part`` of ours is there: after any interrupted download.

Run in a child process so a hang fails this test instead of the suite.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SCRIPT = textwrap.dedent("""
    import asyncio, os, sys
    from pathlib import Path
    from tests.integration import sshd as S
    from ettui.drop.client import DropClient, trust_host_key
    from ettui.drop.fetch import fetch_file

    async def main() -> None:
        base = Path(sys.argv[1])
        root, dest = base / "remote", base / "downloads"
        root.mkdir(); dest.mkdir(mode=0o700)
        (root / "out.zip").write_bytes(b"PK\\x05\\x06" + b"\\0" * 18)
        (dest / "out.zip.part").write_bytes(b"PK")   # ours, left by an interrupted download
        os.mkfifo(dest / "out.zip.part.json")       # planted in its sidecar's place
        async with S.sftp_server(root) as srv:
            kh = base / "known_hosts"
            trust_host_key(kh, srv.host, srv.port, srv.key_line)
            async with DropClient(srv.host, srv.port, S.USER, password=S.PASSWORD, known_hosts=kh, stall_timeout=3) as c:
                result = await asyncio.wait_for(fetch_file(c, "/out.zip", dest, lock_dir=base / "locks"), 5)
        print("fetched", result.size)

    asyncio.run(main())
""")


def test_a_fifo_sidecar_does_not_hang_the_fetch(tmp_path: Path) -> None:
    env = {**os.environ, "ETTUI_HOME": str(tmp_path / "home"), "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    try:
        done = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path)], capture_output=True, timeout=10,
                              env=env, check=False)
    except subprocess.TimeoutExpired:
        pytest.fail("the fetch hung on a FIFO sidecar (no deadline fired)")
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    assert b"fetched 22" in done.stdout
