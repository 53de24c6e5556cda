"""Profiles and settings, read from TOML: loading and validation (the model is ``ettui.config_model``, re-exported here).

The file is ``config.toml`` in the platformdirs config dir, or ``ETTUI_CONFIG``,
or ``--config PATH``. With no file the built-in ``sandbox`` profile is used.
Secrets are never values in the file: a profile names a *source* (an
environment variable, a command whose stdout is the secret, or an OS keyring
entry). A config file
that is group- or world-readable and names a secret command still works, but a
file holding something that looks like a literal secret is refused.

Every key is documented in ``docs/config.md``, whose key tables are written
from the field docstrings of ``Profile``, ``UiSettings`` and
``SandboxSettings`` in ``ettui.config_model`` (``python -m
ettui.tools.config_doc --write``; a test fails when the page is stale or a
field has no docstring).

Adding a key: give the field a type and a docstring, and it is type-checked
by ``load()`` and ``ettui config check`` with no other change; put a range or
a set of choices in ``ettui.config_rules.RULES``. Cross-key checks go at the end of ``_profile``.
"""

from __future__ import annotations

import dataclasses
import shlex
import tomllib
from pathlib import Path
from typing import Any

from ettui import paths
from ettui.config_model import (
    SANDBOX,
    SANDBOX_SOAP,
    Config,
    Profile,
    SandboxSettings,
    SecretSource,
    StoreSettings,
    UiSettings,
    absolute_time,
    builtin_profiles,
    redact_url,
    sandbox_profile,
    zone_problem,
)
from ettui.config_rules import RULES, typed_value
from ettui.errors import ConfigProblems
from ettui.keys import BINDINGS, BUILTIN_THEMES, key_problem, key_set, normalise_keys

__all__ = [
    "SANDBOX",
    "SANDBOX_SOAP",
    "Config",
    "ConfigProblems",
    "Profile",
    "SandboxSettings",
    "SecretSource",
    "StoreSettings",
    "UiSettings",
    "absolute_time",
    "builtin_profiles",
    "check",
    "check_permissions",
    "load",
    "redact_url",
    "sandbox_profile",
]

_SECRET_KEYS = ("api_password", "sftp_password", "client_secret", "ftps_password")
_SECRET_SOURCES = ("env", "command", "keyring")
_OLD_NAMES = {"sftp_max_connections": "drop_max_connections"}
"""Profile keys renamed since they were documented, still read under the old name."""
_SECRET_NAMES = {
    "api_password": "API password",
    "sftp_password": "SFTP password",
    "client_secret": "OAuth client secret",
    "ftps_password": "FTPS password",
}


# -- validation ---------------------------------------------------------------
#
# One validation serves ``load()`` (which raises) and ``ettui config check``
# (which prints): it walks the file in order and collects every problem as one
# sentence naming the file, the profile or table, the key and what is wrong.
# A field's type comes from its annotation, so a new field with a type and a
# docstring is checked by default; a range or a set of choices goes in
# ``ettui.config_rules.RULES``.


