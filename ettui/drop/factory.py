"""Build the profile's drop transport, and remember an identity the user accepted.

``Session`` calls these two and nothing protocol-specific, so the rest of the
app never asks which protocol a profile's drop speaks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ettui.drop.certs import known_certs_path, trust_cert
from ettui.drop.transport import DropTransport
from ettui.errors import ConfigError, HostKeyUnknown, ServerIdentityUnknown

if TYPE_CHECKING:
    from ettui.config import Profile

PROTOCOLS = ("sftp", "ftps")


def open_transport(profile: "Profile", *, accept_fingerprint: str | None = None) -> DropTransport:
    """A not-yet-connected transport for ``profile.drop_protocol`` (secrets resolved here)."""
    p = profile
    if p.drop_protocol == "ftps":
        from ettui.drop.ftps import FtpsClient

        return FtpsClient(
            p.ftps_host,
            p.ftps_port,
            p.ftps_username,
            password=p.ftps_password.resolve("FTPS password"),
            ca_file=p.ftps_ca_file,
            pinned=p.ftps_fingerprint,
            known_certs=known_certs_path(),
            accept_fingerprint=accept_fingerprint,
            connect_timeout=p.connect_timeout,
            read_timeout=p.read_timeout,
            stall_timeout=p.transfer_stall_timeout,
        )
    if p.drop_protocol != "sftp":
        raise ConfigError(
            f"Profile {p.name!r}: `drop_protocol` must be \"sftp\" or \"ftps\", not {p.drop_protocol!r}."
        )
    from ettui.drop.client import DropClient

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
    )


def trust_identity(profile: "Profile", error: ServerIdentityUnknown) -> None:
    """Save an accepted identity: a host key to known_hosts, a certificate to known_certs."""
    if isinstance(error, HostKeyUnknown):
        from ettui.drop.hostkeys import trust_host_key

        trust_host_key(profile.known_hosts_path, error.host, error.port, error.key_line)
    else:
        trust_cert(known_certs_path(), error.host, error.port, error.fingerprint)
