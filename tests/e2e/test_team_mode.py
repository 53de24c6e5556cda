"""Team mode through the CLI: several HOMEs (operators, hosts) on one PostgreSQL ``[store] url``.

Real subprocesses, a real PostgreSQL (the session's server, a fresh database
per test) and one sandbox on its own loop in a thread, whose XML API counts
the Batch Inquire requests it answers: that count is what the team's pollers
cost the vendor.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from ettui.jobs.base import STORE_URL_ENV
from ettui.sandbox import Sandbox, SandboxOptions
from ettui.sandbox.xmlapi import XmlApi
from tests.stores import store_toml


class CountingSandbox:
    """A sandbox on its own loop in a thread; ``inquiries`` counts Batch Inquire requests answered."""

    def __init__(self, root: Path, *, scheduled: float, processing: float) -> None:
        self.root, self.scheduled, self.processing = root, scheduled, processing
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.stop: asyncio.Event | None = None
        self.sandbox: Sandbox | None = None
        self.inquiries = 0
        self.thread = threading.Thread(target=self.loop.run_until_complete, args=(self._main(),), daemon=True)

    async def _main(self) -> None:
        self.stop = asyncio.Event()
        options = SandboxOptions(root=self.root, scheduled_seconds=self.scheduled, processing_seconds=self.processing)
        async with Sandbox(options) as sb:
            self.sandbox = sb
            self.ready.set()
            await self.stop.wait()

    def __enter__(self) -> CountingSandbox:
        self.thread.start()
        assert self.ready.wait(30)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.stop is not None
        self.loop.call_soon_threadsafe(self.stop.set)
        self.thread.join(30)


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> list[CountingSandbox]:
    """Every CountingSandbox of the test counts its inquiries (the XML API's inquire, wrapped)."""
    live: list[CountingSandbox] = []
    original = XmlApi._inquire

    def counting(self: XmlApi, system: Any) -> str:
        for each in live:
            if each.sandbox is not None and each.sandbox.queue is self.queue:
                each.inquiries += 1
        return original(self, system)

    monkeypatch.setattr(XmlApi, "_inquire", counting)
    return live


SECRETS: dict[str, str] = {}
"""The sandbox's passwords, for the profiles' ``*_password_env`` (set by ``team_home``)."""


def team_home(tmp_path: Path, name: str, url: str, sb: Sandbox | None = None, *, lease: float = 30.0) -> Path:
    """An operator's HOME whose config names the shared store (and, given a sandbox, a profile on it)."""
    home = tmp_path / name
    home.mkdir()
    text = store_toml(url) + f"lease_seconds = {lease}\n"
    if sb is not None:
        info = sb.info
        SECRETS.update({"ET_TEST_API_PW": info.api_password, "ET_TEST_SFTP_PW": info.sftp_password})
        profile = {
            "endpoint": info.xml_api_url, "api_username": info.api_username, "api_password_env": "ET_TEST_API_PW",
            "sftp_host": info.sftp_host, "sftp_port": info.sftp_port, "sftp_username": info.sftp_username,
            "sftp_password_env": "ET_TEST_SFTP_PW", "member_id": info.member_id,
            "poll_initial": 0.5, "poll_max": 1.0, "connect_timeout": 5.0, "read_timeout": 5.0,
        }  # fmt: skip
        text = 'default_profile = "team"\n' + text + "[profiles.team]\n"
        text += "".join(f"{key} = {json.dumps(value)}\n" for key, value in profile.items())
    (home / "config.toml").write_text(text)
    (home / "config.toml").chmod(0o600)
    return home


def env_for(home: Path) -> dict[str, str]:
    env = {**os.environ, "ETTUI_HOME": str(home), "PYTHONUNBUFFERED": "1"}
    env.pop("ETTUI_CONFIG", None)
    env.pop(STORE_URL_ENV, None)  # each HOME's own config says where its store is (none: the local file)
    if (home / "config.toml").exists():
        env["ETTUI_CONFIG"] = str(home / "config.toml")
    env.update(SECRETS)
    return env


def run(args: list[str], home: Path, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ettui", *args], capture_output=True, text=True, timeout=timeout,
                          env=env_for(home))  # fmt: skip


def start(args: list[str], home: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "ettui", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env_for(home))  # fmt: skip


def test_two_homes_share_one_history_with_who_submitted(tmp_path: Path, pg_url: str) -> None:
    ann, bob = team_home(tmp_path, "ann", pg_url), team_home(tmp_path, "bob", pg_url)
    migrated = run(["store", "migrate", "--json"], ann)
    assert migrated.returncode == 0, migrated.stderr
    where = json.loads(migrated.stdout)
    assert where["schema_version"] >= 1 and "team-secret" not in migrated.stdout
    submitted = run(["submit", "C3", "--json"], ann)  # the built-in sandbox profile, in ann's HOME
    assert submitted.returncode == 0, submitted.stderr
    job = json.loads(submitted.stdout)
    listed = run(["jobs", "--json"], bob)
    assert listed.returncode == 0, listed.stderr
    (seen,) = [j for j in json.loads(listed.stdout) if j["id"] == job["id"]]
    assert seen["batch_id"] == job["batch_id"] and seen["submitted_by"] == job["submitted_by"]
    assert seen["submitted_by"] and "@" in seen["submitted_by"]


def test_import_sqlite_copies_a_local_history_once(tmp_path: Path, pg_url: str) -> None:
    laptop = tmp_path / "laptop"
    local = run(["submit", "C3", "--json"], laptop)  # no config: the local SQLite store
    assert local.returncode == 0, local.stderr
    batch = json.loads(local.stdout)["batch_id"]
    ann = team_home(tmp_path, "ann", pg_url)
    source = laptop / "state" / "jobs.sqlite3"
    first = run(["store", "import-sqlite", str(source), "--json"], ann)
    again = run(["store", "import-sqlite", str(source), "--json"], ann)
    assert first.returncode == 0 and again.returncode == 0, first.stderr + again.stderr
    assert (json.loads(first.stdout)["copied"], json.loads(again.stdout)["copied"]) == (1, 0)
    listed = json.loads(run(["jobs", "--json"], ann).stdout)
    assert [j["batch_id"] for j in listed] == [batch]
    refused = run(["store", "import-sqlite", str(source)], laptop)  # no [store] url there
    assert refused.returncode == 2 and "[store] url" in refused.stderr


def wait_for(predicate: Any, what: str, timeout: float = 60) -> None:
    """Poll a condition the test cannot be told about (another process's request), failing on a hang."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_three_watchers_on_one_job_poll_it_no_more_than_one(tmp_path: Path, pg_url: str,
                                                           counted: list[CountingSandbox]) -> None:  # fmt: skip
    # Long enough phases that a watcher started on a loaded machine still sees the job move
    # (at 1.5 s + 3 s one watcher once found it Complete at its first poll).
    with CountingSandbox(tmp_path / "sb", scheduled=3.0, processing=6.0) as box:
        counted.append(box)
        assert box.sandbox is not None
        homes = [team_home(tmp_path, name, pg_url, box.sandbox) for name in ("ann", "bob", "cat")]

        def watch_one_job(watchers: list[Path]) -> int:
            done = run(["submit", "C3", "--json"], homes[0])
            assert done.returncode == 0, done.stderr
            batch = json.loads(done.stdout)["batch_id"]
            before = box.inquiries
            procs = [start(["status", "--watch", batch, "--timeout", "60"], home) for home in watchers]
            for proc in procs:
                out, err = proc.communicate(timeout=90)
                assert proc.returncode == 0, err
                assert "Complete" in out
            return box.inquiries - before

        alone = watch_one_job(homes[:1])
        together = watch_one_job(homes)
    assert alone >= 2
    # Three watchers poll like one (one holds the lease, the others follow the feed);
    # one poll either way is the phase of the job's status changes against the schedule.
    print(f"inquiries: one watcher {alone}, three watchers {together}")
    assert together <= alone + 1, (alone, together)


def test_killing_the_lease_holder_hands_the_job_to_another_watcher(tmp_path: Path, pg_url: str,
                                                                   counted: list[CountingSandbox]) -> None:  # fmt: skip
    with CountingSandbox(tmp_path / "sb", scheduled=4.0, processing=4.0) as box:
        counted.append(box)
        assert box.sandbox is not None
        ann, bob = (team_home(tmp_path, name, pg_url, box.sandbox, lease=5.0) for name in ("ann", "bob"))
        done = run(["submit", "C3", "--json"], ann)
        assert done.returncode == 0, done.stderr
        batch = json.loads(done.stdout)["batch_id"]
        holder = start(["status", "--watch", batch, "--timeout", "60"], ann)
        try:
            wait_for(lambda: box.inquiries >= 1, "the first watcher's first poll")
            other = start(["status", "--watch", batch, "--timeout", "60"], bob)
            holder.send_signal(signal.SIGKILL)  # no release: the lease has to run out
            holder.wait(timeout=30)
            at_kill = box.inquiries
            out, err = other.communicate(timeout=90)
        finally:
            if holder.poll() is None:
                holder.kill()
        assert other.returncode == 0, err
        assert "Complete" in out
        assert box.inquiries > at_kill, "the second watcher took the job over and polled it"
        listed = json.loads(run(["jobs", "--json"], bob).stdout)
        assert [j["status"] for j in listed if j["batch_id"] == batch] == ["Complete"]


def test_two_watchers_on_two_hosts_fetch_each_output_once(tmp_path: Path, pg_url: str,
                                                           counted: list[CountingSandbox]) -> None:  # fmt: skip
    """``ettui watch`` on two HOMEs of one shared store: every landed file is fetched (and hooked) by one of them."""
    with CountingSandbox(tmp_path / "sb", scheduled=0.5, processing=1.0) as box:
        assert box.sandbox is not None
        hooks = tmp_path / "hooks.log"
        homes = [team_home(tmp_path, name, pg_url, box.sandbox) for name in ("ann", "bob")]
        for home in homes:
            config = home / "config.toml"
            config.write_text(config.read_text() + "auto_fetch = true\n" + f'download_dir = "{home / "downloads"}"\n'
                              + f'on_fetched = "sh -c \'echo $ETTUI_BATCH_ID {home.name} >> {hooks}\'"\n')
            trusted = run(["drop", "ls", "--accept-host-key", box.sandbox.info.host_key_fingerprint], home)
            assert trusted.returncode == 0, trusted.stderr
        batches = []
        for _ in range(3):
            done = run(["submit", "C3", "--json"], homes[0])
            assert done.returncode == 0, done.stderr
            batches.append(json.loads(done.stdout)["batch_id"])
        procs = [start(["watch", "--exit-when-idle"], home) for home in homes]
        for proc in procs:
            _out, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err
        fetched = hooks.read_text().split("\n")[:-1]
        assert sorted(line.split()[0] for line in fetched) == sorted(batches), fetched  # each once, by someone
        jobs = json.loads(run(["jobs", "--json"], homes[1]).stdout)
        assert all(job["fetched_by"] for job in jobs), jobs
