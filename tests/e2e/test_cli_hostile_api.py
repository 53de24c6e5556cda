"""The headless commands against a hostile API: a slowloris ends within the request deadline (exit 5),
a bad file name is the job's error.

The hostile server (``tests/integration/hostile_http.py``) runs on its own
loop in a thread; ``ettui.cli.main`` runs in the test's thread as the console
script does, on a real-account style profile with ``request_deadline = 1``.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ettui.cli import main
from tests.integration.hostile_http import ThreadedHostileHttp, threaded

SUBMITTED = b"<exacttarget><system><x><info>ok</info><batchID>552210</batchID></x></system></exacttarget>"


@pytest.fixture
def peer() -> Iterator[ThreadedHostileHttp]:
    with threaded("slowloris") as runner:
        yield runner


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def write_config(tmp_path: Path, url: str, dialect: str) -> Path:
    values: dict[str, Any] = {
        "dialect": dialect,
        "endpoint": url,
        "soap_url": url,
        "api_username": "ops",
        "api_password_env": "ET_TEST_API_PW",
        "sftp_host": "127.0.0.1",
        "sftp_port": free_port(),
        "sftp_username": "ops",
        "sftp_password_env": "ET_TEST_SFTP_PW",
        "known_hosts": str(tmp_path / "known_hosts"),
        "connect_timeout": 2.0,
        "read_timeout": 5.0,
        "request_deadline": 1.0,
    }
    lines = ['default_profile = "acct"', "[profiles.acct]"] + [f"{k} = {json.dumps(v)}" for k, v in values.items()]
    path = tmp_path / "config.toml"
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)
    return path


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("ETTUI_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("ET_TEST_API_PW", "pw-not-shown")
    monkeypatch.setenv("ET_TEST_SFTP_PW", "sftp-pw")

    def call(config: Path, *args: str) -> tuple[int, str, str]:
        code = main(["--config", str(config), *args])
        out, err = capsys.readouterr()
        return code, out, err

    return call


def one_sentence(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err and "pw-not-shown" not in err
    return lines[0]


@pytest.mark.parametrize(("dialect", "args"), [
    ("xml", ["submit", "C3"]),
    ("soap", ["submit", "tracking-extract", "-p", "StartDate=6/1/2024", "-p", "EndDate=6/8/2024",
              "-p", "OutputFileName=t.zip"]),
])
def test_submit_to_a_slowloris_exits_5_with_one_sentence(cli: Any, peer: ThreadedHostileHttp, tmp_path: Path,
                                                         dialect: str, args: list[str]) -> None:
    code, out, err = cli(write_config(tmp_path, peer.server.url, dialect), *args)
    assert code == 5, err
    assert "within the request deadline of 1 s" in one_sentence(err)
    assert out == ""


def test_status_against_a_slowloris_ends_and_records_the_sentence(cli: Any, peer: ThreadedHostileHttp,
                                                                  tmp_path: Path) -> None:
    config = write_config(tmp_path, peer.server.url, "xml")
    peer.set(mode="answer", body=SUBMITTED, status=200)
    code, out, err = cli(config, "submit", "C3")
    assert code == 0, err
    assert out.strip() == "552210"
    peer.set(mode="slowloris")
    code, out, err = cli(config, "status", "552210")
    assert code == 5, err
    assert "within the request deadline of 1 s" in one_sentence(err)
    code, out, err = cli(config, "jobs", "--json")
    (job,) = json.loads(out)
    assert job["status"] == "Scheduled", "a stalled poll never fails the job"
    assert "within the request deadline of 1 s" in job["last_error"]


def test_a_reply_file_name_outside_the_drop_is_recorded_as_the_jobs_error(cli: Any, peer: ThreadedHostileHttp,
                                                                         tmp_path: Path) -> None:
    config = write_config(tmp_path, peer.server.url, "xml")
    peer.set(mode="answer", body=SUBMITTED, status=200)
    assert cli(config, "submit", "C3")[0] == 0
    peer.set(body=b"<exacttarget><system><Batch><batchid>552210</batchid><status>Complete</status>"
                  b"<filename>../../../../etc/hostname</filename></Batch></system></exacttarget>")
    cli(config, "status", "552210")
    code, out, _err = cli(config, "jobs", "--json")
    (job,) = json.loads(out)
    assert job["status"] == "Error" and not job.get("file_name")
    assert "'../../../../etc/hostname', which holds a path separator" in job["last_error"]
    code, out, _err = cli(config, "fetch", "552210", "--dest", str(tmp_path / "dl"))
    assert code != 0 and "etc/hostname" not in out
    assert not (tmp_path / "dl").exists() or not any((tmp_path / "dl").iterdir())
