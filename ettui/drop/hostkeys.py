"""Host keys: fingerprints, known_hosts entries, and the check made while connecting.

asyncssh matches the server's key against a known_hosts list itself (plain
and ``|1|`` hashed entries) and calls ``validate_host_public_key`` only for a
key the list does not trust. ``HostKeyCheck`` is that hook: it records the
offered key and whether the host was listed with other keys, so the client can
raise ``HostKeyUnknown`` (trust on first use) or ``HostKeyChanged`` (hard error)
with OpenSSH-style ``SHA256:`` fingerprints.
"""

from __future__ import annotations

import os
from pathlib import Path

import asyncssh

from ettui.errors import DropError


def fingerprint(key: asyncssh.SSHKey) -> str:
    """The key's SHA-256 fingerprint as OpenSSH prints it (``SHA256:...``, unpadded base64)."""
    return key.get_fingerprint("sha256")


def known_hosts_name(host: str, port: int) -> str:
    """How OpenSSH names a host in known_hosts: ``host`` on 22, ``[host]:port`` elsewhere."""
    return host if port == 22 else f"[{host}]:{port}"


def key_line(key: asyncssh.SSHKey) -> str:
    """The key as ``<algorithm> <base64>`` with no comment, ready for known_hosts."""
    parts = key.export_public_key("openssh").decode("ascii").split()
    return " ".join(parts[:2])


def trust_host_key(known_hosts: Path, host: str, port: int, key_line: str) -> None:
    """Append ``host``'s key to ``known_hosts`` (created 0600, parent folders too).

    ``key_line`` is ``<algorithm> <base64>`` (as carried by ``HostKeyUnknown``).
    The host is written in plain OpenSSH form, ``[host]:port`` when not on 22.
    """
    known_hosts = Path(known_hosts)
    known_hosts.parent.mkdir(parents=True, exist_ok=True)
    # os.open with an explicit mode: a fresh known_hosts is never group/world writable.
    fd = os.open(known_hosts, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    with os.fdopen(fd, "a", encoding="ascii") as out:
        if out.tell() > 0 and not _ends_with_newline(known_hosts):
            out.write("\n")
        out.write(f"{known_hosts_name(host, port)} {key_line.strip()}\n")


def _ends_with_newline(path: Path) -> bool:
    with open(path, "rb") as f:
        f.seek(-1, os.SEEK_END)
        return f.read(1) == b"\n"


def load_known_hosts(path: Path) -> asyncssh.SSHKnownHosts:
    """Parse known_hosts; a missing file is an empty list, a broken one a clear error."""
    try:
        return asyncssh.read_known_hosts(str(path))
    except FileNotFoundError:
        return asyncssh.import_known_hosts("")
    except (OSError, ValueError) as exc:
        raise DropError(f"The known_hosts file {path} could not be read ({exc}); fix or remove it.") from None


class HostKeyCheck(asyncssh.SSHClient):
    """Sees every host key known_hosts does not already trust, and decides on it."""

    def __init__(self, known: asyncssh.SSHKnownHosts, accept_fingerprint: str | None) -> None:
        self._known = known
        self._accept = accept_fingerprint
        self.offered: asyncssh.SSHKey | None = None
        """The server's key when known_hosts did not trust it."""
        self.listed: list[asyncssh.SSHKey] = []
        """Keys known_hosts lists for this host (non-empty means the key changed)."""

    def validate_host_public_key(self, host: str, addr: str, port: int, key: asyncssh.SSHKey) -> bool:
        self.offered = key
        self.listed = list(self._known.match(host, addr, None if port == 22 else port)[0])
        if self.listed:
            return False  # a changed key is never accepted, whatever the caller allows
        return self._accept is not None and fingerprint(key) == self._accept
