"""Reading export outputs: XML (bulk async) and CSV (tracking extract), streamed."""

from __future__ import annotations

import zipfile
from pathlib import Path

from ettui.output.base import Row, RowReader, zip_members
from ettui.output.csvreader import CsvOutputReader
from ettui.output.reader import OutputReader


def output_members(path: Path) -> list[str]:
    """The readable files (XML or CSV) inside a zip; [] for a plain file."""
    path = Path(path)
    if not zipfile.is_zipfile(path):
        return []
    return [n for n in zip_members(path) if n.lower().endswith((".xml", ".csv"))]


def open_output(path: Path, member: str | None = None) -> RowReader:
    """The right streaming reader for an output file, a zip, or one member of a zip."""
    path = Path(path)
    name = member
    if name is None and path.is_file() and zipfile.is_zipfile(path):
        readable = output_members(path)
        name = readable[0] if readable else None
    target = (name or path.name).lower()
    if target.endswith(".csv"):
        return CsvOutputReader(path, member)
    return OutputReader(path, member)


__all__ = ["CsvOutputReader", "OutputReader", "Row", "RowReader", "open_output", "output_members"]
