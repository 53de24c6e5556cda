"""Every bad config value is refused at load with one sentence naming file, profile or table, and key."""

from __future__ import annotations

import ast
import dataclasses
import inspect
import itertools
import re
from pathlib import Path

import pytest

from ettui import config, config_rules, keys
from ettui.errors import ConfigError, ConfigProblems


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    path.chmod(0o600)
    return path


P = "[profiles.prod]\n"

# (config text, where the sentence must point: profile or table, the key, what is wrong)
BAD_VALUES = [
    (P + "sftp_port = 99999999\n", "profile 'prod'", "`sftp_port`", "between 1 and 65535"),
    (P + "sftp_port = 0\n", "profile 'prod'", "`sftp_port`", "between 1 and 65535"),
    (P + "sftp_port = 'twenty-two'\n", "profile 'prod'", "`sftp_port`", "whole number"),
    (P + "drop_protocol = 'ftp'\n", "profile 'prod'", "`drop_protocol`", 'must be "sftp" or "ftps"'),
    (P + "ftps_port = 70000\n", "profile 'prod'", "`ftps_port`", "between 1 and 65535"),
    (P + "ftps_port = 0\n", "profile 'prod'", "`ftps_port`", "between 1 and 65535"),
    (P + "ftps_password_env = 'X'\nftps_password_command = 'pass x'\n", "profile 'prod'", "`ftps_password_env`", "FTPS password"),
    (P + "ftps_password = 'hunter2'\n", "profile 'prod'", "`ftps_password`", "must not hold the secret"),
    (P + "connect_timeout = -1\n", "profile 'prod'", "`connect_timeout`", "more than 0"),
    (P + "request_deadline = inf\n", "profile 'prod'", "`request_deadline`", "finite number"),
    (P + "read_timeout = nan\n", "profile 'prod'", "`read_timeout`", "finite number"),
    (P + "read_timeout = 0\n", "profile 'prod'", "`read_timeout`", "more than 0"),
    (P + "request_deadline = -5\n", "profile 'prod'", "`request_deadline`", "more than 0"),
    (P + "transfer_stall_timeout = 0\n", "profile 'prod'", "`transfer_stall_timeout`", "more than 0"),
    (P + "max_reply_bytes = 0\n", "profile 'prod'", "`max_reply_bytes`", "at least 1"),
    (P + "submit_retries = -1\n", "profile 'prod'", "`submit_retries`", "at least 0"),
    (P + "sftp_max_connections = 0\n", "profile 'prod'", "`sftp_max_connections`", "at least 1"),
    (P + "drop_max_connections = 0\n", "profile 'prod'", "`drop_max_connections`", "at least 1"),
    (P + "drop_max_connections = 4\nsftp_max_connections = 4\n", "profile 'prod'", "`sftp_max_connections`", "older name"),
    (P + "retention_hours = 0\n", "profile 'prod'", "`retention_hours`", "more than 0"),
    (P + "export_retention_hours = -1\n", "profile 'prod'", "`export_retention_hours`", "more than 0"),
    (P + "poll_initial = 0\n", "profile 'prod'", "`poll_initial`", "more than 0"),
    (P + "poll_initial = 10\npoll_max = 5\n", "profile 'prod'", "`poll_max`", "at least poll_initial"),
    (P + "poll_concurrency = 0\n", "profile 'prod'", "`poll_concurrency`", "at least 1"),
    (P + "dialect = 'rest'\n", "profile 'prod'", "`dialect`", '"xml" or "soap"'),
    (P + "soap_auth = 'basic'\n", "profile 'prod'", "`soap_auth`", "usernametoken"),
    (P + "sandbox = 'yes'\n", "profile 'prod'", "`sandbox`", "true or false"),
    (P + "endpoint = 5\n", "profile 'prod'", "`endpoint`", "a string"),
    (P + "soap_auth = 'oauth'\nclient_id = 'abc'\n", "profile 'prod'", "`soap_auth`",
     "auth_url, client_secret_env, _command or _keyring are not set"),
    (P + "frobnicate = 1\n", "profile 'prod'", "`frobnicate`", "unknown key"),
    (P + "api_password = 'hunter2'\n", "profile 'prod'", "`api_password`", "must not hold the secret"),
    (P + "api_password_env = 'PW'\napi_password_command = 'pass show et'\n", "profile 'prod'",
     "`api_password_env` and `api_password_command`", "both set"),
    (P + "sftp_password_env = 'PW'\nsftp_password_keyring = 'et:ops'\n", "profile 'prod'",
     "`sftp_password_env` and `sftp_password_keyring`", "both set"),
    (P + "api_password_command = \"pass show 'et/api\"\n", "profile 'prod'", "`api_password_command`",
     "cannot be read as a command"),
    (P + "client_secret_command = '  '\n", "profile 'prod'", "`client_secret_command`", "is empty"),
    (P + "api_password_keyring = 'no-colon'\n", "profile 'prod'", "`api_password_keyring`", "service:username"),
    (P + "api_password_env = 5\n", "profile 'prod'", "`api_password_env`", "a string"),
    ("[profiles]\nprod = 5\n", "profile 'prod'", "", "must be a table"),
    ("default_profile = 'nope'\n", "", "`default_profile`", "not a profile"),
    ("colour = 'red'\n", "", "`colour`", "unknown top-level key"),
    ("[ui]\nkeymap = 'R'\n", "[ui]", "`keymap`", "table of binding id"),
    ("[ui]\nkeymap = { poll_now = 5 }\n", "[ui]", "`keymap.poll_now`", "key string"),
    ("[ui]\nkeymap = { poll_nwo = 'f5' }\n", "[ui]", "`keymap.poll_nwo`", "not a binding id"),
    ("[ui]\nkeymap = { poll_now = 'ctrl+' }\n", "[ui]", "`keymap.poll_now`", "not a key"),
    ("[ui]\nkeymap = { poll_now = 'hyperspace' }\n", "[ui]", "`keymap.poll_now`", "not a key"),
    ("[ui]\nkeymap = { poll_now = '' }\n", "[ui]", "`keymap.poll_now`", "is empty"),
    ("[ui]\nkeymap = { poll_now = 'R' }\n", "[ui]", "`keymap`", "'R' on both poll_now and refresh_drop"),
    ("[ui]\nkeymap = { download = 'f5', extract = 'f5' }\n", "[ui]", "`keymap`", "'f5' on both download and extract"),
    ("[ui]\ntheme = 'solarised-dark'\n", "[ui]", "`theme`", "not a theme"),
    ("[ui]\ntheme = 3\n", "[ui]", "`theme`", "a string"),
    ("[ui]\nexpiring_soon_hours = 'six'\n", "[ui]", "`expiring_soon_hours`", "a number"),
    ("[ui]\nexpiring_soon_hours = 0\n", "[ui]", "`expiring_soon_hours`", "more than 0"),
    ("[ui]\nbell = 1\n", "[ui]", "`bell`", "true or false"),
    ("[ui]\ncolour = 'red'\n", "[ui]", "`colour`", "unknown key"),
    ("ui = 5\n", "", "[ui]", "must be a table"),
    ("[sandbox]\ntime_scale = 'fast'\n", "[sandbox]", "`time_scale`", "a number"),
    ("[sandbox]\ntime_scale = 0\n", "[sandbox]", "`time_scale`", "more than 0"),
    ("[sandbox]\ntime_scale = -1\n", "[sandbox]", "`time_scale`", "more than 0"),
    ("[sandbox]\nscheduled_seconds = -1\n", "[sandbox]", "`scheduled_seconds`", "at least 0"),
    ("[sandbox]\nprocessing_seconds = -0.5\n", "[sandbox]", "`processing_seconds`", "at least 0"),
    ("[sandbox]\nrecords = -1\n", "[sandbox]", "`records`", "at least 0"),
    ("[sandbox]\nrecords = 2.5\n", "[sandbox]", "`records`", "whole number"),
    ("[sandbox]\nerror_share = 1.5\n", "[sandbox]", "`error_share`", "between 0 and 1"),
    ("[sandbox]\nerror_share = -0.1\n", "[sandbox]", "`error_share`", "between 0 and 1"),
    ("[sandbox]\nseed = 'x'\n", "[sandbox]", "`seed`", "whole number"),
]


