"""Profiles and settings, read from TOML.

The file is ``config.toml`` in the platformdirs config dir, or ``ETTUI_CONFIG``,
or ``--config PATH``. With no file the built-in ``sandbox`` profile is used.
Secrets are never values in the file: a profile names a *source* (an
environment variable, a command whose stdout is the secret, or an OS keyring
entry). A config file
that is group- or world-readable and names a secret command still works, but a
file holding something that looks like a literal secret is refused.

Every key is documented in ``docs/config.md``; ``Profile`` field docstrings
are the source for that page.
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
from ettui.errors import ConfigError

SANDBOX = "sandbox"


@dataclass(frozen=True)
class SecretSource:
    """Where a secret comes from: an environment variable or a command's stdout."""

    env: str | None = None
    command: str | None = None
    keyring: str | None = None
    """``service:username`` in the OS keyring (needs ``pip install 'ettui[keyring]'``)."""
    literal: str | None = None
    """Only for the built-in sandbox profile, whose passwords are public."""

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
            except (OSError, subprocess.TimeoutExpired) as exc:
                raise ConfigError(f"The {what} command `{self.command}` could not run ({exc.__class__.__name__}); fix password_command.") from None
            if done.returncode != 0:
                raise ConfigError(f"The {what} command `{self.command}` exited with {done.returncode}; fix it or its password store.")
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
        raise ConfigError(f"The OS keyring has no entry {service!r} for {username!r} ({what}); add it with `keyring set {service} {username}`.")
    return value


@dataclass(frozen=True)
class Profile:
    """One account (or the sandbox): which API, where, and how to log in."""

    name: str
    dialect: str = "xml"
    """``xml`` (legacy XML API, bulk async calls) or ``soap`` (Extract + AsyncActivityStatus)."""
    sandbox: bool = False
    """True: start the embedded sandbox and point every endpoint at it."""
    endpoint: str = "https://api.dc1.exacttarget.com/integrate.aspx"
    """The XML API URL (``integrate.aspx``)."""
    soap_url: str = "https://webservice.exacttarget.com/Service.asmx"
    """The SOAP service URL (``Service.asmx``)."""
    wsdl: str | None = None
    """None: the WSDL subset shipped with ettui. A URL: the vendor's, fetched once and cached."""
    soap_auth: str = "usernametoken"
    """``usernametoken`` (WS-Security) or ``oauth`` (client credentials -> ``fueloauth`` header)."""
    auth_url: str | None = None
    """OAuth token endpoint, e.g. ``https://SUBDOMAIN.auth.marketingcloudapis.com/v2/token``."""
    client_id: str | None = None
    client_secret: SecretSource = field(default_factory=SecretSource)
    api_username: str = ""
    api_password: SecretSource = field(default_factory=SecretSource)
    member_id: str | None = None
    """The account's MID; also the drop sub-folder for multi-account logins."""
    sftp_host: str = "ftp1.exacttarget.com"
    sftp_port: int = 22
    sftp_username: str = ""
    sftp_password: SecretSource = field(default_factory=SecretSource)
    sftp_key_file: str | None = None
    """A private key file; with neither password nor key, ssh-agent is tried."""
    known_hosts: str | None = None
    """known_hosts file checked for the drop's host key (default: ettui's own)."""
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
    """How long the drop keeps a bulk async zip."""
    export_retention_hours: float = 21 * 24.0
    """How long the Export folder keeps an extract."""
    poll_initial: float = 5.0
    """Seconds before the first status poll; doubles per poll."""
    poll_max: float = 300.0
    """Cap of the poll interval, seconds."""
    poll_concurrency: int = 8
    """Status requests in flight at once, across all jobs."""
    connect_timeout: float = 10.0
    """Seconds to open a connection (HTTP or the drop)."""
    read_timeout: float = 60.0
    """Seconds a single read may wait for the peer."""
    request_deadline: float = 90.0
    """Seconds for one whole HTTP exchange: connect, send, and the complete reply."""
    max_reply_bytes: int = 16 * 1024 * 1024
    """A longer API reply is refused (read as a stream, so memory stays bounded)."""
    transfer_stall_timeout: float = 60.0
    """Seconds a download may receive nothing before it counts as a dead connection."""
    submit_retries: int = 4
    """How often a throttled submit is retried (with back-off and jitter)."""
    sftp_max_connections: int = 10
    """Connections all ettui processes on this host open to one drop account at once."""
    download_dir: str | None = None
    """Where fetched files go (default: the platform downloads folder / ettui)."""

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
    """Binding id -> key(s), e.g. ``{"poll_now" = "R"}``."""
    expiring_soon_hours: float = 6.0
    """Notify when a file has less than this left."""
    bell: bool = False
    theme: str | None = None


@dataclass(frozen=True)
class SandboxSettings:
    """Settings of the embedded sandbox."""

    time_scale: float = 1.0
    seed: int = 1
    error_share: float = 0.0
    scheduled_seconds: float = 4.0
    processing_seconds: float = 8.0
    records: int = 200


