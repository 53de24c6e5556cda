"""Profiles and settings, read from TOML.

The file is ``config.toml`` in the platformdirs config dir, or ``ETTUI_CONFIG``,
or ``--config PATH``. With no file the built-in ``sandbox`` profile is used.
Secrets are never values in the file: a profile names a *source* (an
environment variable, a command whose stdout is the secret, or an OS keyring
entry). A config file
that is group- or world-readable and names a secret command still works, but a
file holding something that looks like a literal secret is refused.

Every key is documented in ``docs/config.md``, whose key tables are written
from the field docstrings of ``Profile``, ``UiSettings`` and
``SandboxSettings`` (``python -m ettui.tools.config_doc --write``; a test
fails when the page is stale or a field has no docstring).

Adding a key: give the field a type and a docstring, and it is type-checked
by ``load()`` and ``ettui config check`` with no other change; put a range or
a set of choices in ``ettui.config_rules.RULES``. Cross-key checks go at the end of ``_profile``.
"""

from __future__ import annotations

import dataclasses
import os
import shlex
import subprocess
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ettui import paths
from ettui.config_rules import RULES, typed_value
from ettui.errors import ConfigError, ConfigProblems
from ettui.keys import BINDINGS, BUILTIN_THEMES, key_problem, key_set, normalise_keys

SANDBOX = "sandbox"


@dataclass(frozen=True)
class SecretSource:
    """Where a secret comes from: an environment variable or a command's stdout."""

    env: str | None = None
    command: str | None = None
    keyring: str | None = None
    """``service:username`` in the OS keyring (needs ``pip install 'ettui[keyring]'``)."""
    literal: str | None = None
    """Only for a sandbox this process started: the passwords it generated for its root."""

    def resolve(self, what: str) -> str:
        if self.literal is not None:
            return self.literal
        if self.env:
            value = os.environ.get(self.env)
            if value is None:
                raise ConfigError(f"The {what} comes from ${self.env}, which is not set; export it and try again.")
            return value
        if self.command:
            try:
                done = subprocess.run(
                    shlex.split(self.command), capture_output=True, text=True, timeout=30, check=False
                )
            except ValueError as exc:
                raise ConfigError(f"The {what} command cannot be read as a command ({exc}); fix its quoting.") from None
            except (OSError, subprocess.TimeoutExpired) as exc:
                raise ConfigError(
                    f"The {what} command `{self.command}` could not run ({exc.__class__.__name__}); fix password_command."
                ) from None
            if done.returncode != 0:
                raise ConfigError(
                    f"The {what} command `{self.command}` exited with {done.returncode}; fix it or its password store."
                )
            return done.stdout.rstrip("\n")
        if self.keyring:
            return _from_keyring(self.keyring, what)
        raise ConfigError(f"No {what} is configured: set a *_env, *_command or *_keyring key in the profile.")

    @property
    def configured(self) -> bool:
        return bool(self.env or self.command or self.keyring or self.literal is not None)


def _from_keyring(entry: str, what: str) -> str:
    """The secret stored under ``service:username`` in the OS keyring."""
    service, sep, username = entry.partition(":")
    if not sep or not service or not username:
        raise ConfigError(f"The {what} keyring entry {entry!r} should read service:username.")
    try:
        import keyring
        from keyring.errors import KeyringError
    except ImportError:
        raise ConfigError(
            f"The {what} comes from the OS keyring, which needs the keyring package: pip install 'ettui[keyring]'."
        ) from None
    try:
        value = keyring.get_password(service, username)
    except KeyringError as exc:
        raise ConfigError(f"The OS keyring could not be read for the {what} ({exc}); use *_command instead.") from None
    if value is None:
        raise ConfigError(
            f"The OS keyring has no entry {service!r} for {username!r} ({what}); add it with `keyring set {service} {username}`."
        )
    return value


