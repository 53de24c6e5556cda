"""TLS certificates of FTPS drops: fingerprints, descriptions, and ``known_certs``.

The certificate's identity is the SHA-256 of its DER bytes, written like an
OpenSSH fingerprint (``SHA256:`` + unpadded base64) so one format serves host
keys and certificates; ``normalise_fingerprint`` also takes the hex form
``openssl x509 -fingerprint -sha256`` prints, so a pin can be copied from either.

``known_certs`` (beside ettui's known_hosts in the state dir) plays the part of
known_hosts for certificates accepted on first use: one ``host:port SHA256:...``
line each.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from pathlib import Path

from ettui import paths
from ettui.errors import DropError


def known_certs_path() -> Path:
    """ettui's own list of accepted FTPS certificates."""
    return paths.state_dir() / "known_certs"


def cert_fingerprint(der: bytes) -> str:
    """``SHA256:<unpadded base64>`` of the certificate's DER bytes."""
    return "SHA256:" + base64.b64encode(hashlib.sha256(der).digest()).decode("ascii").rstrip("=")


def cert_fingerprint_hex(der: bytes) -> str:
    """The same digest as ``openssl x509 -fingerprint -sha256`` prints it (``AB:CD:...``)."""
    return ":".join(f"{b:02X}" for b in hashlib.sha256(der).digest())


def normalise_fingerprint(text: str) -> str:
    """``SHA256:base64`` from either that form or colon-separated hex; a clear error otherwise."""
    value = text.strip()
    if value.upper().startswith("SHA256:"):
        value = value[7:]
    hexed = value.replace(":", "")
    if len(hexed) == 64:
        try:
            digest = binascii.unhexlify(hexed)
        except binascii.Error:
            pass
        else:
            return "SHA256:" + base64.b64encode(digest).decode("ascii").rstrip("=")
    try:
        digest = base64.b64decode(value + "=" * (-len(value) % 4), validate=True)
    except binascii.Error:
        digest = b""
    if len(digest) != 32:
        raise DropError(f"{text!r} is not a SHA-256 fingerprint; write it as SHA256:... or as 32 hex pairs.")
    return "SHA256:" + base64.b64encode(digest).decode("ascii").rstrip("=")


def describe_cert(der: bytes) -> tuple[str, ...]:
    """Subject, issuer, validity and the hex fingerprint, for the trust prompt."""
    from cryptography import x509

    lines: list[str] = []
    try:
        cert = x509.load_der_x509_certificate(der)
        lines.append(f"Subject: {cert.subject.rfc4514_string()}")
        lines.append(f"Issuer: {cert.issuer.rfc4514_string()}")
        lines.append(
            f"Valid: {cert.not_valid_before_utc:%Y-%m-%d %H:%M} to {cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC"
        )
    except ValueError as exc:
        lines.append(f"(the certificate could not be parsed: {exc})")
    lines.append(f"SHA-256: {cert_fingerprint_hex(der)}")
    return tuple(lines)


def cert_name(host: str, port: int) -> str:
    """How ``known_certs`` names a server."""
    return f"{host}:{port}"


def known_cert(path: Path, host: str, port: int) -> str | None:
    """The fingerprint accepted for ``host:port``, or None; an unreadable file is a clear error."""
    try:
        text = path.read_text(encoding="ascii")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise DropError(f"The certificate list {path} could not be read ({exc}); fix or remove it.") from None
    name = cert_name(host, port)
    found: str | None = None
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2 and not line.startswith("#") and parts[0] == name:
            found = parts[1]  # the last entry wins, as a re-accept appends
    return found


def trust_cert(path: Path, host: str, port: int, fingerprint: str) -> None:
    """Append ``host:port fingerprint`` to ``path`` (created 0600, parent folders too)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    with os.fdopen(fd, "a", encoding="ascii") as out:
        out.write(f"{cert_name(host, port)} {normalise_fingerprint(fingerprint)}\n")
