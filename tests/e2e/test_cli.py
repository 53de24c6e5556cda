"""The headless commands as a user runs them: real subprocesses, real sockets."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any


def run(
    args: list[str], home: Path, timeout: float = 90, extra_env: dict[str, str] | None = None, **kw: Any
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ETTUI_HOME": str(home), "PYTHONUNBUFFERED": "1", **(extra_env or {})}
    env.pop("ETTUI_CONFIG", None)
    return subprocess.run(
        [sys.executable, "-m", "ettui", *args], capture_output=True, text=True, timeout=timeout, env=env, **kw  # type: ignore[arg-type]
    )


def test_version_and_help(tmp_path: Path) -> None:
    done = run(["--version"], tmp_path)
    assert done.returncode == 0 and done.stdout.startswith("ettui ")
    helped = run(["--help"], tmp_path)
    assert helped.returncode == 0
    for command in ("submit", "status", "jobs", "drop", "fetch", "preview", "sandbox", "demo"):
        assert command in helped.stdout


def test_demo_end_to_end(tmp_path: Path) -> None:
    done = run(["demo", "--json", "--root", str(tmp_path / "demo")], tmp_path)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["status"] == "Complete"
    assert summary["records"] == 500
    assert summary["file"].startswith("bulkasync_10012345_") and summary["file"].endswith("_1.zip")
    assert len(summary["sha256"]) == 64
    assert summary["first_records"] and "EmailAddress" in summary["first_records"][0]


def test_config_path_and_check(tmp_path: Path) -> None:
    done = run(["config", "path", "--json"], tmp_path)
    assert done.returncode == 0
    where = json.loads(done.stdout)
    assert where["job_store"].startswith(str(tmp_path))
    checked = run(["config", "check"], tmp_path)
    assert checked.returncode == 0 and "sandbox" in checked.stdout


def test_bad_config_is_one_sentence_with_its_exit_code(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text("[profiles.prod]\napi_password = 'hunter2'\n")
    done = run(["--config", str(cfg), "jobs"], tmp_path)
    assert done.returncode == 7
    assert "Traceback" not in done.stderr
    assert "api_password_env" in done.stderr and "hunter2" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_validation_error_exit_code_and_nothing_recorded(tmp_path: Path) -> None:
    done = run(["submit", "C1", "-p", "start_date=3/9/2024", "-p", "end_date=3/1/2024"], tmp_path)
    assert done.returncode == 3, done.stderr
    assert "Traceback" not in done.stderr
    assert "end" in done.stderr.lower()
    listed = run(["jobs", "--json"], tmp_path)
    assert listed.returncode == 0 and json.loads(listed.stdout) == []


def test_usage_errors(tmp_path: Path) -> None:
    assert run(["submit", "C1", "-p", "no-equals-sign"], tmp_path).returncode == 2
    assert run(["jobs", "--since", "yesterday-ish"], tmp_path).returncode == 2
    assert run(["status", "999999"], tmp_path).returncode == 2


def test_submit_and_jobs_json(tmp_path: Path) -> None:
    done = run(["submit", "C3", "--json"], tmp_path)
    assert done.returncode == 0, done.stderr
    job = json.loads(done.stdout)
    assert job["status"] == "Scheduled" and job["batch_id"].isdigit()
    assert "sandbox-secret" not in job.get("history", "") and "sandbox-secret" not in done.stdout
    listed = json.loads(run(["jobs", "--json"], tmp_path).stdout)
    assert [j["batch_id"] for j in listed] == [job["batch_id"]]


def test_preview_formats(tmp_path: Path) -> None:
    xml = tmp_path / "out.xml"
    xml.write_text(
        "<exacttarget><tracking>"
        + "".join(f"<record><EmailAddress>a{i}@example.org</EmailAddress><EventType>Open</EventType></record>" for i in range(5))
        + "</tracking></exacttarget>"
    )
    table = run(["preview", str(xml), "--limit", "2"], tmp_path)
    assert table.returncode == 0 and "a0@example.org" in table.stdout and "a2@" not in table.stdout
    csv_out = run(["preview", str(xml), "--format", "csv", "--limit", "3"], tmp_path)
    assert csv_out.stdout.splitlines()[0] == "EmailAddress,EventType"
    assert len(csv_out.stdout.splitlines()) == 4
    jsonl = run(["preview", str(xml), "--format", "jsonl", "--limit", "0"], tmp_path)
    assert [json.loads(line)["EmailAddress"] for line in jsonl.stdout.splitlines()] == [f"a{i}@example.org" for i in range(5)]
    missing = run(["preview", str(tmp_path / "nope.xml")], tmp_path)
    assert missing.returncode == 2 and "does not exist" in missing.stderr


def test_submit_then_watch_in_separate_processes(tmp_path: Path) -> None:
    """Each command starts its own sandbox on one root; the queue is shared through its journal."""
    cfg = tmp_path / "config.toml"
    cfg.write_text("[sandbox]\nscheduled_seconds = 0.5\nprocessing_seconds = 0.5\n")
    cfg.chmod(0o600)
    c1 = run(["--config", str(cfg), "submit", "C1", "-p", "start_date=-7d", "-p", "end_date=today"], tmp_path)
    c3 = run(["--config", str(cfg), "submit", "C3"], tmp_path)
    assert c1.returncode == 0 and c3.returncode == 0, c1.stderr + c3.stderr
    ids = [c1.stdout.strip(), c3.stdout.strip()]
    assert ids[0] != ids[1]
    watched = run(["--config", str(cfg), "status", "--watch", "--timeout", "60", *ids], tmp_path)
    assert watched.returncode == 0, watched.stderr
    final = json.loads(run(["--config", str(cfg), "status", "--json", *ids], tmp_path).stdout)
    assert [j["status"] for j in final] == ["Complete", "Complete"]
    assert all(j["file_name"] and j["file_name"].endswith("_1.zip") for j in final)
    assert [h["status"] for h in final[0]["history"]][-1] == "Complete"
    from datetime import datetime, timedelta

    done_at = datetime.fromisoformat(final[0]["status_changed_at"])
    assert datetime.fromisoformat(final[0]["expires_at"]) - done_at == timedelta(hours=72)
    fetched = run(["--config", str(cfg), "fetch", ids[1], "--json", "--dest", str(tmp_path / "dl")], tmp_path)
    assert fetched.returncode == 0, fetched.stderr
    out = json.loads(fetched.stdout)
    assert Path(out["zip_path"]).exists() and out["files"] and Path(out["files"][0]).suffix == ".xml"


def test_demo_through_soap(tmp_path: Path) -> None:
    done = run(["demo", "--api", "soap", "--json", "--root", str(tmp_path / "demo")], tmp_path)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["status"] == "Complete"
    assert summary["file"] == "ettui_demo_tracking.zip"
    assert summary["records"] > 0 and "EmailAddress" in summary["first_records"][0]


def test_soap_tracking_extract_submit_watch_fetch(tmp_path: Path) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text("[sandbox]\nscheduled_seconds = 0.5\nprocessing_seconds = 0.5\n")
    cfg.chmod(0o600)
    base = ["--config", str(cfg)]
    sub = run([*base, "submit", "tracking-extract", "--api", "soap", "-p", "StartDate=-7d", "-p", "EndDate=today",
               "-p", "OutputFileName=ops_week.zip"], tmp_path)
    assert sub.returncode == 0, sub.stderr
    request_id = sub.stdout.strip()
    assert len(request_id) == 36, "the SOAP RequestID (a GUID) is the batch ID"
    watched = run([*base, "status", "--watch", "--timeout", "60", "--api", "soap", request_id], tmp_path)
    assert watched.returncode == 0, watched.stderr
    (job,) = json.loads(run([*base, "jobs", "--json", "--api", "soap"], tmp_path).stdout)
    assert job["status"] == "Complete" and job["file_name"] == "ops_week.zip" and job["profile"] == "sandbox-soap"
    listed = json.loads(run([*base, "drop", "ls", "--json", "--api", "soap"], tmp_path).stdout)
    (entry,) = [f for f in listed if f["name"] == "ops_week.zip"]
    assert entry["path"] == "/Export/ops_week.zip" and entry["batch_id"] == request_id
    assert 20 * 86400 < entry["seconds_left"] <= 21 * 86400
    fetched = run([*base, "fetch", request_id, "--api", "soap", "--json", "--dest", str(tmp_path / "dl")], tmp_path)
    assert fetched.returncode == 0, fetched.stderr
    files = [Path(p).name for p in json.loads(fetched.stdout)["files"]]
    assert "Sent.csv" in files
    preview = run(["preview", str(tmp_path / "dl" / "ops_week.zip"), "--member", "Opens.csv",
                   "--format", "jsonl", "--limit", "1"], tmp_path)
    assert preview.returncode == 0 and json.loads(preview.stdout)["EventType"] == "Open"


def test_drop_ls_shows_expiry_in_the_configured_time_zone(tmp_path: Path) -> None:
    """`[ui] time_zone` decides the absolute EXPIRES column; unset, the computer's zone (TZ) does."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from ettui.config import absolute_time

    settings = "[sandbox]\nscheduled_seconds = 0.2\nprocessing_seconds = 0.2\n"
    cfg, local = tmp_path / "config.toml", tmp_path / "local.toml"
    cfg.write_text(settings + '[ui]\ntime_zone = "Asia/Kolkata"\n')
    local.write_text(settings)
    batch = run(["--config", str(cfg), "submit", "C3"], tmp_path).stdout.strip()
    assert run(["--config", str(cfg), "status", "--watch", "--timeout", "60", batch], tmp_path).returncode == 0
    (entry,) = json.loads(run(["--config", str(cfg), "drop", "ls", "--json"], tmp_path).stdout)
    expires = datetime.fromisoformat(entry["expires_at"])
    for path, env, zone in ((cfg, {}, "Asia/Kolkata"), (local, {"TZ": "America/New_York"}, "America/New_York")):
        done = run(["--config", str(path), "drop", "ls"], tmp_path, extra_env=env)
        header, row = done.stdout.splitlines()
        assert header.split() == ["NAME", "SIZE", "AGE", "TIME", "LEFT", "EXPIRES", "BATCH"]
        shown = absolute_time(expires, ZoneInfo(zone))
        assert shown in row and row.rstrip().endswith(batch), (row, shown)
        assert shown.endswith(("IST", "EST", "EDT"))
