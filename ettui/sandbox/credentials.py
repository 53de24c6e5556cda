"""The sandbox's passwords: random per sandbox root, kept beside its host key.

A fixed password would let any other local user log in to an operator's
sandbox (it listens on 127.0.0.1, which every user of the host can reach). So
each root gets its own API and drop passwords on first start, in
``credentials.json`` (mode 0600, in a 0700 root), and keeps them across
restarts so a running ``ettui sandbox`` and the tools pointed at it agree.
A file that another user could have read or written is not trusted: new
passwords replace it.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path

CREDENTIALS_NAME = "credentials.json"


@dataclass(frozen=True)
class SandboxCredentials:
    """The generated passwords of one sandbox root."""

    api_password: str
    """For the XML API, SOAP UsernameToken, and OAuth client secret."""
    sftp_password: str
    """For the SFTP drop."""


def load_credentials(root: Path) -> SandboxCredentials:
    """The root's passwords, generated and stored (0600) on first use."""
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    if stat.S_IMODE(root.stat().st_mode) & 0o077:
        # A root someone else owns (e.g. --root /tmp) stays as it is: the file itself is 0600.
        with contextlib.suppress(PermissionError):
            os.chmod(root, 0o700)
    path = root / CREDENTIALS_NAME
    existing = _read_private(path)
    if existing is not None:
        return existing
    creds = SandboxCredentials(api_password=secrets.token_urlsafe(18), sftp_password=secrets.token_urlsafe(18))
    temp = root / f".{CREDENTIALS_NAME}.{secrets.token_hex(6)}.tmp"
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump({"api_password": creds.api_password, "sftp_password": creds.sftp_password}, handle)
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return creds


def _read_private(path: Path) -> SandboxCredentials | None:
    """The stored passwords, or None when absent, unreadable, or not private to this user."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return None
    with os.fdopen(fd, "r", encoding="utf-8") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
            return None
        try:
            data = json.load(handle)
            return SandboxCredentials(api_password=str(data["api_password"]), sftp_password=str(data["sftp_password"]))
        except (ValueError, KeyError, TypeError):
            return None