@dataclass(frozen=True)
class Profile:
    """One account (or the sandbox): which API, where, and how to log in."""

    name: str
    """The profile's name: the ``NAME`` of ``[profiles.NAME]``."""
    dialect: str = "xml"
    """``xml``: legacy XML API bulk async calls + Batch Inquire. ``soap``: ``Extract`` + ``AsyncActivityStatus``."""
    sandbox: bool = False
    """``true``: start the embedded sandbox and point every endpoint at it (the profile named ``sandbox`` always does)."""
    endpoint: str = "https://api.dc1.exacttarget.com/integrate.aspx"
    """The XML API URL (``integrate.aspx``)."""
    soap_url: str = "https://webservice.exacttarget.com/Service.asmx"
    """The SOAP service URL (``Service.asmx``)."""
    wsdl: str | None = None
    """Unset: the WSDL subset shipped with ettui. A URL: the vendor's WSDL, fetched once and cached in the cache dir."""
    soap_auth: str = "usernametoken"
    """``usernametoken`` (WS-Security) or ``oauth`` (client credentials, ``fueloauth`` header; needs ``auth_url``, ``client_id``
    and a ``client_secret_*`` source)."""
    auth_url: str | None = None
    """OAuth token endpoint, e.g. ``https://SUBDOMAIN.auth.marketingcloudapis.com/v2/token``."""
    client_id: str | None = None
    """OAuth client id (``soap_auth = "oauth"``)."""
    client_secret: SecretSource = field(default_factory=SecretSource)
    """OAuth client secret: ``client_secret_env``, ``_command`` or ``_keyring``."""
    api_username: str = ""
    """XML API / SOAP user."""
    api_password: SecretSource = field(default_factory=SecretSource)
    """Its password: ``api_password_env``, ``_command`` or ``_keyring``."""
    member_id: str | None = None
    """The account's MID; also the drop sub-folder for multi-account logins."""
    sftp_host: str = "ftp1.exacttarget.com"
    """The drop's SFTP host."""
    sftp_port: int = 22
    """The drop's SSH port."""
    sftp_username: str = ""
    """The drop's login name."""
    sftp_password: SecretSource = field(default_factory=SecretSource)
    """The drop password: ``sftp_password_env``, ``_command`` or ``_keyring``."""
    sftp_key_file: str | None = None
    """A private key file; with no password and no key, ssh-agent is used."""
    known_hosts: str | None = None
    """known_hosts file checked for the drop's host key; hashed entries work (unset: ettui's own, see ``ettui config path``)."""
    drop_protocol: str = "sftp"
    """How the drop is reached: ``sftp`` (SSH, the ``sftp_*`` keys) or ``ftps`` (FTP over explicit TLS, the ``ftps_*`` keys)."""
    ftps_host: str = "ftp1.exacttarget.com"
    """The FTPS drop's host (the legacy bulk-async "secure FTP site")."""
    ftps_port: int = 21
    """The FTPS control port; explicit TLS (``AUTH TLS``) is always used, on 21 as elsewhere."""
    ftps_username: str = ""
    """The FTP user name ExactTarget issued."""
    ftps_password: SecretSource = field(default_factory=SecretSource)
    """The FTP password, from ``ftps_password_env``, ``_command`` or ``_keyring``."""
    ftps_ca_file: str | None = None
    """A PEM file of CA certificates to verify the server against instead of the system's."""
    ftps_fingerprint: str | None = None
    """Pin the server certificate: ``SHA256:...`` (or hex); then no CA check is made, only this match."""
    drop_folder: str = "/"
    """Where bulk async zips land (the root, or ``/<MID>``)."""
    export_folder: str = "/Export"
    """Where SOAP data extracts land."""
    retention_hours: float = 72.0
    """Hours the drop keeps a bulk async zip (expiry = mtime + this)."""
    export_retention_hours: float = 21 * 24.0
    """Hours the Export folder keeps an extract (21 days)."""
    poll_initial: float = 5.0
    """Seconds before the first status poll; doubles per unchanged poll."""
    poll_max: float = 300.0
    """Cap of the poll interval, seconds (at least ``poll_initial``)."""
    poll_concurrency: int = 8
    """Status requests in flight at once, across all jobs."""
    connect_timeout: float = 10.0
    """Seconds to open a connection (HTTP or the drop)."""
    read_timeout: float = 60.0
    """Seconds a single read may wait for the peer."""
    request_deadline: float = 90.0
    """Seconds for one whole HTTP exchange: connect, send, and the complete reply."""
    max_reply_bytes: int = 16 * 1024 * 1024
    """Bytes: a longer API reply is refused (read as a stream, so memory stays bounded)."""
    transfer_stall_timeout: float = 60.0
    """Seconds a download may receive nothing before it counts as a dead connection."""
    submit_retries: int = 4
    """How often a throttled submit is retried (with back-off and jitter)."""
    drop_max_connections: int = 10
    """Connections all ettui processes on this host open to one drop account at once, SFTP or FTPS (older name:
    ``sftp_max_connections``, still read)."""
    download_dir: str | None = None
    """Where fetched files go (unset: the platform downloads folder ``/ettui``)."""
    auto_fetch: bool = False
    """``true``: ``ettui watch`` downloads, verifies and extracts every output of this profile's jobs as it lands
    (docs/watch.md)."""
    auto_fetch_unknown: bool = False
    """With ``auto_fetch``: also fetch drop files no job of ours produced, when named like the vendor's bulk async output."""
    on_fetched: str | None = None
    """A command ``ettui watch`` runs once per fetched file (split like a shell line, run without a shell; docs/watch.md)."""
    extract_after_download: bool = True
    """TUI ``d``: download, verify, then extract (safely) in one go; false: ``d`` stops at the verified zip and ``x`` extracts."""

    def retention_for(self, folder: str) -> float:
        """Retention hours for a remote folder."""
        if self.export_folder and folder.rstrip("/").endswith(self.export_folder.rstrip("/")):
            return self.export_retention_hours
        return self.retention_hours

    @property
    def known_hosts_path(self) -> Path:
        return Path(self.known_hosts).expanduser() if self.known_hosts else paths.known_hosts()

    @property
    def download_path(self) -> Path:
        return Path(self.download_dir).expanduser() if self.download_dir else paths.downloads_dir()


