"""Build the profile's drop transport, and remember an identity the user accepted.

``Session`` calls these two and nothing protocol-specific, so the rest of the
app never asks which protocol a profile's drop speaks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ettui.drop.certs import known_certs_path, trust_cert
from ettui.drop.transport import DropTransport
from ettui.errors import ConfigError, HostKeyUnknown, ServerIdentityUnknown

if TYPE_CHECKING:
    from ettui.config import Profile

PROTOCOLS = ("sftp", "ftps")


_UNRESOLVED: Any = object()


def open_transport(
    profile: Profile, *, accept_fingerprint: str | None = None, password: str | None = _UNRESOLVED
) -> DropTransport:
    """A not-yet-connected transport for ``profile.drop_protocol``.

    ``password`` is the drop password the caller already resolved (``Session``
    does it once, in a thread); without it the profile's secret is resolved
    here, blocking. Both transports take their connections from the same
    cross-process budget (``drop_max_connections``) for the account.
    """
    p = profile
    if p.drop_protocol == "ftps":
        from ettui.drop.ftps import FtpsClient

        return FtpsClient(
            p.ftps_host,
            p.ftps_port,
            p.ftps_username,
            password=(p.ftps_password.resolve("FTPS password") if password is _UNRESOLVED else password) or "",
            ca_file=p.ftps_ca_file,
            pinned=p.ftps_fingerprint,
            known_certs=known_certs_path(),
            accept_fingerprint=accept_fingerprint,
            connect_timeout=p.connect_timeout,
            read_timeout=p.read_timeout,
            stall_timeout=p.transfer_stall_timeout,
            max_connections=p.drop_max_connections,
        )
    if p.drop_protocol != "sftp":
        raise ConfigError(
            f"Profile {p.name!r}: `drop_protocol` must be \"sftp\" or \"ftps\", not {p.drop_protocol!r}."
        )
    from ettui.drop.client import DropClient

    if password is _UNRESOLVED:
        password = p.sftp_password.resolve("SFTP password") if p.sftp_password.configured else None
    return DropClient(
        p.sftp_host,
        p.sftp_port,
        p.sftp_username,
        password=password,
        key_file=p.sftp_key_file,
        known_hosts=p.known_hosts_path,
        accept_fingerprint=accept_fingerprint,
        connect_timeout=p.connect_timeout,
        stall_timeout=p.transfer_stall_timeout,
        max_connections=p.drop_max_connections,
    )


def trust_identity(profile: Profile, error: ServerIdentityUnknown) -> None:
    """Save an accepted identity: a host key to known_hosts, a certificate to known_certs."""
    if isinstance(error, HostKeyUnknown):
        from ettui.drop.hostkeys import trust_host_key

        trust_host_key(profile.known_hosts_path, error.host, error.port, error.key_line)
    else:
        trust_cert(known_certs_path(), error.host, error.port, error.fingerprint)
