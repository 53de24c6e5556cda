"""Import asyncssh without its searches for optional C libraries, and without X.509 support.

On import, ``asyncssh.crypto.pq`` calls ``ctypes.util.find_library`` for
``oqs`` and ``liboqs`` (optional post-quantum key exchange) and
``asyncssh.crypto.umac`` for ``nettle`` (the ``umac`` MACs). On Linux each
call runs ``ldconfig -p`` (and may try gcc): measured at 141 ms of a 1 KiB
``ettui fetch``, more than the whole SSH handshake on loopback. For the length
of that one import, these lookups are answered from the library folders
directly (``LD_LIBRARY_PATH`` and the usual system ones), which finds an
installed ``lib<name>.so*`` the same way the dynamic loader would.

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


_OPTIONAL = {"oqs": "liboqs.so", "liboqs": "liboqs.so", "nettle": "libnettle.so", "libnettle": "libnettle.so",
             "libnettle-6": "libnettle-6.so"}
"""The names asyncssh looks up, and the file name each stands for (``oqs`` and ``liboqs`` both mean liboqs)."""


def _quick_find(original: Callable[[str], str | None]) -> Callable[[str], str | None]:
    found: dict[str, str | None] = {}

    def find(name: str) -> str | None:
        prefix = _OPTIONAL.get(name)
        if prefix is None or not sys.platform.startswith("linux"):
            return original(name)
        if not found:
            found.update(_search(set(_OPTIONAL.values())))  # one pass over the folders for every library
        return found[prefix]

    return find


def _search(prefixes: set[str]) -> dict[str, str | None]:
    """For each ``lib<name>.so`` prefix, the first folder's soname for it (None where no folder has it)."""
    folders = [d for d in os.environ.get("LD_LIBRARY_PATH", "").split(":") if d]
    for base in _DIRS:
        folders.append(base)
        folders.extend(glob.glob(f"{base}/*-linux-gnu*"))
    found: dict[str, str | None] = dict.fromkeys(prefixes)
    for folder in folders:
        try:
            names = [e.name for e in os.scandir(folder) if e.name.startswith("lib")]
        except OSError:
            continue
        for prefix in prefixes:
            hits = [name for name in names if name.startswith(prefix)]
            if hits and found[prefix] is None:
                # The soname (lib<name>.so.8) before a longer version or the bare development link, as ldconfig answers.
                found[prefix] = min(hits, key=lambda hit: (not hit.startswith(prefix + "."), len(hit), hit))
    return found


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
