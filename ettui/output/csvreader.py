"""Rows from a CSV output (what the SOAP tracking extract writes), same interface as ``OutputReader``.

The tracking extract's zip holds one CSV per table (``Sent.csv``, ``Opens.csv``
...). The viewer, the exporters and ``ettui preview`` take either reader.
Rows stream from the file or straight from the zip member; memory stays flat.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from ettui.output.base import Row, uncompressed_size, zip_members
from ettui.output.stream import DAMAGED, OutputError, batched, damaged


class CsvOutputReader:
    """Rows of one CSV file, plain or inside a zip; the header gives the columns."""

    def __init__(self, source: Path, member: str | None = None) -> None:
        self.source = Path(source)
        if not self.source.is_file():
            raise OutputError(f"Output file {self.source} does not exist; fetch it again.")
        self._is_zip = zipfile.is_zipfile(self.source)
        self.member: str | None = None
        if self._is_zip:
            names = [n for n in zip_members(self.source) if n.lower().endswith(".csv")]
            if member is not None and member not in names:
                raise OutputError(f"{self.source.name} has no CSV member {member!r}; it holds {', '.join(names) or 'none'}.")
            if not names:
                raise OutputError(f"{self.source.name} holds no CSV file.")
            self.member = member or names[0]
        self._columns: list[str] | None = None
        self._pass: IO[bytes] | None = None
        """The byte stream of the pass under way (its position is the progress)."""
        self._size: int | None = None

    @property
    def name(self) -> str:
        return f"{self.source.name}:{self.member}" if self.member else self.source.name

    @property
    def record_tag(self) -> str | None:
        """CSV has no record element; the table name stands in for it."""
        return Path(self.member or self.source.name).stem

    def members(self) -> list[str]:
        return [n for n in zip_members(self.source) if n.lower().endswith(".csv")] if self._is_zip else []

    def _open(self) -> IO[str]:
        try:
            if self._is_zip:
                with zipfile.ZipFile(self.source) as archive:
                    raw: IO[bytes] = archive.open(self.member or "")
            else:
                raw = open(self.source, "rb")  # noqa: SIM115 -- returned; the caller closes it with `with`
        except (zipfile.BadZipFile, OSError, KeyError) as exc:
            raise OutputError(f"Cannot open {self.name}: {exc}.") from exc
        self._pass = raw
        # utf-8-sig: the extract's "UnicodeOutput" files may start with a BOM.
        return io.TextIOWrapper(raw, encoding="utf-8-sig", errors="replace", newline="")

    @property
    def columns(self) -> list[str]:
        if self._columns is None:
            with self._open() as fh:
                try:
                    self._columns = next(csv.reader(fh), [])
                except DAMAGED as exc:
                    raise damaged(self.name, exc) from exc
        return list(self._columns)

    def iter_values(self, limit: int | None = None) -> Iterator[list[str]]:
        if limit is not None and limit <= 0:
            return
        with self._open() as fh:
            reader = csv.reader(fh)
            try:
                header = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                raise OutputError(f"{self.name} is not readable CSV: {exc}.") from exc
            except DAMAGED as exc:
                raise damaged(self.name, exc) from exc
            self._columns = header
            produced = 0
            try:
                for row in reader:
                    yield row
                    produced += 1
                    if limit is not None and produced >= limit:
                        return
            except csv.Error as exc:
                raise OutputError(f"{self.name} is not readable CSV at row {produced + 1}: {exc}.") from exc
            except DAMAGED as exc:
                raise damaged(self.name, exc) from exc

    def iter_rows(self, limit: int | None = None) -> Iterator[Row]:
        for values in self.iter_values(limit):
            # Vendor CSV can be ragged: extra cells are dropped, missing ones stay absent
            # (readers look cells up with `row.get(column, "")`), so not strict on purpose.
            yield dict(zip(self.columns, values, strict=False))

    def batches(self, size: int = 500, limit: int | None = None) -> Iterator[list[Row]]:
        return batched(self.iter_rows(limit), size)

    def count(self) -> int:
        return sum(1 for _ in self.iter_values())

    @property
    def fraction_read(self) -> float | None:
        """How far the pass under way is through the CSV's bytes, 0 to 1; None before one."""
        raw = self._pass
        if raw is None:
            return None
        if self._size is None:
            self._size = uncompressed_size(self.source, self.member)
        try:
            position = raw.tell()  # a zip member's tell() counts expanded bytes
        except (OSError, ValueError):  # closed: the pass is over
            return 1.0
        return min(1.0, position / self._size) if self._size else 1.0
