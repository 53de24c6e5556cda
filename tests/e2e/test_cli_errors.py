"""How the headless commands fail (issue 11.7): one exit code per kind for every protocol, JSON errors, fetch sentences.

Real subprocesses and real sockets: a closed port on 127.0.0.1 (bound, never
listening, so the kernel refuses the connection) for HTTP, SFTP and FTPS; the
sandbox for the jobs a fetch is asked about.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ettui.errors import ExitCode


def run(args: list[str], home: Path, timeout: float = 90) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "ETTUI_HOME": str(home), "ET_UNUSED_PW": "x", "PYTHONUNBUFFERED": "1"}
    env.pop("ETTUI_CONFIG", None)
    return subprocess.run([sys.executable, "-m", "ettui", *args], capture_output=True, timeout=timeout, env=env, check=False)


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A port on 127.0.0.1 that is bound (nobody else gets it) but never listens: connections are refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        yield s.getsockname()[1]


def write_config(tmp_path: Path, port: int, protocol: str) -> Path:
    cfg = tmp_path / "config.toml"
    lines = [
        'default_profile = "acct"',
        "[profiles.acct]",
        f'endpoint = "http://127.0.0.1:{port}/integrate.aspx"',
        'api_username = "unused"',
        'api_password_env = "ET_UNUSED_PW"',
        f'drop_protocol = "{protocol}"',
        'sftp_host = "127.0.0.1"',
        f"sftp_port = {port}",
        'sftp_username = "x"',
        'sftp_password_env = "ET_UNUSED_PW"',
        'ftps_host = "127.0.0.1"',
        f"ftps_port = {port}",
        'ftps_username = "x"',
        'ftps_password_env = "ET_UNUSED_PW"',
    ]
    cfg.write_text("\n".join(lines) + "\n")
    cfg.chmod(0o600)
    return cfg


@pytest.mark.parametrize(
    ("protocol", "command"),
    [("http", ["submit", "C3"]), ("sftp", ["drop", "ls"]), ("ftps", ["drop", "ls"]), ("sftp", ["fetch", "/x.zip"])],
)
def test_a_refused_connection_exits_5_whatever_the_protocol(
    tmp_path: Path, closed_port: int, protocol: str, command: list[str]
) -> None:
    cfg = write_config(tmp_path, closed_port, "sftp" if protocol == "http" else protocol)
    done = run(["--config", str(cfg), *command], tmp_path / "home")
    lines = done.stderr.decode().splitlines()
    assert done.returncode == ExitCode.CONNECTION == 5, lines
    assert len(lines) == 1 and f"127.0.0.1:{closed_port}" in lines[0], lines
    assert done.stdout == b""


@pytest.mark.parametrize(
    ("protocol", "command"), [("http", ["submit", "C3"]), ("sftp", ["drop", "ls"]), ("ftps", ["drop", "ls"])]
)
def test_a_host_name_that_does_not_resolve_exits_5_whatever_the_protocol(
    tmp_path: Path, closed_port: int, protocol: str, command: list[str]
) -> None:
    cfg = write_config(tmp_path, closed_port, "sftp" if protocol == "http" else protocol)
    cfg.write_text(cfg.read_text().replace("127.0.0.1", "nohost.invalid"))  # .invalid never resolves (RFC 6761)
    done = run(["--config", str(cfg), *command], tmp_path / "home")
    lines = done.stderr.decode().splitlines()
    assert done.returncode == ExitCode.CONNECTION, lines
    assert len(lines) == 1 and "nohost.invalid" in lines[0] and "resolved" in lines[0], lines


def test_json_errors_are_one_object_on_stderr_and_nothing_on_stdout(tmp_path: Path, closed_port: int) -> None:
    cfg = write_config(tmp_path, closed_port, "ftps")
    done = run(["--config", str(cfg), "drop", "ls", "--json"], tmp_path / "home")
    assert done.returncode == 5 and done.stdout == b""
    assert done.stderr.endswith(b"}\n") and done.stderr.count(b"\n") == 1, done.stderr
    error = json.loads(done.stderr)
    assert list(error) == ["error", "title", "exit_code"]
    assert error["exit_code"] == 5 and error["title"] == "Drop unreachable"
    assert f"127.0.0.1:{closed_port}" in error["error"] and not error["error"].startswith("ettui:")


def test_json_usage_errors_too(tmp_path: Path) -> None:
    done = run(["jobs", "--limit", "many", "--json"], tmp_path)
    assert done.returncode == 2 and done.stdout == b""
    error = json.loads(done.stderr)
    assert error == {"error": "argument --limit: invalid int value: 'many'; see `ettui jobs --help`.", "title": "Usage",
                     "exit_code": 2}
    plain = run(["jobs", "--limit", "many"], tmp_path)  # a human still gets argparse's usage
    assert plain.returncode == 2 and plain.stderr.startswith(b"usage: ettui jobs")


def test_json_error_keeps_a_remote_value_exact_and_escaped(tmp_path: Path) -> None:
    # A batch ID typed with a control character: JSON carries it exactly, as an escape, never raw.
    done = run(["status", "12\x1b[2J34", "--json"], tmp_path)
    assert done.returncode == 2 and done.stdout == b""
    assert b"\x1b" not in done.stderr and b"\\u001b[2J" in done.stderr
    assert "12\x1b[2J34" in json.loads(done.stderr)["error"]


def test_fetching_an_id_nobody_has_says_so(tmp_path: Path) -> None:
    done = run(["fetch", "999999"], tmp_path)
    lines = done.stderr.decode().splitlines()
    assert done.returncode == 6, lines
    assert len(lines) == 1 and lines[0].startswith("ettui: No job or drop file 999999 for profile 'sandbox'"), lines
    assert "/999999" not in lines[0] and "`ettui jobs`" in lines[0] and "`ettui drop ls`" in lines[0]


def test_fetching_an_error_job_names_the_batch_and_says_waiting_will_not_help(tmp_path: Path) -> None:
    home = tmp_path / "home"
    cfg = tmp_path / "config.toml"
    cfg.write_text("[sandbox]\nerror_share = 1.0\nscheduled_seconds = 0.2\nprocessing_seconds = 0.2\n")
    submitted = run(["--config", str(cfg), "submit", "C3"], home)
    assert submitted.returncode == 0, submitted.stderr
    batch = submitted.stdout.decode().strip()
    watched = run(["--config", str(cfg), "status", "--watch", "--timeout", "60", batch], home)
    assert watched.returncode == 0, watched.stderr
    done = run(["--config", str(cfg), "fetch", batch], home)
    lines = done.stderr.decode().splitlines()
    assert done.returncode == ExitCode.SERVICE, lines
    assert len(lines) == 1 and f"batch {batch}" in lines[0] and "reported an error" in lines[0], lines
    assert "waiting will not help" in lines[0] and "wait for Complete" not in lines[0]
