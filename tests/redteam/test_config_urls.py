"""``config check`` said "config ok" for an endpoint the API then refused at the first call."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.hostile.hostile import assert_terminal_safe, run_cli

_PROFILE = """[profiles.p]
dialect = "{dialect}"
{key} = "{url}"
api_username = "u"
api_password_env = "PW"
"""


@pytest.mark.parametrize(
    ("dialect", "key", "url"),
    [
        ("xml", "endpoint", "ftp://example.com/integrate.aspx"),
        ("xml", "endpoint", "integrate.aspx"),
        ("xml", "endpoint", "http://127.0.0.1:9/x\\u001b]52;c;cm0gLXJmIH4K\\u001b\\\\"),
        ("soap", "soap_url", "file:///etc/passwd"),
        ("soap", "soap_url", "https://h:99999/Service.asmx"),
    ],
)
def test_config_check_refuses_an_endpoint_that_is_not_http(tmp_path: Path, dialect: str, key: str, url: str) -> None:
    config = tmp_path / "c.toml"
    config.write_text(_PROFILE.format(dialect=dialect, key=key, url=url))
    config.chmod(0o600)
    done = run_cli(["--config", str(config), "config", "check"], tmp_path / "home", env={"PW": "x"})
    assert done.returncode != 0, done.stdout
    assert_terminal_safe(done.stdout + done.stderr, "config check")
    err = done.stderr.decode()
    assert f"profile 'p': `{key}` must" in err and str(config) in err, err
    # ...and the app refuses to start the same way (not a failure at the first call).
    calls = run_cli(["--config", str(config), "--profile", "p", "calls"], tmp_path / "home", env={"PW": "x"})
    assert f"`{key}` must" in calls.stderr.decode(), calls.stderr


def test_a_good_endpoint_is_still_accepted(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text(_PROFILE.format(dialect="xml", key="endpoint", url="https://api.s7.exacttarget.com:8443/integrate.aspx"))
    config.chmod(0o600)
    done = run_cli(["--config", str(config), "config", "check"], tmp_path / "home", env={"PW": "x"})
    assert done.returncode == 0, done.stderr
