"""What the XML and the CSV reader share: the row type, the reader protocol, zip listing."""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from ettui.output.stream import OutputError

Row = dict[str, str]
"""One record: column name -> cell text (a column the record lacks is absent)."""


class RowReader(Protocol):
    """A streaming reader of one output file (or one member of a zip).

    ``OutputReader`` (XML) and ``CsvOutputReader`` both are one; the viewer,
    the exporters and ``ettui preview`` take either. Every method streams:
    memory stays flat whatever the file size.
    """

    @property
    def name(self) -> str:
        """How errors name the file: ``file.zip:member`` or ``file``."""
        ...

    @property
    def record_tag(self) -> str | None:
        """The record element (XML) or the table name (CSV); None before any record."""
        ...

    @property
    def columns(self) -> list[str]:
        """Column names in first-seen order (grows while an XML file is read)."""
        ...

    def members(self) -> list[str]:
        """The readable members of a zip source; [] for a plain file."""
        ...

    def iter_values(self, limit: int | None = None) -> Iterator[list[str]]:
        """Each row's cells in ``columns`` order (a row may be shorter than ``columns``)."""
        ...

    def iter_rows(self, limit: int | None = None) -> Iterator[Row]:
        """Each row as a dict."""
        ...

    def batches(self, size: int = 500, limit: int | None = None) -> Iterator[list[Row]]:
        """Rows in lists of ``size`` (fewer calls across a thread boundary)."""
        ...

    def count(self) -> int:
        """The number of rows (reads the whole file)."""
        ...

    @property
    def fraction_read(self) -> float | None:
        """How far the pass under way is through the file's (uncompressed) bytes, 0 to 1; None before one."""
        ...


def uncompressed_size(path: Path, member: str | None) -> int:
    """The bytes a reader goes through: the zip member's expanded size, or the file's size."""
    if member is None:
        return path.stat().st_size
    with zipfile.ZipFile(path) as archive:
        return archive.getinfo(member).file_size


def zip_members(path: Path) -> list[str]:
    """Every file member of a zip, in archive order."""
    try:
        with zipfile.ZipFile(path) as archive:
            return [i.filename for i in archive.infolist() if not i.is_dir()]
    except (zipfile.BadZipFile, OSError) as exc:
        raise OutputError(f"{path.name} is not a readable zip ({exc}); fetch it again.") from exc
