"""``ettui watch`` as a service runs it: real subprocesses, the real sandbox, real sockets.

The first tests use the built-in sandbox profile (each command starts its own
sandbox on one root, sharing the queue through its journal). The fault tests
run the sandbox in a thread of the test process, so its fault knobs can be
flipped while a watcher subprocess downloads from it over SFTP.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from ettui.jobs.store import JobStore
from ettui.sandbox import Sandbox, SandboxOptions
from ettui.sandbox.faults import Faults

HOOK = """\
import json, os, sys, time
keys = ["ETTUI_FILE", "ETTUI_EXTRACT_DIR", "ETTUI_FILES", "ETTUI_BATCH_ID", "ETTUI_PROFILE", "ETTUI_SHA256"]
out = sys.argv[1]
os.makedirs(out, exist_ok=True)
open(os.path.join(out, "started"), "a").close()
time.sleep(float(os.environ.get("HOOK_SLEEP", "0")))
with open(os.path.join(out, os.environ["ETTUI_SHA256"] + ".json"), "w") as f:
    json.dump({k: os.environ.get(k) for k in keys}, f)
print("hook saw batch", os.environ["ETTUI_BATCH_ID"])
sys.exit(int(os.environ.get("HOOK_EXIT", "0")))
"""


def env_for(home: Path, **extra: str) -> dict[str, str]:
    env = {**os.environ, "ETTUI_HOME": str(home), "PYTHONUNBUFFERED": "1", **extra}
    env.pop("ETTUI_CONFIG", None)
    env.pop("JOURNAL_STREAM", None)
    return env


def run(args: list[str], home: Path, timeout: float = 90, *, env: Mapping[str, str] | None = None,
        **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ettui", *args], capture_output=True, text=True, timeout=timeout,
        env=env_for(home, **(env or {}), **extra),
    )


def events(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]


def kinds(evs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [e for e in evs if e["event"] == kind]


def write_hook(tmp_path: Path) -> tuple[str, Path]:
    script = tmp_path / "hook.py"
    script.write_text(HOOK)
    seen = tmp_path / "hook-runs"
    return f"{sys.executable} {script} {seen}", seen


def sandbox_config(tmp_path: Path, *, profile: dict[str, Any], ui: dict[str, Any] | None = None) -> Path:
    lines = ["[sandbox]", "scheduled_seconds = 0.5", "processing_seconds = 0.5", "", "[profiles.sandbox]",
             "poll_initial = 0.2", "poll_max = 1.0"]
    lines += [f"{k} = {json.dumps(v)}" for k, v in profile.items()]
    if ui:
        lines += ["", "[ui]", *(f"{k} = {json.dumps(v)}" for k, v in ui.items())]
    path = tmp_path / "config.toml"
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)
    return path


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# -- on the built-in sandbox profile --------------------------------------------------


def test_three_jobs_fetched_once_each_with_the_hook_then_a_second_run_does_nothing(tmp_path: Path) -> None:
    hook, seen = write_hook(tmp_path)
    downloads = tmp_path / "dl"
    cfg = sandbox_config(tmp_path, profile={"auto_fetch": True, "download_dir": str(downloads), "on_fetched": hook})
    base = ["--config", str(cfg)]
    batch_ids = []
    for _ in range(3):
        done = run([*base, "submit", "C3"], tmp_path)
        assert done.returncode == 0, done.stderr
        batch_ids.append(done.stdout.strip())

    first = run([*base, "watch", "--exit-when-idle", "--json"], tmp_path)
    assert first.returncode == 0, first.stderr
    evs = events(first.stdout)
    fetched = kinds(evs, "fetched")
    # Each exactly once. (Their order is the order they land in: the sandbox writes two at a time.)
    assert sorted(e["batch_id"] for e in fetched) == batch_ids
    for e in fetched:
        zip_path = Path(e["zip_path"])
        assert zip_path.parent == downloads and zip_path.exists() and not Path(str(zip_path) + ".part").exists()
        assert sha256_of(zip_path) == e["sha256"] and zip_path.stat().st_size == e["size"]
        assert e["files"] and all(Path(p).suffix == ".xml" and Path(p).stat().st_size > 0 for p in e["files"])
    assert {e["batch_id"] for e in kinds(evs, "landed")} == set(batch_ids)
    assert kinds(evs, "idle") and first.stderr == "", "no problem lines"

    hooks = kinds(evs, "hook")
    assert [(h["batch_id"], h["exit"]) for h in hooks] == [(e["batch_id"], 0) for e in fetched], "one per fetch, after it"
    assert all(h["output"] == [f"hook saw batch {h['batch_id']}"] for h in hooks)
    runs = {p.stem: json.loads(p.read_text()) for p in seen.glob("*.json")}
    assert len(runs) == 3
    for e in fetched:
        env = runs[e["sha256"]]
        assert env["ETTUI_BATCH_ID"] == e["batch_id"]
        assert env["ETTUI_PROFILE"] == "sandbox"
        assert env["ETTUI_FILE"] == e["zip_path"]
        assert env["ETTUI_EXTRACT_DIR"] == e["extract_dir"] and Path(env["ETTUI_EXTRACT_DIR"]).is_dir()
        assert env["ETTUI_FILES"].split("\n") == e["files"]

    stored = json.loads(run([*base, "jobs", "--json"], tmp_path).stdout)
    assert {j["batch_id"]: (j["download_path"], j["sha256"]) for j in stored} == {
        e["batch_id"]: (e["zip_path"], e["sha256"]) for e in fetched
    }

    second = run([*base, "watch", "--exit-when-idle", "--json"], tmp_path)
    assert second.returncode == 0, second.stderr
    assert {e["event"] for e in events(second.stdout)} == {"watching", "idle"}
    assert len(list(seen.glob("*.json"))) == 3, "the hook ran once per file, not again"


def test_an_unfetched_file_about_to_expire_is_reported_and_fails_the_idle_exit(tmp_path: Path) -> None:
    # Expiring "soon" = within 100 h; the drop keeps files 72 h, so every unfetched file qualifies.
    cfg = sandbox_config(tmp_path, profile={"auto_fetch": False}, ui={"expiring_soon_hours": 100})
    base = ["--config", str(cfg)]
    batch = run([*base, "submit", "C3"], tmp_path).stdout.strip()
    done = run([*base, "watch", "--profile", "sandbox", "--exit-when-idle", "--json"], tmp_path)
    assert done.returncode == 6, done.stderr
    evs = events(done.stdout)
    assert not kinds(evs, "fetched")
    (warning,) = kinds(evs, "expiring")
    assert warning["batch_id"] == batch and warning["level"] == "warning" and 0 < warning["seconds_left"] <= 72 * 3600
    (line,) = [ln for ln in done.stderr.splitlines() if "expiring" in ln]
    assert batch in line and "not fetched" in line and "auto_fetch is off" in line


def test_no_profile_with_auto_fetch_is_one_sentence(tmp_path: Path) -> None:
    done = run(["watch", "--exit-when-idle"], tmp_path)
    assert done.returncode == 7
    assert "auto_fetch = true" in done.stderr and len(done.stderr.strip().splitlines()) == 1


# -- against a sandbox in this process, with its fault knobs ---------------------------


class HideOnDrop(Faults):
    """The drop fault, plus an action run (in the sandbox's thread) as it cuts a connection."""

    on_drop: Callable[[], None] | None = None

    @property  # type: ignore[override]
    def sftp_drop_once(self) -> bool:  # read by the SFTP server only when it drops a connection
        if self.on_drop is not None:
            self.on_drop()
        return self._once

    @sftp_drop_once.setter
    def sftp_drop_once(self, value: bool) -> None:
        self._once = value


class ThreadedSandbox:
    def __init__(self, root: Path, faults: Faults) -> None:
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.stop: asyncio.Event | None = None
        self.sandbox: Sandbox | None = None
        self.options = SandboxOptions(
            root=root, scheduled_seconds=0.2, processing_seconds=0.2, record_bytes=12_000_000, faults=faults
        )
        self.thread = threading.Thread(target=self.loop.run_until_complete, args=(self._main(),), daemon=True)

    async def _main(self) -> None:
        self.stop = asyncio.Event()
        async with Sandbox(self.options) as sb:
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
def faults() -> HideOnDrop:
    return HideOnDrop()


@pytest.fixture
def sandbox(tmp_path: Path, faults: HideOnDrop) -> Iterator[Sandbox]:
    with ThreadedSandbox(tmp_path / "sb", faults) as sb:
        yield sb


class Account:
    """A real-account style profile on the threaded sandbox, with ``auto_fetch``."""

    def __init__(self, tmp_path: Path, sb: Sandbox) -> None:
        info = sb.info
        self.home = tmp_path / "home"
        self.downloads = tmp_path / "dl"
        known_hosts = tmp_path / "known_hosts"
        known_hosts.write_text(sb.known_hosts_line + "\n")
        values = {
            "endpoint": info.xml_api_url, "api_username": info.api_username, "api_password_env": "ET_TEST_API_PW",
            "sftp_host": info.sftp_host, "sftp_port": info.sftp_port, "sftp_username": info.sftp_username,
            "sftp_password_env": "ET_TEST_SFTP_PW", "known_hosts": str(known_hosts), "member_id": info.member_id,
            "poll_initial": 0.1, "poll_max": 0.5, "auto_fetch": True, "download_dir": str(self.downloads),
        }
        self.config = tmp_path / "config.toml"
        keys = "".join(f"{k} = {json.dumps(v)}\n" for k, v in values.items())
        self.config.write_text('default_profile = "acct"\n[profiles.acct]\n' + keys)
        self.config.chmod(0o600)
        self.env = {"ET_TEST_API_PW": info.api_password, "ET_TEST_SFTP_PW": info.sftp_password}
        self.sandbox = sb

    def submit(self, *, wait: bool = True) -> str:
        """Submit a C3 from another process (and wait until it is Complete); remember its file."""
        done = run(["--config", str(self.config), "submit", "C3"], self.home, env=self.env)
        assert done.returncode == 0, done.stderr
        self.batch_id = done.stdout.strip()
        if wait:
            waited = run(["--config", str(self.config), "status", "--watch", "--timeout", "60", self.batch_id], self.home,
                         env=self.env)
            assert waited.returncode == 0, waited.stderr
            (job,) = json.loads(run(["--config", str(self.config), "status", "--json", self.batch_id], self.home,
                                    env=self.env).stdout)
            self.locate(job["file_name"])
        return self.batch_id

    def locate(self, file_name: str) -> None:
        """Where the job's file is on the drop (its root: not a multi-account login) and locally."""
        self.remote = Path(self.sandbox.info.drop_dir) / file_name
        self.part = self.downloads / (file_name + ".part")
        self.final = self.downloads / file_name

    def watch(self, *args: str) -> Watching:
        return Watching(["--config", str(self.config), "watch", "--json", *args], env_for(self.home, **self.env))


class Watching:
    """A watcher subprocess whose JSON events are read as they come."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ettui", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
        )
        self.events: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.seen: list[dict[str, Any]] = []
        self.problems: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        # Drain stderr too: a full pipe would stall the watcher.
        self._err_reader = threading.Thread(target=self._read_err, daemon=True)
        self._err_reader.start()

    def _read_err(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.problems.append(line.rstrip("\n"))

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith("{"):
                self.events.put(json.loads(line))
        self.events.put(None)

    def next(self, kind: str, timeout: float = 60) -> dict[str, Any]:
        """The next event of ``kind`` (earlier ones are kept in ``seen``)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                event = self.events.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no {kind} event in {timeout} s; saw {self.seen}; stderr {self.stderr()}") from None
            if event is None:
                raise AssertionError(f"the watcher exited before a {kind} event: {self.seen}, {self.stderr()}")
            self.seen.append(event)
            if event["event"] == kind:
                return event

    def finish(self, timeout: float = 60) -> int:
        code = self.proc.wait(timeout)
        self._reader.join(10)
        self._err_reader.join(10)
        while (event := self.events.get_nowait() if not self.events.empty() else None) is not None:
            self.seen.append(event)
        return code

    def stderr(self) -> str:
        return "\n".join(self.problems)


def wait_until(condition: Callable[[], bool], timeout: float = 30) -> None:
    """Poll a file-system condition another process brings about (no event crosses the process boundary)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.02)


def test_a_fetch_cut_mid_way_resumes_on_the_next_pass(tmp_path: Path, sandbox: Sandbox, faults: HideOnDrop) -> None:
    acct = Account(tmp_path, sandbox)
    acct.submit()
    size = acct.remote.stat().st_size
    aside = tmp_path / "aside.zip"

    def hide() -> None:
        # Every connection breaks after 96 KiB (bytes still in flight are lost
        # with it). Once the .part holds some, the file is gone when the client
        # reconnects: the fetch fails for this pass, with its .part kept.
        if acct.part.exists() and acct.part.stat().st_size > 0:
            os.replace(acct.remote, aside)
            faults.on_drop = None
            faults.sftp_drop_after_bytes = None

    faults.on_drop = hide
    faults.sftp_drop_after_bytes = 96 * 1024
    watcher = acct.watch("--exit-when-idle")
    failed = watcher.next("failed")
    assert failed["batch_id"] == acct.batch_id and "not on the drop" in failed["message"] and failed["retry_in"]
    have = acct.part.stat().st_size
    assert 0 < have < size and not acct.final.exists()
    os.replace(aside, acct.remote)  # back, same bytes and mtime: the .part is provably the same file
    fetched = watcher.next("fetched")
    assert watcher.finish() == 0
    assert fetched["resumed_from"] == have
    assert fetched["sha256"] == sha256_of(acct.remote) == sha256_of(acct.final)
    assert len([e for e in watcher.seen if e["event"] == "fetched"]) == 1


def test_sigterm_mid_download_leaves_a_resumable_part_and_exits_0(tmp_path: Path, sandbox: Sandbox, faults: HideOnDrop) -> None:
    acct = Account(tmp_path, sandbox)
    acct.submit()
    size = acct.remote.stat().st_size
    # Every connection serves 64 KiB and breaks: the download crawls, resuming each time.
    faults.sftp_drop_after_bytes = 64 * 1024
    watcher = acct.watch()
    wait_until(lambda: acct.part.exists() and acct.part.stat().st_size > 0)
    watcher.proc.send_signal(signal.SIGTERM)
    assert watcher.finish() == 0
    assert [e["event"] for e in watcher.seen][-1] == "stopped"
    have = acct.part.stat().st_size
    assert 0 < have < size
    assert (acct.downloads / (acct.part.name + ".json")).exists(), "the sidecar that makes the .part resumable"
    assert not acct.final.exists(), "never a half file under the final name"
    assert not list(acct.downloads.glob("*.corrupt"))

    faults.sftp_drop_after_bytes = None
    again = acct.watch("--exit-when-idle")
    fetched = again.next("fetched")
    assert again.finish() == 0
    assert fetched["resumed_from"] == have
    assert fetched["sha256"] == sha256_of(acct.remote) == sha256_of(acct.final)


def test_a_failing_hook_is_not_rerun_unless_asked(tmp_path: Path, sandbox: Sandbox) -> None:
    acct = Account(tmp_path, sandbox)
    acct.submit()
    hook, seen = write_hook(tmp_path)
    acct.config.write_text(acct.config.read_text() + f"on_fetched = {json.dumps(hook)}\n")

    def watch(*args: str, hook_exit: str = "0") -> list[dict[str, Any]]:
        w = Watching(["--config", str(acct.config), "watch", "--json", "--exit-when-idle", *args],
                     env_for(acct.home, HOOK_EXIT=hook_exit, **acct.env))
        assert w.finish() == 0
        return [e for e in w.seen if e["event"] == "hook"]

    (failed,) = watch(hook_exit="3")
    assert failed["batch_id"] == acct.batch_id and failed["exit"] == 3 and failed["level"] == "error"
    assert "--rerun-hooks" in failed["message"] and failed["output"] == [f"hook saw batch {acct.batch_id}"]
    assert watch() == [], "a failed hook is not run again by itself"
    (rerun,) = watch("--rerun-hooks")
    assert rerun["batch_id"] == acct.batch_id and rerun["exit"] == 0
    assert watch("--rerun-hooks") == [], "a hook that succeeded is done"
    (env,) = [json.loads(p.read_text()) for p in seen.glob("*.json")]
    assert env["ETTUI_BATCH_ID"] == acct.batch_id and env["ETTUI_FILE"] == str(acct.final)


def test_a_running_watcher_picks_up_a_job_submitted_elsewhere_and_stops_on_sigterm(tmp_path: Path, sandbox: Sandbox) -> None:
    acct = Account(tmp_path, sandbox)
    watcher = acct.watch()
    assert watcher.next("watching")["live"] == 0
    batch_id = acct.submit(wait=False)
    assert watcher.next("submitted")["batch_id"] == batch_id
    assert watcher.next("landed")["batch_id"] == batch_id
    fetched = watcher.next("fetched")
    acct.locate(fetched["file"])
    assert fetched["batch_id"] == batch_id and fetched["sha256"] == sha256_of(acct.final) == sha256_of(acct.remote)
    statuses = [e["status"] for e in watcher.seen if e["event"] == "status"]
    assert statuses and statuses[-1] == "Complete"
    watcher.proc.send_signal(signal.SIGTERM)
    assert watcher.finish() == 0
    assert watcher.seen[-1]["event"] == "stopped"


# -- the watcher service in this process ---------------------------------------------------


def make_zip(path: Path) -> None:
    import zipfile

    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("export.xml", "<exacttarget><record><EmailAddress>a@example.org</EmailAddress></record></exacttarget>")


async def test_unknown_drop_files_named_like_the_vendor_are_fetched_once_and_a_slow_hook_is_killed(tmp_path: Path) -> None:
    import dataclasses

    from ettui import config as config_mod
    from ettui.watch import Watcher, WatchEvent

    root = tmp_path / "sb"
    vendor = "bulkasync_10012345_20260101093012345_1.zip"
    older = "bulkasync_10012345_20260101093012999_1.zip"  # sorts after, but landed an hour earlier
    make_zip(root / "drop" / vendor)
    make_zip(root / "drop" / older)
    hour_ago = time.time() - 3600
    os.utime(root / "drop" / older, (hour_ago, hour_ago))
    make_zip(root / "drop" / "someone_elses_notes.zip")
    profile = dataclasses.replace(
        config_mod.sandbox_profile(), auto_fetch=True, auto_fetch_unknown=True, download_dir=str(tmp_path / "dl"),
        on_fetched=f"{sys.executable} -c 'import time; print(\"slow\", flush=True); time.sleep(60)'",
    )
    cfg = config_mod.Config(path=tmp_path / "none.toml", exists=False, default_profile="sandbox", profiles={"sandbox": profile})
    options = SandboxOptions(root=root, scheduled_seconds=0.2, processing_seconds=0.2)

    async def watch() -> tuple[int, list[WatchEvent]]:
        seen: list[WatchEvent] = []
        watcher = Watcher(cfg, None, emit=seen.append, exit_when_idle=True, store_path=tmp_path / "jobs.sqlite3",
                          sandbox_options=options, hook_timeout=1.0)
        return await watcher.run(), seen

    code, seen = await watch()
    assert code == 0
    fetched = [e for e in seen if e.kind == "fetched"]
    assert [e.file for e in fetched] == [older, vendor], "oldest-expiring first"
    assert all(e.batch_id is None for e in fetched)
    assert (tmp_path / "dl" / vendor).exists() and not (tmp_path / "dl" / "someone_elses_notes.zip").exists()
    hooks = [e for e in seen if e.kind == "hook"]
    assert len(hooks) == 2
    assert all(h.details["status"] == "timeout" and h.details["output"] == ["slow"] and h.level == "error" for h in hooks)

    code, seen = await watch()
    assert code == 0 and [e.kind for e in seen] == ["watching", "idle"], "fetched once, and the timed-out hook is not rerun"


def test_an_unknown_host_key_is_never_trusted_by_the_watcher(tmp_path: Path, sandbox: Sandbox) -> None:
    acct = Account(tmp_path, sandbox)
    (tmp_path / "known_hosts").write_text("")
    done = run(["--config", str(acct.config), "watch", "--exit-when-idle", "--json"], acct.home, env=acct.env)
    assert done.returncode == 6, done.stderr
    failures = kinds(events(done.stdout), "failed")
    assert [f["attempts"] for f in failures] == [1, 2, 3] and failures[-1]["retry_in"] is None
    fingerprint = sandbox.info.host_key_fingerprint
    assert all(f"drop ls --accept-host-key {fingerprint}" in f["message"] for f in failures)
    assert (tmp_path / "known_hosts").read_text() == "", "nothing trusted"
    error = json.loads(done.stderr.strip().splitlines()[-1])  # with --json, the error is one JSON object on stderr
    assert error["exit_code"] == 6 and error["error"].startswith("The host key of")


def test_a_hook_a_stop_interrupted_runs_again_at_the_next_start(tmp_path: Path, sandbox: Sandbox) -> None:
    acct = Account(tmp_path, sandbox)
    acct.submit()
    hook, seen = write_hook(tmp_path)
    acct.config.write_text(acct.config.read_text() + f"on_fetched = {json.dumps(hook)}\n")
    slow = Watching(["--config", str(acct.config), "watch", "--json"], env_for(acct.home, HOOK_SLEEP="60", **acct.env))
    slow.next("fetched")
    wait_until(lambda: (seen / "started").exists())
    slow.proc.send_signal(signal.SIGTERM)
    assert slow.finish() == 0
    assert not [e for e in slow.seen if e["event"] == "hook"] and not list(seen.glob("*.json")), "killed before it finished"

    again = Watching(["--config", str(acct.config), "watch", "--json", "--exit-when-idle"], env_for(acct.home, **acct.env))
    hook_event = again.next("hook")
    assert again.finish() == 0
    assert hook_event["batch_id"] == acct.batch_id and hook_event["exit"] == 0
    assert not [e for e in again.seen if e["event"] == "fetched"], "the file is not fetched again, only its hook is run"
    assert len(list(seen.glob("*.json"))) == 1


def test_exit_when_idle_does_not_wait_forever_for_a_job_it_cannot_check(tmp_path: Path, sandbox: Sandbox,
                                                                        faults: HideOnDrop) -> None:
    acct = Account(tmp_path, sandbox)
    batch_id = acct.submit(wait=False)
    faults.malformed_share = 1.0  # every status reply is cut off mid-document
    done = run(["--config", str(acct.config), "watch", "--exit-when-idle", "--json"], acct.home, env=acct.env)
    assert done.returncode == 6, done.stderr
    (failed,) = kinds(events(done.stdout), "failed")
    assert failed["batch_id"] == batch_id and "left for the next run" in failed["message"]
    faults.malformed_share = 0.0
    again = run(["--config", str(acct.config), "watch", "--exit-when-idle", "--json"], acct.home, env=acct.env)
    assert again.returncode == 0, again.stderr
    assert [e["batch_id"] for e in kinds(events(again.stdout), "fetched")] == [batch_id]


@pytest.mark.sqlite_file("it claims the fetch through the HOME's jobs.sqlite3 file")
def test_a_file_a_teammate_is_fetching_is_left_to_them_not_failed(tmp_path: Path, sandbox: Sandbox) -> None:
    """A fetch claim held by another process is not a failure: the watcher waits it out and fetches nothing."""
    acct = Account(tmp_path, sandbox)
    acct.submit()
    store_path = acct.home / "state" / "jobs.sqlite3"
    carol = "carol@laptop (pid 4242)"
    with JobStore(store_path) as store:
        (job,) = store.list()
        assert store.claim_fetch(job.id, holder=carol, lease_seconds=600) is None
    w = acct.watch("--exit-when-idle")
    left = w.next("elsewhere")
    assert left["batch_id"] == acct.batch_id and left["holder"] == carol and left["level"] == "info"
    # Carol's download ends: recorded, then her claim let go (the order Session.fetch keeps).
    with JobStore(store_path) as store:
        store.record_download(job.id, path="/home/carol/dl/out.zip", sha256="ab" * 32, fetched_by="carol@laptop")
        store.release_fetch(job.id, holder=carol)
    assert w.finish() == 0, w.stderr()
    assert w.stderr() == "", "no problem lines"
    assert not [e for e in w.seen if e["event"] in ("failed", "fetched")], w.seen
    assert [e["event"] for e in w.seen].count("elsewhere") == 1, "said once, not at every look"
    assert not acct.final.exists() and not acct.part.exists()
    with JobStore(store_path) as store:
        stored = store.get(job.id)
        assert stored is not None and stored.download_path == "/home/carol/dl/out.zip"
