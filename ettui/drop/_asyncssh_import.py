"""Import asyncssh without its ~140 ms search for liboqs, and without X.509 support.

On import, ``asyncssh.crypto.pq`` calls ``ctypes.util.find_library`` for
``oqs`` and ``liboqs`` (optional post-quantum key exchange). On Linux each
call runs ``ldconfig -p`` (and may try gcc): measured at 141 ms of a 1 KiB
``ettui fetch``, more than the whole SSH handshake on loopback. For the length
of that one import, the lookup is answered from the library folders directly
(``LD_LIBRARY_PATH`` and the usual system ones), which finds an installed
liboqs the same way the dynamic loader would for these names.

X.509 certificates as SSH host or user keys (RFC 6187, ``x509v3-*``: SSH
Tectia, not OpenSSH) are left out: their import pulls in
``cryptography.x509``, 13 % of asyncssh's import time (``-X importtime``),
for a key type the drop never offers. asyncssh supports running without it
(``_x509_available``); OpenSSH host keys and OpenSSH certificates are not
affected.
"""

from __future__ import annotations

import ctypes.util
import glob
import os
import sys
from collections.abc import Callable

_DIRS = ("/lib", "/usr/lib", "/usr/local/lib", "/lib64", "/usr/lib64", "/usr/local/lib64")


def _quick_find(original: Callable[[str], str | None]) -> Callable[[str], str | None]:
    found: dict[str, str | None] = {}

    def find(name: str) -> str | None:
        if name not in ("oqs", "liboqs") or not sys.platform.startswith("linux"):
            return original(name)
        if "oqs" not in found:
            found["oqs"] = _search("liboqs.so")  # both names mean liboqs.so*: one pass over the folders
        return found["oqs"]

    return find


def _search(prefix: str) -> str | None:
    folders = [d for d in os.environ.get("LD_LIBRARY_PATH", "").split(":") if d]
    for base in _DIRS:
        folders.append(base)
        folders.extend(glob.glob(f"{base}/*-linux-gnu*"))
    for folder in folders:
        try:
            hits = sorted(e.name for e in os.scandir(folder) if e.name.startswith(prefix))
        except OSError:
            continue
        if hits:
            return hits[0]
    return None


if "asyncssh" in sys.modules:
    import asyncssh
else:
    _original = ctypes.util.find_library
    ctypes.util.find_library = _quick_find(_original)  # type: ignore[assignment]
    _X509 = "asyncssh.crypto.x509"
    blocked = _X509 not in sys.modules
    if blocked:
        sys.modules[_X509] = None  # type: ignore[assignment]  # its import raises ImportError: asyncssh goes on without
    try:
        import asyncssh
    finally:
        ctypes.util.find_library = _original
        if blocked and sys.modules.get(_X509, 0) is None:
            del sys.modules[_X509]

__all__ = ["asyncssh"]
