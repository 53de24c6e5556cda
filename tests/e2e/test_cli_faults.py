"""Bad input and broken services through the CLI: one sentence, the right exit code, no job lost.

The sandbox runs on its own event loop in a thread, so a test can flip its
fault knobs while ``ettui.cli.main`` runs in the test's thread exactly as the
console script does, against a real-account style profile.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ettui.cli import main
from ettui.sandbox import Sandbox, SandboxOptions


class ThreadedSandbox:
    def __init__(self, root: Path) -> None:
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.stop: asyncio.Event | None = None
        self.sandbox: Sandbox | None = None
        self.thread = threading.Thread(target=self.loop.run_until_complete, args=(self._main(root),), daemon=True)

    async def _main(self, root: Path) -> None:
        self.stop = asyncio.Event()
        async with Sandbox(SandboxOptions(root=root, scheduled_seconds=0.2, processing_seconds=0.2)) as sb:
            self.sandbox = sb
            self.ready.set()
            await self.stop.wait()

    def __enter__(self) -> Sandbox:
        self.thread.start()
        assert self.ready.wait(30)
        assert self.sandbox is not None
        return self.sandbox

    def __exit__(self, *exc: object) -> None:
        assert self.stop is not None
        self.loop.call_soon_threadsafe(self.stop.set)
        self.thread.join(30)


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    with ThreadedSandbox(tmp_path / "sb") as sb:
        yield sb


def write_config(tmp_path: Path, sb: Sandbox, **overrides: Any) -> Path:
    info = sb.info
    values: dict[str, Any] = {
        "endpoint": info.xml_api_url,
        "api_username": info.api_username,
        "api_password_env": "ET_TEST_API_PW",
        "sftp_host": info.sftp_host,
        "sftp_port": info.sftp_port,
        "sftp_username": info.sftp_username,
        "sftp_password_env": "ET_TEST_SFTP_PW",
        "known_hosts": str(tmp_path / "known_hosts"),
        "member_id": info.member_id,
        "poll_initial": 0.1,
        "poll_max": 0.5,
        "connect_timeout": 5.0,
        "read_timeout": 5.0,
    }
    values.update(overrides)
    lines = ['default_profile = "acct"', "[profiles.acct]"]
    for key, value in values.items():
        lines.append(f"{key} = {json.dumps(value)}")
    path = tmp_path / "config.toml"
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)
    return path


@pytest.fixture
def cli(tmp_path: Path, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("ETTUI_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("ET_TEST_API_PW", sandbox.info.api_password)
    monkeypatch.setenv("ET_TEST_SFTP_PW", sandbox.info.sftp_password)
    config = write_config(tmp_path, sandbox)

    def call(*args: str, config_path: Path | None = None) -> tuple[int, str, str]:
        code = main(["--config", str(config_path or config), *args])
        out, err = capsys.readouterr()
        return code, out, err

    return call


def one_sentence(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def jobs(cli: Any) -> list[dict[str, Any]]:
    code, out, _ = cli("jobs", "--json")
    assert code == 0
    return json.loads(out)


@pytest.mark.sqlite_file("it reads the jobs.sqlite3 bytes to check the password is masked")
def test_submit_status_fetch_on_a_real_account_profile(cli: Any, tmp_path: Path, sandbox: Sandbox) -> None:
    code, out, err = cli("submit", "C3")
    assert code == 0, err
    batch = out.strip()
    code, out, err = cli("status", "--watch", "--timeout", "30", batch)
    assert code == 0, err
    (job,) = jobs(cli)
    assert job["status"] == "Complete"
    code, out, err = cli("fetch", batch, "--dest", str(tmp_path / "dl"), "--accept-host-key", sandbox.info.host_key_fingerprint)
    assert code == 0, err
    assert (tmp_path / "known_hosts").read_text().strip(), "accepting the key saved it"
    state = tmp_path / "home" / "state"
    stored = b"".join(p.read_bytes() for p in state.glob("jobs.sqlite3*"))
    assert sandbox.info.api_password.encode() not in stored
    assert b"********" in stored, "the request document is kept, with the password masked"


def test_wrong_password_is_a_service_error_and_records_nothing(cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ET_TEST_API_PW", "not-the-password")
    code, _, err = cli("submit", "C3")
    assert code == 4
    assert "not-the-password" not in one_sentence(err)
    assert jobs(cli) == []


def test_connection_refused_is_a_connection_error(cli: Any, tmp_path: Path, sandbox: Sandbox) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = write_config(tmp_path, sandbox, endpoint=f"http://127.0.0.1:{port}/integrate.aspx")
    code, _, err = cli("submit", "C3", config_path=config)
    assert code == 5
    assert "127.0.0.1" in one_sentence(err)
    code, out, _ = cli("jobs", "--json", config_path=config)
    assert json.loads(out) == [], "a request that never left leaves no job behind"


def test_a_submit_throttled_every_time_is_retried_then_refused_honestly(cli: Any, sandbox: Sandbox) -> None:
    sandbox.faults.http_500_share = 1.0
    code, _, err = cli("submit", "C3")
    assert code == 4
    lines = err.strip().splitlines()
    assert [line.split(";")[1].split(" in ")[0].strip() for line in lines[:-1]] == [f"retry {n} of 4" for n in (1, 2, 3, 4)]
    assert "nothing was submitted" in lines[-1] and "backs off" not in err
    assert jobs(cli) == [], "every try was refused: no job the service may run"


def test_an_unreadable_submit_reply_leaves_an_unconfirmed_job_and_says_so(cli: Any, sandbox: Sandbox) -> None:
    sandbox.faults.malformed_share = 1.0
    code, _, err = cli("submit", "C3")
    assert code == 4
    sentence = one_sentence(err)
    (job,) = jobs(cli)
    assert job["status"] == "Unconfirmed" and job["batch_id"] is None
    assert f"Job {job['id']}" in sentence and "may have accepted" in sentence and "dismiss" in sentence
    code, _, err = cli("status")
    assert code == 0 and "Unconfirmed" in err and f"ettui jobs dismiss {job['id']}" in err
    code, _out, _ = cli("jobs", "dismiss", str(job["id"]))
    assert code == 0
    (job,) = jobs(cli)
    assert job["status"] == "Dismissed"


def test_faults_while_polling_never_lose_or_fail_a_job(cli: Any, sandbox: Sandbox) -> None:
    code, out, _ = cli("submit", "C3")
    assert code == 0
    sandbox.faults.http_500_share = 1.0
    code, out, err = cli("status", out.strip())
    assert code == 4, "a poll refused by throttling is reported, not passed off as fresh"
    assert "throttling" in one_sentence(err) and "last one known" in one_sentence(err)
    (job,) = jobs(cli)
    assert job["status"] == "Scheduled", "a throttled poll never turns a job into Error"
    assert job["last_error"]
    sandbox.faults.http_500_share = 0.0
    sandbox.faults.malformed_share = 1.0
    cli("status", job["batch_id"])
    (job,) = jobs(cli)
    assert job["status"] != "Error" and job["last_error"]
    sandbox.faults.malformed_share = 0.0
    code, _, err = cli("status", "--watch", "--timeout", "30", job["batch_id"])
    assert code == 0, err
    (job,) = jobs(cli)
    assert job["status"] == "Complete"


def test_unknown_then_changed_host_key(cli: Any, tmp_path: Path, sandbox: Sandbox) -> None:
    code, _, err = cli("drop", "ls")
    assert code == 6
    line = one_sentence(err)
    assert sandbox.info.host_key_fingerprint in line and "--accept-host-key" in line
    assert not (tmp_path / "known_hosts").exists() or not (tmp_path / "known_hosts").read_text().strip()

    code, _, err = cli("drop", "ls", "--accept-host-key", "SHA256:not-the-key")
    assert code == 6 and "does not match" in one_sentence(err)

    code, _, err = cli("drop", "ls", "--accept-host-key", sandbox.info.host_key_fingerprint)
    assert code == 0, err
    code, _, err = cli("drop", "ls", "--json")
    assert code == 0, "the accepted key was saved"

    known = tmp_path / "known_hosts"
    host, _rest = known.read_text().split(" ", 1)
    other = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDp0j/oB7m3r0tE7mT7b4ZyRkA5r4xQk2N6p6p3N6t8u"
    known.write_text(f"{host} {other}\n")
    code, _, err = cli("drop", "ls")
    assert code == 6 and "changed" in one_sentence(err)


def test_fetching_an_expired_file_keeps_the_job(cli: Any, sandbox: Sandbox, tmp_path: Path) -> None:
    code, out, _ = cli("submit", "C3")
    batch = out.strip()
    assert cli("status", "--watch", "--timeout", "30", batch)[0] == 0
    sandbox.clock.advance(73 * 3600)
    sandbox.sweep()
    code, _, err = cli("fetch", batch, "--dest", str(tmp_path / "dl"), "--accept-host-key", sandbox.info.host_key_fingerprint)
    assert code == 6
    one_sentence(err)
    assert [j["batch_id"] for j in jobs(cli)] == [batch]
    assert not list((tmp_path / "dl").glob("*.zip"))


def test_drop_commands_need_no_api_password(cli: Any, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ET_TEST_API_PW")
    code, out, err = cli("drop", "ls", "--accept-host-key", sandbox.info.host_key_fingerprint)
    assert code == 0, err
    assert out.startswith("NAME")
