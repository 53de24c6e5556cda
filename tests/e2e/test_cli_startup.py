"""`ettui fetch` keeps its start-up small: it never imports the TUI, zeep, the sandbox, httpx or lxml."""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import sys
import threading
from pathlib import Path

HEAVY = ("textual", "zeep", "ettui.sandbox", "ettui.ui", "httpx", "lxml")


def test_fetch_imports_only_what_a_download_needs(tmp_path: Path) -> None:
    # A drop that greets like an SSH server, then says nothing more: the fetch gets as far as the
    # handshake, so asyncssh's import is surely under way (the dial runs while it imports; a refused
    # port could fail before any of it), and times out after connect_timeout.
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def hang_up() -> None:
        with contextlib.suppress(OSError):
            while True:
                conn, _ = listener.accept()
                with contextlib.suppress(OSError):
                    conn.sendall(b"SSH-2.0-OpenSSH_9.2\r\n")
                    while conn.recv(65536):  # the client's banner and KEXINIT, then its hang-up
                        pass
                conn.close()

    threading.Thread(target=hang_up, daemon=True).start()
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        "\n".join(
            [
                'default_profile = "acct"',
                "[profiles.acct]",
                'endpoint = "http://127.0.0.1:9/integrate.aspx"',
                'api_username = "unused"',
                'api_password_env = "ET_UNUSED_PW"',
                'sftp_host = "127.0.0.1"',
                f"sftp_port = {port}",
                'sftp_username = "x"',
                'sftp_password_env = "ET_UNUSED_PW"',
                'drop_folder = "/"',
                "connect_timeout = 3",
                'export_folder = ""',
                "",
            ]
        )
    )
    cfg.chmod(0o600)
    env = {**os.environ, "ETTUI_HOME": str(tmp_path / "home"), "ET_UNUSED_PW": "x"}
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "ettui", "--config", str(cfg), "fetch", "/x.zip", "--no-extract"],
        env=env, capture_output=True, text=True, timeout=120,
    )
    listener.close()
    assert done.returncode == 5, done.stderr[-2000:]  # the drop went silent: a connection error
    imported = set(re.findall(r"^import time:\s+\d+ \|\s+\d+ \|\s*(\S+)$", done.stderr, re.M))
    assert any(m.split(".")[0] == "asyncssh" for m in imported)  # the log was read right
    heavy = sorted(m for m in imported if any(m == h or m.startswith(h + ".") for h in HEAVY))
    assert heavy == []
    sentences = [line for line in done.stderr.splitlines() if not line.startswith("import time:")]
    assert len(sentences) == 1 and sentences[0].startswith("ettui: "), sentences