@pytest.mark.parametrize(("text", "where", "key", "wrong"), BAD_VALUES,
                         ids=[t.strip().replace("\n", " | ") for t, *_ in BAD_VALUES])
def test_bad_value_is_one_sentence_naming_file_place_and_key(tmp_path: Path, text: str, where: str, key: str, wrong: str) -> None:
    path = write(tmp_path, text)
    checked, problems = config.check(path)
    assert checked is None and len(problems) == 1, problems
    (sentence,) = problems
    assert sentence.startswith(f"{path}, {where}: " if where else f"{path}: "), sentence
    assert key in sentence and wrong in sentence, sentence
    assert sentence.endswith(".") and "\n" not in sentence
    with pytest.raises(ConfigError) as refused:
        config.load(path)
    assert refused.value.message == sentence, "load() refuses with the same sentence as config check"


def test_check_reports_every_problem_in_file_order(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
[profiles.a]
sftp_port = 99999999
connect_timeout = -1
[profiles.b]
api_password_env = "PW"
api_password_command = "pass show et"
[ui]
theme = "nope"
expiring_soon_hours = "six"
[sandbox]
time_scale = 0
""",
    )
    _, problems = config.check(path)
    keys_in_order = ["`sftp_port`", "`connect_timeout`", "`api_password_env`", "`theme`", "`expiring_soon_hours`", "`time_scale`"]
    assert len(problems) == len(keys_in_order)
    for sentence, key in zip(problems, keys_in_order, strict=True):
        assert key in sentence
    with pytest.raises(ConfigProblems) as refused:
        config.load(path)
    assert refused.value.problems == problems


def test_a_named_file_that_does_not_exist_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    absent = tmp_path / "typo.toml"
    with pytest.raises(ConfigError, match="does not exist"):
        config.load(absent)
    monkeypatch.setenv("ETTUI_CONFIG", str(absent))
    with pytest.raises(ConfigError, match=re.escape(str(absent))):
        config.load()


def test_good_values_at_the_edges_are_accepted(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
[profiles.prod]
sftp_port = 65535
submit_retries = 0
sftp_max_connections = 3
api_password_command = "pass show 'et/api key'"
[ui]
theme = "nord"
keymap = { poll_now = "f5", download = "ctrl+d, f6", help = "?" , "output.copy" = "c", filter = "ctrl+slash" }
[sandbox]
time_scale = 0.5
error_share = 1
records = 0
scheduled_seconds = 0
""",
    )
    cfg = config.load(path)
    assert cfg.profile("prod").sftp_port == 65535
    assert cfg.profile("prod").drop_max_connections == 3, "the older key name still works"
    assert cfg.ui.theme == "nord" and cfg.ui.keymap["download"] == "ctrl+d,f6"
    assert cfg.ui.keymap["help"] == "question_mark", "stored as Textual matches it"
    assert cfg.sandbox.error_share == 1.0


