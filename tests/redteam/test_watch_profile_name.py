"""``ettui watch`` printed the profile name raw: a shared config's name wrote the operator's clipboard."""

from __future__ import annotations

import json
from pathlib import Path

from tests.hostile.hostile import OSC52, assert_terminal_safe, run_cli

NAME = f"team{OSC52}\x9b2J"


def test_watch_lines_show_a_hostile_profile_name_escaped(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    toml_name = json.dumps(NAME)  # a TOML basic string spells escapes as JSON does
    config.write_text(f"[profiles.{toml_name}]\nsandbox = true\nauto_fetch = true\n")
    config.chmod(0o600)
    done = run_cli(["watch", "--config", str(config), "--exit-when-idle"], tmp_path / "home", timeout=60)
    assert done.returncode == 0, done.stderr
    assert_terminal_safe(done.stdout, "watch stdout")
    assert_terminal_safe(done.stderr, "watch stderr")
    assert b"team\\x1b]52;c;" in done.stdout, done.stdout
    as_json = run_cli(["watch", "--config", str(config), "--exit-when-idle", "--json"], tmp_path / "home", timeout=60)
    assert_terminal_safe(as_json.stdout + as_json.stderr, "watch --json")
    assert NAME in {json.loads(line)["profile"] for line in as_json.stdout.splitlines()}  # --json stays exact
