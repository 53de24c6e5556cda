"""`ettui config check` and every command refuse a bad config the same way: one sentence per problem."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ettui.cli import main

BAD = """
[profiles.a]
sftp_port = 99999999
api_password_command = "pass show 'et"
[ui]
keymap = "R"
theme = "solarised"
[sandbox]
time_scale = "fast"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    path.chmod(0o600)
    return path


def test_check_reports_every_problem_in_file_order_and_exits_7(tmp_path: Path) -> None:
    path = write(tmp_path, BAD)
    env = {**os.environ, "ETTUI_HOME": str(tmp_path / "home")}
    done = subprocess.run([sys.executable, "-m", "ettui", "--config", str(path), "config", "check"],
                          check=False, capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 7
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    expected = [("profile 'a'", "`sftp_port`"), ("profile 'a'", "`api_password_command`"), ("[ui]", "`keymap`"),
                ("[ui]", "`theme`"), ("[sandbox]", "`time_scale`")]
    assert len(lines) == len(expected) + 1, lines
    for line, (where, key) in zip(lines[:-1], expected, strict=True):
        assert line.startswith(f"ettui: {path}, {where}: ") and key in line, line
    assert "5 problems" in lines[-1]


def test_check_json_lists_the_problems(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, BAD)
    assert main(["--config", str(path), "config", "check", "--json"]) == 7
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is False and len(report["problems"]) == 5


@pytest.mark.parametrize("command", [["jobs"], ["calls"], ["submit", "C1"], ["status"], ["drop", "ls"], ["fetch", "1"],
                                     ["preview", "x.zip"], ["sandbox", "--json"], ["demo"], []])
def test_every_command_and_the_app_refuse_with_the_same_sentences(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    path = write(tmp_path, BAD)
    main(["--config", str(path), "config", "check"])
    checked = capsys.readouterr().err.strip().splitlines()[:-1]
    assert main(["--config", str(path), *command]) == 7
    err = capsys.readouterr().err
    assert "Traceback" not in err
    if "--json" in command:  # the same sentences, as the one JSON error object on stderr
        error = json.loads(err)
        assert error["exit_code"] == 7 and error["title"] == "Configuration problems"
        refused = [f"ettui: {line}" for line in error["error"].splitlines()]
    else:
        refused = [line if line.startswith("ettui: ") else f"ettui: {line}" for line in err.strip().splitlines()]
    assert refused == checked


def test_a_config_file_that_does_not_exist_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    absent = tmp_path / "typo.toml"
    for command in (["config", "check"], ["jobs"]):
        assert main(["--config", str(absent), *command]) == 7
        err = capsys.readouterr().err
        assert str(absent) in err and "does not exist" in err
    monkeypatch.setenv("ETTUI_CONFIG", str(absent))
    assert main(["jobs"]) == 7
    assert "does not exist" in capsys.readouterr().err


def test_the_default_location_may_be_absent(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "check"]) == 0
    assert "built-in sandbox" in capsys.readouterr().out


@pytest.mark.parametrize(("flags", "fragment"), [(["--time-scale", "0"], "--time-scale must be more than 0"),
                                                 (["--time-scale", "-1"], "--time-scale must be more than 0"),
                                                 (["--sftp-port", "99999999"], "--sftp-port must be between 0")])
def test_sandbox_flags_follow_the_config_rules(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                               flags: list[str], fragment: str) -> None:
    assert main(["sandbox", "--root", str(tmp_path / "sb"), *flags]) == 2
    err = capsys.readouterr().err
    assert fragment in err and len(err.strip().splitlines()) == 1