def test_question_mark_and_its_name_are_one_key(tmp_path: Path) -> None:
    _, problems = config.check(write(tmp_path, "[ui]\nkeymap = { filter = '?' }\n"))
    assert len(problems) == 1 and "'question_mark' on both help and filter" in problems[0]


@pytest.mark.parametrize("cls", [config.Profile, config.UiSettings, config.SandboxSettings])
def test_every_field_has_a_docstring_a_checked_type_and_a_row_in_the_docs(cls: type) -> None:
    """A new field is validated by default: its annotation must be one the checker knows."""
    tree = ast.parse(inspect.getsource(cls))
    body = tree.body[0].body  # type: ignore[attr-defined]
    documented = {
        node.target.id
        for node, following in itertools.pairwise(body)
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
        and isinstance(following, ast.Expr) and isinstance(following.value, ast.Constant)
    }
    docs = (Path(__file__).parents[2] / "docs" / "config.md").read_text(encoding="utf-8")
    for f in dataclasses.fields(cls):
        assert f.name in documented, f"{cls.__name__}.{f.name} has no docstring"
        if f.name == "name":
            continue
        assert f"`{f.name}" in docs, f"docs/config.md has no row for {f.name}"
        if str(f.type) in ("SecretSource", "dict[str, str]"):
            continue  # checked by their own code (secret sources, the keymap)
        config_rules.typed_value(f.default, str(f.type))  # raises TypeError for a type with no check


def test_rules_name_only_real_fields() -> None:
    tables = {"profiles": config.Profile, "ui": config.UiSettings, "sandbox": config.SandboxSettings}
    for section, rules in config_rules.RULES.items():
        names = {f.name for f in dataclasses.fields(tables[section])}
        assert set(rules) <= names, section


@pytest.mark.parametrize(("keys_text", "ok"), [("r", True), ("ctrl+r", True), ("escape,q", True), ("question_mark", True),
                                               ("f12", True), ("shift+tab", True), ("slash", True), ("ctrl+minus", True),
                                               ("ctrl+", False), ("f99", False),
                                               ("nokey", False), (" ", False), ("a,,b", False)])
def test_key_strings(keys_text: str, ok: bool) -> None:
    assert (keys.key_problem(keys_text) is None) is ok


def test_the_config_layer_and_config_check_never_import_textual(tmp_path: Path) -> None:
    """DESIGN.md's layer rule: the names the check needs come from ettui.keys, not from textual."""
    import subprocess
    import sys

    path = write(tmp_path, "[ui]\ntheme = 'nord'\nkeymap = { poll_now = 'f5' }\n")
    code = ("import sys\nfrom ettui.cli import main\n"
            f"assert main(['--config', {str(path)!r}, 'config', 'check']) == 0\n"
            "assert not [m for m in sys.modules if m.startswith('textual')], 'textual was imported'\n")
    done = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_docs_config_md_is_generated_from_the_field_docstrings() -> None:
    """Run ``python -m ettui.tools.config_doc --write`` after changing a field, its docstring or a rule."""
    from ettui.tools import config_doc

    page = config_doc.DOC.read_text(encoding="utf-8")
    assert config_doc.written(page) == page