@dataclass(frozen=True)
class Config:
    """The whole config file, parsed."""

    path: Path
    exists: bool
    default_profile: str
    profiles: dict[str, Profile]
    ui: UiSettings = field(default_factory=UiSettings)
    sandbox: SandboxSettings = field(default_factory=SandboxSettings)

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
_PROFILE_FIELDS = {f.name: f for f in dataclasses.fields(Profile)}


def _secret(where: str, table: dict[str, Any], key: str) -> SecretSource:
    if key in table:
        raise ConfigError(
            f"{where}: `{key}` must not hold the secret itself; use `{key}_env` or `{key}_command`."
        )
    env, command, ring = table.get(f"{key}_env"), table.get(f"{key}_command"), table.get(f"{key}_keyring")
    for sub, value in ((f"{key}_env", env), (f"{key}_command", command), (f"{key}_keyring", ring)):
        if value is not None and not isinstance(value, str):
            raise ConfigError(f"{where}: `{sub}` must be a string.")
    return SecretSource(env=env, command=command, keyring=ring)


def _profile(path: Path, name: str, table: Any) -> Profile:
    where = f"{path}, profile {name!r}"
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: must be a table.")
    known = set(_PROFILE_FIELDS) - {"name"} | {f"{k}_{src}" for k in _SECRET_KEYS for src in ("env", "command", "keyring")}
    for key in table:
        if key not in known and key not in _SECRET_KEYS:
            raise ConfigError(f"{where}: unknown key `{key}` (see docs/config.md).")
    kwargs: dict[str, Any] = {"name": name}
    for key, spec in _PROFILE_FIELDS.items():
        if key == "name" or key in _SECRET_KEYS:
            continue
        if key not in table:
            continue
        value = table[key]
        expected = spec.type if isinstance(spec.type, str) else str(spec.type)
        if "float" in expected and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        ok = (
            ("bool" in expected and isinstance(value, bool))
            or ("int" in expected and isinstance(value, int) and not isinstance(value, bool))
            or ("float" in expected and isinstance(value, float))
            or ("str" in expected and isinstance(value, str))
        )
        if not ok:
            raise ConfigError(f"{where}: `{key}` should be {expected.replace(' | None', '')}, not {value!r}.")
        kwargs[key] = value
    for key in _SECRET_KEYS:
        kwargs[key] = _secret(where, table, key)
    profile = Profile(**kwargs)
    if profile.dialect not in ("xml", "soap"):
        raise ConfigError(f"{where}: `dialect` must be \"xml\" or \"soap\", not {profile.dialect!r}.")
    if profile.soap_auth not in ("usernametoken", "oauth"):
        raise ConfigError(f"{where}: `soap_auth` must be \"usernametoken\" or \"oauth\".")
    if profile.retention_hours <= 0 or profile.poll_initial <= 0 or profile.poll_max < profile.poll_initial:
        raise ConfigError(f"{where}: retention and poll intervals must be positive, poll_max >= poll_initial.")
    if profile.poll_concurrency < 1:
        raise ConfigError(f"{where}: `poll_concurrency` must be at least 1.")
    return profile


def _dataclass_from(path: Path, section: str, cls: type, table: Any) -> Any:
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [{section}] must be a table.")
    names = {f.name for f in dataclasses.fields(cls)}
    for key in table:
        if key not in names:
            raise ConfigError(f"{path}: [{section}] has unknown key `{key}` (see docs/config.md).")
    try:
        return cls(**table)
    except TypeError as exc:
        raise ConfigError(f"{path}: [{section}] {exc}.") from None


def load(path: Path | None = None) -> Config:
    """Read the config (``path``, else ``ETTUI_CONFIG``, else the default location)."""
    path = path or paths.config_file()
    if not path.exists():
        return Config(path=path, exists=False, default_profile=SANDBOX, profiles=builtin_profiles())
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}.") from None
    except OSError as exc:
        raise ConfigError(f"{path} cannot be read: {exc.strerror}.") from None
    known_top = {"default_profile", "profiles", "ui", "sandbox"}
    for key in data:
        if key not in known_top:
            raise ConfigError(f"{path}: unknown top-level key `{key}` (see docs/config.md).")
    profiles: dict[str, Profile] = builtin_profiles()
    raw_profiles = data.get("profiles", {})
    if not isinstance(raw_profiles, dict):
        raise ConfigError(f"{path}: [profiles] must be a table of tables.")
    for name, table in raw_profiles.items():
        profiles[name] = _profile(path, name, table)
        if name in (SANDBOX, SANDBOX_SOAP):
            profiles[name] = dataclasses.replace(profiles[name], sandbox=True)
    default = data.get("default_profile", SANDBOX)
    if default not in profiles:
        raise ConfigError(f"{path}: default_profile {default!r} is not a profile here.")
    ui = _dataclass_from(path, "ui", UiSettings, data.get("ui", {}))
    sandbox = _dataclass_from(path, "sandbox", SandboxSettings, data.get("sandbox", {}))
    return Config(path=path, exists=True, default_profile=default, profiles=profiles, ui=ui, sandbox=sandbox)


def check_permissions(path: Path) -> str | None:
    """A warning when the config file is readable by group or others, else None."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return None
    if mode & 0o077:
        return f"{path} is readable by other users (mode {mode & 0o777:o}); run `chmod 600 {path}`."
    return None