class _Problems:
    """The problems found so far, in file order, each one finished sentence."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.items: list[str] = []

    def add(self, where: str | None, text: str) -> None:
        place = f"{self.path}, {where}" if where else str(self.path)
        self.items.append(f"{place}: {text}.")


def _fields(cls: type) -> dict[str, str]:
    """Field name -> annotation (a string, as ``from __future__ import annotations`` keeps it)."""
    return {f.name: str(f.type) for f in dataclasses.fields(cls)}


def _plain_value(
    problems: _Problems, where: str, section: str, key: str, value: Any, annotation: str, field_name: str | None = None
) -> Any:
    """The checked value of one ordinary key (``field_name`` when the key is an older name), or ``_BAD`` after
    recording why not."""
    value, wrong = typed_value(value, annotation)
    if wrong is None:
        rule = RULES.get(section, {}).get(field_name or key)
        broken = rule.problem(value) if rule else None
        if broken:
            wrong = f"{broken}, not {value!r}"
    if wrong:
        problems.add(where, f"`{key}` {wrong}")
        return _BAD
    return value


_BAD = object()


def _secret_key(key: str) -> tuple[str, str] | None:
    """(secret, source) for keys like ``api_password_command``."""
    for secret in _SECRET_KEYS:
        for source in _SECRET_SOURCES:
            if key == f"{secret}_{source}":
                return secret, source
    return None


def _secret_problem(source: str, value: str) -> str | None:
    if not value.strip():
        return "is empty"
    if source == "command":
        try:
            if not shlex.split(value):
                return "is empty"
        except ValueError as exc:
            return f"cannot be read as a command ({str(exc).lower()})"
    if source == "keyring":
        service, sep, username = value.partition(":")
        if not (sep and service and username):
            return f"should read service:username, not {value!r}"
    return None


def _url_problem(url: str) -> str | None:
    """``must be ...`` when ``url`` is not an http(s) URL the API layer would accept, else None."""
    from urllib.parse import urlsplit

    if any(ord(c) <= 0x20 or 0x7F <= ord(c) <= 0x9F for c in url):
        return f"must be an http(s) URL without spaces or control characters, not {url!r}"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return f"must be an http(s) URL, not {url!r}"
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return f"must be an http(s) URL with a host, not {url!r}"
    if port is not None and not 1 <= port <= 65535:
        return f"must name a port between 1 and 65535, not {url!r}"
    return None


def _profile(problems: _Problems, name: str, table: Any) -> Profile | None:
    where = f"profile {name!r}"
    if not isinstance(table, dict):
        problems.add(where, "must be a table of keys")
        return None
    fields = _fields(Profile)
    kwargs: dict[str, Any] = {"name": name}
    sources: dict[str, dict[str, str]] = {secret: {} for secret in _SECRET_KEYS}
    for key, value in table.items():
        secret = _secret_key(key)
        if key in _SECRET_KEYS:
            problems.add(where, f"`{key}` must not hold the secret itself; use `{key}_env`, `{key}_command` or `{key}_keyring`")
        elif secret:
            if not isinstance(value, str):
                problems.add(where, f"`{key}` should be a string, not {value!r}")
                continue
            wrong = _secret_problem(secret[1], value)
            if wrong:
                problems.add(where, f"`{key}` {wrong}")
            sources[secret[0]][secret[1]] = value
        elif key in fields and key != "name":
            checked = _plain_value(problems, where, "profiles", key, value, fields[key])
            if checked is not _BAD:
                kwargs[key] = checked
        elif key in _OLD_NAMES:
            new = _OLD_NAMES[key]
            if new in table:
                problems.add(where, f"`{key}` and `{new}` are both set; `{key}` is the older name of `{new}`, keep that one")
                continue
            checked = _plain_value(problems, where, "profiles", key, value, fields[new], new)
            if checked is not _BAD:
                kwargs[new] = checked
        else:
            problems.add(where, f"unknown key `{key}` (see docs/config.md)")
    for secret_name, given in sources.items():
        if len(given) > 1:
            keys = " and ".join(f"`{secret_name}_{source}`" for source in given)
            problems.add(where, f"{keys} are both set; keep one source for the {_SECRET_NAMES[secret_name]}")
        kwargs[secret_name] = SecretSource(**given)
    if kwargs.get("soap_auth") == "oauth" and not kwargs.get("sandbox") and name not in (SANDBOX, SANDBOX_SOAP):
        missing = [k for k in ("auth_url", "client_id") if not kwargs.get(k)]
        if not kwargs["client_secret"].configured:
            missing.append("client_secret_env, _command or _keyring")
        if missing:
            verb = "is" if len(missing) == 1 else "are"
            problems.add(where, f"`soap_auth` is \"oauth\" but {', '.join(missing)} {verb} not set")
    if not kwargs.get("sandbox") and name not in (SANDBOX, SANDBOX_SOAP):
        # The API refuses these at the first call; config check must say so first.
        for key in ("endpoint", "soap_url", "auth_url"):
            url = kwargs.get(key)
            if isinstance(url, str) and (wrong := _url_problem(url)):
                problems.add(where, f"`{key}` {wrong}")
    poll_initial = kwargs.get("poll_initial", Profile.poll_initial)
    if kwargs.get("poll_max", Profile.poll_max) < poll_initial:
        problems.add(where, f"`poll_max` must be at least poll_initial ({poll_initial:g})")
    return Profile(**kwargs)


def _keymap(problems: _Problems, value: Any) -> dict[str, str]:
    """The checked ``[ui] keymap``: known ids, well-formed keys, no key on two ids of one scope."""
    if not isinstance(value, dict):
        problems.add("[ui]", f"`keymap` should be a table of binding id = keys, e.g. {{ poll_now = \"ctrl+r\" }}, not {value!r}")
        return {}
    keymap: dict[str, str] = {}
    for binding, keys in value.items():
        if binding not in BINDINGS:
            problems.add("[ui]", f"`keymap.{binding}` is not a binding id (known: {', '.join(sorted(BINDINGS))})")
        elif not isinstance(keys, str):
            problems.add("[ui]", f"`keymap.{binding}` should be a key string such as \"f5\" or \"ctrl+r\", not {keys!r}")
        elif (wrong := key_problem(keys)) is not None:
            problems.add("[ui]", f"`keymap.{binding}` {wrong}")
        else:
            keymap[binding] = normalise_keys(keys)
    owners: dict[tuple[str, str], list[str]] = {}
    for binding, (scope, default) in BINDINGS.items():
        for key in key_set(keymap.get(binding, default)):
            owners.setdefault((scope, key), []).append(binding)
    for (_, key), ids in owners.items():
        if len(ids) > 1 and any(i in keymap for i in ids):
            problems.add("[ui]", f"`keymap` puts {key!r} on both {' and '.join(ids)}; give each its own key")
    return keymap


def _settings(problems: _Problems, section: str, cls: type, table: Any) -> Any:
    """``[ui]`` or ``[sandbox]``: every key typed and in range; bad ones keep their default."""
    where = f"[{section}]"
    if not isinstance(table, dict):
        problems.add(None, f"{where} must be a table of keys, not {table!r}")
        return cls()
    fields = _fields(cls)
    kwargs: dict[str, Any] = {}
    for key, value in table.items():
        if key not in fields:
            problems.add(where, f"unknown key `{key}` (see docs/config.md)")
        elif cls is UiSettings and key == "keymap":
            kwargs[key] = _keymap(problems, value)
        else:
            checked = _plain_value(problems, where, section, key, value, fields[key])
            if checked is _BAD:
                continue
            if cls is UiSettings and key == "theme" and checked not in BUILTIN_THEMES:
                problems.add(where, f"`theme` {checked!r} is not a theme (known: {', '.join(sorted(BUILTIN_THEMES))})")
                continue
            if cls is UiSettings and key == "time_zone" and (wrong := zone_problem(checked)):
                problems.add(where, f"`time_zone` {wrong}")
                continue
            kwargs[key] = checked
    return cls(**kwargs)


def _store(problems: _Problems, table: Any) -> StoreSettings:
    """The ``[store]`` table (team mode), every problem recorded; a bad table gives the local store."""
    where = "[store]"
    if not isinstance(table, dict):
        problems.add(where, "must be a table of keys")
        return StoreSettings()
    before = len(problems.items)
    sources: dict[str, str] = {}
    for key, value in table.items():
        if key == "password":
            problems.add(where, "`password` must not hold the secret itself; use `password_env` or `password_command`")
        elif key in ("password_env", "password_command", "password_keyring"):
            source = key.rsplit("_", 1)[1]
            broken = "should be a string" if not isinstance(value, str) else _secret_problem(source, value)
            if broken:
                problems.add(where, f"`{key}` {broken}")
            else:
                sources[source] = value
        elif key not in ("url", "lease_seconds"):
            problems.add(where, f"unknown key `{key}` (see docs/config.md)")
    url = table.get("url")
    if url is not None:
        from urllib.parse import urlsplit

        if not isinstance(url, str) or not url.startswith(("postgresql://", "postgres://")):
            problems.add(where, "`url` should read postgresql://USER@HOST:PORT/DBNAME")
        else:
            try:
                has_password = urlsplit(url).password is not None or "password=" in url
            except ValueError:
                problems.add(where, "`url` is not a valid URL; it should read postgresql://USER@HOST:PORT/DBNAME")
            else:
                if has_password:
                    problems.add(where, "`url` must not hold the password; use `password_env` or `password_command`")
    lease = table.get("lease_seconds", 30.0)
    if isinstance(lease, bool) or not isinstance(lease, (int, float)) or lease < 5:
        problems.add(where, "`lease_seconds` should be a number of seconds, at least 5")
    if len(problems.items) > before:
        return StoreSettings()
    password = SecretSource(env=sources.get("env"), command=sources.get("command"), keyring=sources.get("keyring"))
    return StoreSettings(url=url, password=password, lease_seconds=float(lease))


def _validate(problems: _Problems, data: dict[str, Any]) -> Config:
    """The config from parsed TOML, recording every problem in file order."""
    profiles = builtin_profiles()
    raw_profiles = data.get("profiles", {})
    names = set(profiles) | (set(raw_profiles) if isinstance(raw_profiles, dict) else set())
    default, ui, sandbox, store = SANDBOX, UiSettings(), SandboxSettings(), StoreSettings()
    for key, value in data.items():
        if key == "default_profile":
            if not isinstance(value, str):
                problems.add(None, f"`default_profile` should be a string, not {value!r}")
            elif value not in names:
                problems.add(None, f"`default_profile` {value!r} is not a profile here (known: {', '.join(sorted(names))})")
            else:
                default = value
        elif key == "profiles":
            if not isinstance(value, dict):
                problems.add(None, f"[profiles] must be a table of profile tables, not {value!r}")
                continue
            for name, table in value.items():
                profile = _profile(problems, name, table)
                if profile is not None:
                    profiles[name] = dataclasses.replace(profile, sandbox=True) if name in (SANDBOX, SANDBOX_SOAP) else profile
        elif key == "ui":
            ui = _settings(problems, "ui", UiSettings, value)
        elif key == "sandbox":
            sandbox = _settings(problems, "sandbox", SandboxSettings, value)
        elif key == "store":
            store = _store(problems, value)
        else:
            problems.add(None, f"unknown top-level key `{key}` (see docs/config.md)")
    return Config(path=problems.path, exists=True, default_profile=default, profiles=profiles, ui=ui, sandbox=sandbox,
                  store=store)  # fmt: skip


def check(path: Path | None = None) -> tuple[Config | None, list[str]]:
    """The config and every problem in it, in file order (``ettui config check``).

    ``path``, else ``ETTUI_CONFIG``, else the default location; only the
    default location may be absent (then the built-in sandbox profiles).
    """
    explicit = path or paths.config_override()
    path = explicit or paths.config_file()
    problems = _Problems(path)
    if not path.exists():
        if explicit is None:
            return Config(path=path, exists=False, default_profile=SANDBOX, profiles=builtin_profiles()), []
        problems.add(None, "this config file does not exist; create it, "
                           "or give no --config / ETTUI_CONFIG for the built-in sandbox")
        return None, problems.items
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        problems.add(None, f"this is not valid TOML ({exc})")
        return None, problems.items
    except UnicodeDecodeError:
        problems.add(None, "this is not UTF-8 text")
        return None, problems.items
    except OSError as exc:
        problems.add(None, f"this file cannot be read ({exc.strerror})")
        return None, problems.items
    config = _validate(problems, data)
    return (None if problems.items else config), problems.items


def load(path: Path | None = None) -> Config:
    """Read the config (``path``, else ``ETTUI_CONFIG``, else the default location).

    Raises ``ConfigProblems`` listing what ``check`` would report, so nothing
    starts on a config that ``ettui config check`` refuses.
    """
    config, problems = check(path)
    if problems or config is None:
        raise ConfigProblems(problems)
    return config


def check_permissions(path: Path) -> str | None:
    """A warning when the config file is readable by group or others, else None."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return None
    if mode & 0o077:
        return f"{path} is readable by other users (mode {mode & 0o777:o}); run `chmod 600 {path}`."
    return None

