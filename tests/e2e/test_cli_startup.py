"""`ettui fetch` keeps its start-up small: it never imports the TUI, zeep, the sandbox, httpx or lxml."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

HEAVY = ("textual", "zeep", "ettui.sandbox", "ettui.ui", "httpx", "lxml")


def test_fetch_imports_only_what_a_download_needs(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens there: the fetch fails fast, after its imports
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
    assert done.returncode == 5, done.stderr[-2000:]  # nothing listens: a connection error
    imported = set(re.findall(r"^import time:\s+\d+ \|\s+\d+ \|\s*(\S+)$", done.stderr, re.M))
    assert "asyncssh" in imported  # the log was read right
    heavy = sorted(m for m in imported if any(m == h or m.startswith(h + ".") for h in HEAVY))
    assert heavy == []
    sentences = [line for line in done.stderr.splitlines() if not line.startswith("import time:")]
    assert len(sentences) == 1 and sentences[0].startswith("ettui: Nothing accepted the connection")
