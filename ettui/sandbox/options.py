"""What a sandbox run can be told: the config's ``[sandbox]`` table plus what only a run needs.

``SandboxOptions`` extends ``ettui.config.SandboxSettings`` instead of copying
its fields, so a setting added to the config file reaches the sandbox (and its
queue, which reads these options directly) without a third copy to keep in step.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ettui.config import SandboxSettings
from ettui.sandbox.faults import Faults


@dataclass(frozen=True, kw_only=True)
class SandboxOptions(SandboxSettings):
    """Everything a sandbox run can be told; every field has a usable default but ``root``.

    Inherited from ``SandboxSettings``: ``time_scale``, ``seed`` (also seeds the
    fault draws), ``error_share`` (the initial ``Faults.error_share``),
    ``scheduled_seconds``, ``processing_seconds`` and ``records`` (unless
    ``record_bytes`` is set).
    """

    root: Path
    """Holds the drop folder, the work folder and the persistent SSH host key."""
    http_port: int = 0
    sftp_port: int = 0
    host: str = "127.0.0.1"
    api_username: str = "sandbox-api"
    api_password: str | None = None
    """None: the password generated for ``root`` (``credentials.json``, 0600)."""
    sftp_username: str = "sandbox-drop"
    sftp_password: str | None = None
    """None: the password generated for ``root``."""
    ftps_port: int = 0
    """The FTPS (explicit TLS) drop's control port; 0 picks a free one."""
    ftps_username: str = "sandbox-drop"
    ftps_password: str | None = None
    """None: the same generated password as the SFTP drop's."""
    member_id: str = "10012345"
    multi_account: bool = False
    """True: outputs go to a member-ID subfolder, as for a multi-account FTP login."""
    record_bytes: int | None = None
    """Target uncompressed size of each output XML (up to hundreds of MB)."""
    retention_hours: float = 72.0
    export_retention_hours: float = 504.0
    """Retention for files under ``/Export`` (21 days)."""
    authorized_keys: Path | None = None
    """An OpenSSH authorized_keys file enabling public-key login to the drop."""
    sweep_interval_seconds: float = 1.0
    """Real seconds between retention sweeps."""
    sftp_max_connections: int = 10
    """Connections one drop user may hold at once, SFTP and FTPS together; the next is disconnected (0: no limit)."""
    sftp_lockout_failures: int = 3
    """Bad passwords in a row that lock the drop user out (0: never)."""
    sftp_lockout_minutes: float = 30.0
    """How long the lockout lasts, on the sandbox clock."""
    sftp_idle_close_seconds: float = 600.0
    """Real seconds without traffic after which the drop closes a connection (0: never)."""
    faults: Faults = field(default_factory=Faults)
