"""`ettui sandbox --json` prints the root's generated passwords, and outside tools log in with them."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(
    not (shutil.which("curl") and shutil.which("sftp") and shutil.which("ssh-keyscan")),
    reason="needs curl and OpenSSH sftp on PATH",
)

INQUIRE = ("<exacttarget><authorization><username>{user}</username><password>{password}</password></authorization>"
           "<system><system_name>batch</system_name><action>inquire</action><search_type>batchid</search_type>"
           "<search_value>1</search_value></system></exacttarget>")


def start(tmp_path: Path, root: Path) -> tuple[subprocess.Popen[str], dict[str, object]]:
    env = {**os.environ, "ETTUI_HOME": str(tmp_path / "home")}
    proc = subprocess.Popen([sys.executable, "-m", "ettui", "sandbox", "--json", "--root", str(root)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        proc.wait(timeout=30)
        pytest.fail(f"the sandbox did not start: {proc.stderr.read() if proc.stderr else ''}")
    return proc, json.loads(line)


def curl(url: str, document: str) -> str:
    return subprocess.run(["curl", "-sS", "--fail", "--data", "qf=xml", "--data-urlencode", f"xml={document}", url],
                          capture_output=True, text=True, timeout=30, check=True).stdout


def sftp_with_password(tmp_path: Path, info: dict[str, object], password: str) -> subprocess.CompletedProcess[str]:
    """OpenSSH sftp, password login: the password comes from an SSH_ASKPASS helper (batch mode would forbid it)."""
    askpass = tmp_path / "askpass.sh"
    askpass.write_text('#!/bin/sh\nprintf "%s\\n" "$SANDBOX_PW"\n')
    askpass.chmod(0o700)
    known = tmp_path / "known_hosts"
    scan = subprocess.run(["ssh-keyscan", "-p", str(info["sftp_port"]), str(info["sftp_host"])],
                          check=False, capture_output=True, text=True, timeout=30)
    known.write_text(scan.stdout)
    env = {**os.environ, "SSH_ASKPASS": str(askpass), "SSH_ASKPASS_REQUIRE": "force", "DISPLAY": ":0",
           "SANDBOX_PW": password}
    return subprocess.run(
        ["sftp", "-P", str(info["sftp_port"]), "-o", f"UserKnownHostsFile={known}",
         "-o", "StrictHostKeyChecking=yes", "-o", "PubkeyAuthentication=no", "-o", "NumberOfPasswordPrompts=1",
         "-o", "PreferredAuthentications=password,keyboard-interactive", f"{info['sftp_username']}@{info['sftp_host']}"],
        input="ls /\n", check=False, capture_output=True, text=True, timeout=60, env=env,
    )


def test_sandbox_json_prints_generated_passwords_that_outside_tools_can_use(tmp_path: Path) -> None:
    root = tmp_path / "sb"
    proc, info = start(tmp_path, root)
    try:
        api_pw, sftp_pw = str(info["api_password"]), str(info["sftp_password"])
        assert "sandbox-secret" not in (api_pw, sftp_pw)
        stored = json.loads((root / "credentials.json").read_text())
        assert stored == {"api_password": api_pw, "sftp_password": sftp_pw}
        assert stat.S_IMODE((root / "credentials.json").stat().st_mode) == 0o600
        assert stat.S_IMODE(root.stat().st_mode) == 0o700

        url = str(info["xml_api_url"])
        assert "Login failed" not in curl(url, INQUIRE.format(user=info["api_username"], password=api_pw))
        assert "Login failed" in curl(url, INQUIRE.format(user=info["api_username"], password="sandbox-secret"))

        good = sftp_with_password(tmp_path, info, sftp_pw)
        assert good.returncode == 0, good.stderr
        bad = sftp_with_password(tmp_path, info, "sandbox-secret")
        assert bad.returncode != 0
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_two_roots_get_different_passwords_and_a_root_keeps_its_own(tmp_path: Path) -> None:
    seen = []
    for root in (tmp_path / "one", tmp_path / "two", tmp_path / "one"):
        proc, info = start(tmp_path, root)
        proc.terminate()
        proc.wait(timeout=30)
        seen.append((info["api_password"], info["sftp_password"]))
    assert seen[0] != seen[1]
    assert seen[0] == seen[2]
