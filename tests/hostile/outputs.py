"""Small output files with hostile cells, and a zip whose member fails its CRC."""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path
from xml.sax.saxutils import escape

from tests.hostile.hostile import HOSTILE_VALUES

HOSTILE_COLUMN = "Tag\x1b[2J[b]"
"""A CSV header is remote text too: a column name that clears the screen and opens bold."""

XML_LEGAL = {k: v for k, v in HOSTILE_VALUES.items() if "\x1b" not in v}
"""Cells an XML file can hold (ESC is not an XML character)."""


def hostile_csv(path: Path) -> Path:
    """A tracking-extract style CSV: one row per attack, ESC and all."""
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n", quoting=csv.QUOTE_ALL)  # a bare CR stays in its cell
        writer.writerow(["Attack", "EmailAddress", "Note", HOSTILE_COLUMN])
        for name, value in HOSTILE_VALUES.items():
            writer.writerow([name, f"{name}@example.com", value, "t"])
    return path


def hostile_xml(path: Path) -> Path:
    """A bulk-async style XML output with one record per XML-legal attack."""
    rows = "".join(
        f"<Subscriber><Attack>{name}</Attack><Note>{escape(value).replace(chr(13), '&#13;')}</Note></Subscriber>"
        for name, value in XML_LEGAL.items()
    )
    path.write_text(f'<?xml version="1.0" encoding="utf-8"?><Subscribers>{rows}</Subscribers>', encoding="utf-8")
    return path


def bad_crc_zip(path: Path, member: str = "output.xml") -> Path:
    """A zip whose one member's data was altered after its CRC was written."""
    body = b"<Subscribers>" + b"".join(b"<Subscriber><Id>%d</Id></Subscriber>" % i for i in range(40)) + b"</Subscribers>"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr(member, body)
    data = bytearray(buf.getvalue())
    at = data.index(b"<Subscriber><Id>7")
    data[at + 16] ^= 0x01  # "7" -> "6": still XML, wrong CRC
    path.write_bytes(bytes(data))
    return path
