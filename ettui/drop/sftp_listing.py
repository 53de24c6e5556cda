"""Reading a drop folder over SFTP: every reply bounded, at most ``MAX_LISTING`` names."""

from __future__ import annotations

import asyncio
import contextlib
import stat as stat_mod
from datetime import UTC, datetime
from typing import TYPE_CHECKING, cast

from ettui.drop._asyncssh_import import asyncssh
from ettui.drop.transport import RemoteEntry
from ettui.errors import DropError
from ettui.safetext import clean

if TYPE_CHECKING:
    from ettui.drop.client import DropClient

__all__ = ["MAX_LISTING", "entry", "list_folder"]

MAX_LISTING = 100_000
"""Most names ettui reads from one drop folder (the vendor's drop holds tens)."""


async def list_folder(client: DropClient, sftp: asyncssh.SFTPClient, folder: str) -> list[RemoteEntry]:
    """The entries of a remote folder (without ``.`` and ``..``), sorted by name."""
    base = folder.rstrip("/")
    entries: list[RemoteEntry] = []
    names = sftp.scandir(folder).__aiter__()
    try:
        while True:
            # Each reply within the stall timeout, and at most MAX_LISTING names:
            # a server that lists forever is cut short, and said so.
            try:
                n = await client.bounded(names.__anext__(), f"listing {folder}")
            except StopAsyncIteration:
                break
            # A str folder makes asyncssh decode the names: they are str, never bytes.
            name = cast(str, n.filename)
            if name in (".", ".."):
                continue
            if len(entries) >= MAX_LISTING:
                raise DropError(
                    f"The drop folder {clean(folder)} at {client.host}:{client.port} lists more than {MAX_LISTING:,} "
                    "entries; ettui stopped reading it (check drop_folder names the batch folder)."
                )
            entries.append(entry(f"{base}/{name}", n.attrs))
    except DropError:
        raise
    except BaseException as exc:
        raise client.remote_error(exc, folder, what="folder") from None
    finally:
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(names.aclose(), 1.0)  # type: ignore[attr-defined]
    return sorted(entries, key=lambda e: e.name)


def entry(path: str, attrs: asyncssh.SFTPAttrs) -> RemoteEntry:
    """A ``RemoteEntry`` from SFTP attributes (a folder by its type or its mode bits)."""
    is_dir = attrs.type == asyncssh.FILEXFER_TYPE_DIRECTORY or (
        attrs.permissions is not None and stat_mod.S_ISDIR(attrs.permissions)
    )
    mtime = datetime.fromtimestamp(attrs.mtime or 0, tz=UTC)
    if attrs.mtime_ns:
        mtime = mtime.replace(microsecond=attrs.mtime_ns // 1000)
    name = path.rstrip("/").rsplit("/", 1)[-1]
    return RemoteEntry(name=name, path=path, size=attrs.size or 0, mtime=mtime, is_dir=is_dir)
