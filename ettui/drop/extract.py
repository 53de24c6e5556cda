"""Safe extraction of a downloaded output zip into a folder of its own.

The zip comes from a remote server, so every member is treated as hostile:

* names: absolute paths, drive letters, backslashes, ``..`` components and NUL
  are refused (zip-slip);
* types: symlinks and other non-regular entries (from the Unix mode kept in
  ``external_attr``) are refused; directories are created, never followed;
* sizes: the *declared* uncompressed size and compression ratio are checked
  before anything is written, and the *actual* bytes are counted while
  streaming, so a header that lies about its size cannot fill the disk.

Everything is written into a hidden scratch folder beside the destination and
renamed into place only when every member is out; on any failure the scratch
folder is removed, so nothing partial is left and nothing lands outside.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import tempfile
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from ettui.errors import ExtractError

GiB = 1024**3

RATIO_FLOOR = 1024 * 1024
"""Members smaller than this skip the ratio test: a small file of repeated XML
tags can compress 500:1 and is harmless; a bomb needs size to do damage."""

_CHUNK = 1024 * 1024
_DRIVE = re.compile(r"^[A-Za-z]:")


def extract_zip(
    zip_path: Path,
    dest_dir: Path,
    *,
    max_member_bytes: int = 2 * GiB,
    max_total_bytes: int = 8 * GiB,
    max_ratio: float = 200.0,
    max_members: int = 10_000,
) -> list[Path]:
    """Extract ``zip_path`` into ``dest_dir`` (replaced if it exists); return the files written.

    Raises ``ExtractError`` naming the offending member; ``dest_dir`` is then
    untouched (an earlier extraction stays as it was) and no partial output remains.
    """
    zip_path, dest_dir = Path(zip_path), Path(dest_dir)
    try:
        archive = zipfile.ZipFile(zip_path)
    except (OSError, zipfile.BadZipFile) as exc:
        raise ExtractError(f"{zip_path.name} cannot be opened as a zip ({exc}).") from None
    with archive:
        members = archive.infolist()
        _check_all(zip_path, members, max_member_bytes, max_total_bytes, max_ratio, max_members)
        try:
            dest_dir.parent.mkdir(parents=True, exist_ok=True)
            scratch = Path(tempfile.mkdtemp(prefix=f".{dest_dir.name}.", suffix=".partial", dir=dest_dir.parent))
        except OSError as exc:
            raise ExtractError(f"Cannot create a folder beside {dest_dir} ({exc.strerror or exc}).") from None
        try:
            written = _extract_all(archive, members, scratch, max_member_bytes, max_total_bytes)
            _swap_into_place(scratch, dest_dir)
        except BaseException:
            shutil.rmtree(scratch, ignore_errors=True)
            raise
    return [dest_dir / rel for rel in written]


def safe_member_path(name: str) -> PurePosixPath:
    """The relative path a member may be written to; raises ``ValueError`` with the reason."""
    if "\0" in name:
        raise ValueError("its name contains a NUL byte")
    if "\\" in name:
        raise ValueError("its name contains a backslash")
    if name.startswith("/") or _DRIVE.match(name):
        raise ValueError("its path is absolute")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise ValueError("its path climbs out of the folder with '..'")
    if not parts:
        raise ValueError("its name is empty")
    return PurePosixPath(*parts)


def _kind(info: zipfile.ZipInfo) -> str:
    """``file``, ``dir``, ``link`` or ``special`` from the Unix mode in the high 16 bits."""
    mode = info.external_attr >> 16
    if info.is_dir() or stat.S_ISDIR(mode):
        return "dir"
    if stat.S_ISLNK(mode):
        return "link"
    if mode and not stat.S_ISREG(mode) and stat.S_IFMT(mode):
        return "special"
    return "file"


def _check_all(
    zip_path: Path,
    members: list[zipfile.ZipInfo],
    max_member_bytes: int,
    max_total_bytes: int,
    max_ratio: float,
    max_members: int,
) -> None:
    """Refuse the whole zip before writing a byte if any header is unacceptable."""
    if len(members) > max_members:
        raise ExtractError(f"{zip_path.name} has {len(members):,} members, more than the limit of {max_members:,}.")
    total = 0
    seen: set[PurePosixPath] = set()
    for info in members:
        name = info.filename
        try:
            rel = safe_member_path(name)
        except ValueError as why:
            raise ExtractError(f"Refused member {name!r} of {zip_path.name}: {why}.") from None
        kind = _kind(info)
        if kind == "link":
            raise ExtractError(f"Refused member {name!r} of {zip_path.name}: it is a symbolic link.")
        if kind == "special":
            raise ExtractError(f"Refused member {name!r} of {zip_path.name}: it is not a regular file.")
        if kind == "dir":
            continue
        if rel in seen:
            raise ExtractError(f"Refused member {name!r} of {zip_path.name}: the name appears twice.")
        seen.add(rel)
        if info.file_size > max_member_bytes:
            raise ExtractError(
                f"Refused member {name!r} of {zip_path.name}: it expands to {info.file_size:,} bytes, "
                f"over the limit of {max_member_bytes:,}."
            )
        if info.file_size > RATIO_FLOOR and info.file_size > max_ratio * max(info.compress_size, 1):
            ratio = info.file_size / max(info.compress_size, 1)
            raise ExtractError(
                f"Refused member {name!r} of {zip_path.name}: it compresses {ratio:,.0f}:1, "
                f"over the limit of {max_ratio:g}:1 (a zip bomb?)."
            )
        total += info.file_size
        if total > max_total_bytes:
            raise ExtractError(
                f"Refused member {name!r} of {zip_path.name}: the zip expands to more than {max_total_bytes:,} bytes in total."
            )


def _extract_all(
    archive: zipfile.ZipFile,
    members: list[zipfile.ZipInfo],
    scratch: Path,
    max_member_bytes: int,
    max_total_bytes: int,
) -> list[PurePosixPath]:
    written: list[PurePosixPath] = []
    total = 0
    for info in members:
        rel = safe_member_path(info.filename)
        target = scratch.joinpath(rel)
        # Belt and braces: resolve and confirm the target is still inside scratch.
        landing = os.path.realpath(target.parent if _kind(info) != "dir" else target)
        if os.path.commonpath([landing, os.path.realpath(scratch)]) != os.path.realpath(scratch):
            raise ExtractError(f"Refused member {info.filename!r}: it would land outside the folder.")
        if _kind(info) == "dir":
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        # Never more than the header declared, never more than the limit: a lying header stops here.
        limit = min(info.file_size, max_member_bytes)
        count = 0
        try:
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
            with os.fdopen(fd, "wb") as out, archive.open(info) as src:
                while chunk := src.read(_CHUNK):
                    count += len(chunk)
                    total += len(chunk)
                    if count > limit or total > max_total_bytes:
                        raise ExtractError(
                            f"Refused member {info.filename!r}: it expands beyond its declared {info.file_size:,} bytes "
                            "(the zip's header lies)."
                        )
                    out.write(chunk)
        except ExtractError:
            raise
        except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError) as exc:
            raise ExtractError(f"Member {info.filename!r} could not be extracted: {exc}.") from None
        except OSError as exc:
            raise ExtractError(f"Writing member {info.filename!r} failed: {exc.strerror or exc}.") from None
        if count != info.file_size:
            raise ExtractError(
                f"Member {info.filename!r} gave {count:,} bytes but its header declares {info.file_size:,}."
            )
        written.append(rel)
    return written


def _swap_into_place(scratch: Path, dest_dir: Path) -> None:
    """Rename the finished scratch folder to ``dest_dir``; an older extraction is replaced."""
    old: Path | None = None
    if dest_dir.exists() or dest_dir.is_symlink():
        if dest_dir.is_symlink() or not dest_dir.is_dir():
            raise ExtractError(f"{dest_dir} exists and is not a folder; move it away and try again.")
        old = Path(tempfile.mkdtemp(prefix=f".{dest_dir.name}.", suffix=".old", dir=dest_dir.parent))
        os.replace(dest_dir, old / "x")
    try:
        os.replace(scratch, dest_dir)
    except OSError as exc:
        if old is not None:
            os.replace(old / "x", dest_dir)  # put the previous extraction back
        raise ExtractError(f"Cannot move the extracted files into {dest_dir} ({exc.strerror or exc}).") from None
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
