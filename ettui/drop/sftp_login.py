"""What an SFTP connection needs before asyncssh is imported: the login's settings and the TCP dial.

Nothing here imports asyncssh, so ``DropClient.connect`` can dial while that
import runs (see :func:`dial`).
"""

from __future__ import annotations

import hashlib
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["SshLogin", "dial"]


@dataclass(frozen=True)
class SshLogin:
    """Where and how to log in: ``password``, else ``key_file``, else the ssh-agent (and the user's default keys)."""

    host: str
    port: int
    username: str
    password: str | None
    key_file: str | None
    known_hosts: Path
    accept_fingerprint: str | None
    """Lets one connection proceed with an unknown host key whose fingerprint matches ("connect once")."""
    connect_timeout: float
    encryption_algs: Sequence[str] | None
    window: int
    max_pktsize: int
    keepalive_interval: float

    def credential_key(self) -> tuple[str, int, str, str]:
        """What a refused login is remembered by (never the secret itself)."""
        secret = self.password if self.password is not None else f"key:{self.key_file}"
        return (self.host, self.port, self.username, hashlib.sha256(secret.encode()).hexdigest())


def dial(host: str, port: int, timeout: float) -> socket.socket:
    """The TCP connection to the drop (blocking: run it in a thread).

    ``DropClient.connect`` starts this before importing asyncssh, so the TCP
    handshake and the server's start (sshd forks and sends its banner: 20-35 ms
    on loopback, a round trip more on a real path) overlap that ~0.1 s import.
    """
    sock = socket.create_connection((host, port), timeout)
    sock.settimeout(None)  # asyncssh's own connect_timeout bounds the handshake from here
    return sock