@dataclass(frozen=True)
class UiSettings:
    """Settings of the terminal UI."""

    keymap: dict[str, str] = field(default_factory=dict)
    """Binding id -> keys, e.g. ``{ poll_now = "f5", download = "ctrl+d,D" }``; ``?`` in the app lists every id (and below). Keys
    are characters, names (``escape``, ``f5``, ``question_mark``) and ``ctrl+``/``shift+``/``alt+``, comma-separated; an
    unknown id, a malformed key, or one key on two bindings of the same screen is refused."""
    expiring_soon_hours: float = 6.0
    """Notify when a file that is not downloaded has less than this many hours left."""
    bell: bool = False
    """Ring the terminal bell with notifications."""
    theme: str | None = None
    """A Textual theme name (listed below; unset: Textual's default)."""


@dataclass(frozen=True)
class SandboxSettings:
    """Settings of the embedded sandbox."""

    time_scale: float = 1.0
    """Sandbox seconds per real second (3600: an hour a second, to watch files expire)."""
    seed: int = 1
    """Makes batch IDs, errors and output records repeatable."""
    error_share: float = 0.0
    """Share of batches that end in Error."""
    scheduled_seconds: float = 4.0
    """Sandbox seconds a batch stays Scheduled."""
    processing_seconds: float = 8.0
    """Sandbox seconds a batch stays Processing."""
    records: int = 200
    """Records per output file."""


@dataclass(frozen=True)
class StoreSettings:
    """Where the job history lives: unset, the local SQLite file; a URL, a shared PostgreSQL database."""

    url: str | None = None
    """``postgresql://USER@HOST:PORT/DBNAME`` (team mode), never with a password in it."""
    password: SecretSource = field(default_factory=SecretSource)
    """From ``password_env`` / ``password_command`` / ``password_keyring``; none: libpq's own (``.pgpass``, trust)."""
    lease_seconds: float = 30.0
    """How long a poller's claim on a live job lasts without renewal (another process takes over after it)."""

    @property
    def location(self) -> str:
        """The URL without any password, for messages and logs."""
        return redact_url(self.url or "")


def redact_url(url: str) -> str:
    """A database URL with any password (and query string) removed, safe for messages and logs."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password is None and not parts.query:
        return url
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = (f"{parts.username}@" if parts.username else "") + host + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


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


@dataclass(frozen=True)
class Config:
    """The whole config file, parsed."""

    path: Path
    exists: bool
    default_profile: str
    profiles: dict[str, Profile]
    ui: UiSettings = field(default_factory=UiSettings)
    sandbox: SandboxSettings = field(default_factory=SandboxSettings)
    store: StoreSettings = field(default_factory=StoreSettings)

    def with_dialect(self, name: str | None, dialect: str) -> Profile:
        """The profile speaking ``dialect``: the built-in sandbox twin, or a renamed copy."""
        profile = self.profile(name)
        if profile.dialect == dialect:
            return profile
        if profile.name in (SANDBOX, SANDBOX_SOAP):
            return self.profiles[SANDBOX if dialect == "xml" else SANDBOX_SOAP]
        return dataclasses.replace(profile, name=f"{profile.name}-{dialect}", dialect=dialect)

    def profile(self, name: str | None = None) -> Profile:
        key = name or self.default_profile
        try:
            return self.profiles[key]
        except KeyError:
            known = ", ".join(sorted(self.profiles)) or "none"
            raise ConfigError(f"There is no profile {key!r} in {self.path} (known: {known}).") from None


SANDBOX_SOAP = "sandbox-soap"


def sandbox_profile(dialect: str = "xml") -> Profile:
    """A built-in profile: everything points at the embedded sandbox.

    ``sandbox`` speaks the XML API, ``sandbox-soap`` the SOAP API; separate
    names keep each dialect's jobs apart in the store and the poller.
    """
    name = SANDBOX if dialect == "xml" else f"{SANDBOX}-{dialect}"
    return Profile(name=name, dialect=dialect, sandbox=True, poll_initial=1.0, poll_max=5.0)


def builtin_profiles() -> dict[str, Profile]:
    return {SANDBOX: sandbox_profile("xml"), SANDBOX_SOAP: sandbox_profile("soap")}


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
            kwargs[key] = checked
    return cls(**kwargs)


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
