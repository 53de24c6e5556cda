"""The config's model: profiles, settings and where secrets come from (frozen dataclasses).

``ettui.config`` reads TOML into these and re-exports them, so callers import
``from ettui.config import Profile`` as before. ``docs/config.md``'s key tables
are written from the field docstrings here (``python -m ettui.tools.config_doc
--write``; a test fails when the page is stale or a field has no docstring).
"""

from __future__ import annotations

import dataclasses
import os
import shlex
import subprocess
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo

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
    time_zone: str | None = None
    """The IANA time zone absolute times are shown in, e.g. ``"Europe/Berlin"`` or ``"UTC"`` (a file's expiry in ``ettui
    drop ls``; in the TUI the Expires at columns, job details and the status line); unset: the computer's local zone."""

    @property
    def zone(self) -> tzinfo | None:
        """``time_zone`` as a tzinfo for :func:`absolute_time`; None: the local zone (checked at load, so never bad here)."""
        return ZoneInfo(self.time_zone) if self.time_zone else None


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


def zone_problem(name: str) -> str | None:
    """Why ``name`` is not a time zone ettui can use (one clause for a config sentence), or None."""
    try:
        ZoneInfo(name)
    except (ValueError, KeyError, OSError):  # ZoneInfoNotFoundError is a KeyError; a path-like key a ValueError
        return f"{name!r} is not a time zone; use an IANA name such as \"Europe/Berlin\" or \"UTC\", or leave it unset"
    return None


def absolute_time(value: datetime, zone: tzinfo | None = None) -> str:
    """An aware instant as the operator reads it: ``2026-12-03 14:05 CET`` in ``zone`` (None: the local zone).

    The front ends' one format for absolute times (the CLI's expiry column, the
    UI's details); pass ``UiSettings.zone``.
    """
    shown = value.astimezone(zone)
    return f"{shown:%Y-%m-%d %H:%M} {shown.tzname() or shown.strftime('%z')}"


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
