"""Checks on values a reply claims, before anything stores or uses them.

A batch ID is stored and sent back on every poll; a file name becomes a path
on the drop. A hostile or broken endpoint can put anything in either (a CR
that fakes a line, ``../../etc/hostname``), so both are checked here against
the forms the vendor uses, and a refused value is named in messages only as
``safetext.clean`` makes it.
"""

from __future__ import annotations

import re

from ettui.safetext import clean, is_clean

__all__ = ["excerpt", "file_name_problem", "is_batch_id", "is_request_id", "shown"]

MAX_BATCH_ID_DIGITS = 19
"""Fits a signed 64-bit integer, the widest ID the vendor could use (spec §2.3: ``<batchID>552210</batchID>``)."""

_REQUEST_ID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
"""The GUID form of a SOAP ``RequestID`` (spec §7.5 sample; the sandbox's ``uuid4``)."""

FORBIDDEN = '\\/:*<>|?"'
"""Characters the vendor forbids in file names (spec §5.3); ``/`` and ``\\`` also make a path."""

MAX_FILE_NAME = 255

_SHOWN = 80


def shown(value: str) -> str:
    """``value`` safe to print in a message: controls made visible, at most 80 characters."""
    if len(value) > _SHOWN:
        return clean(value[:_SHOWN]) + "…"
    return clean(value)


MAX_QUOTED = 500
"""Characters of a reply's own text (an error description, a fault string, a status)
that ettui quotes in a sentence, stores as a job's error and shows in a toast."""


def excerpt(value: str, limit: int = MAX_QUOTED) -> str:
    """``value`` cut to ``limit`` characters (with "…"): a reply's text quoted in a sentence.

    A reply can carry megabytes in its error description; quoted whole, the
    "one sentence" floods the terminal, the job store and the TUI's toasts.
    Not cleaned: the display boundary does that.
    """
    return value if len(value) <= limit else value[:limit] + "…"


def is_batch_id(value: str) -> bool:
    """True for an XML API batch ID: 1 to 19 ASCII digits, nothing else."""
    return value.isascii() and value.isdigit() and len(value) <= MAX_BATCH_ID_DIGITS


def is_request_id(value: str) -> bool:
    """True for a SOAP ``RequestID``: a GUID, ``8-4-4-4-12`` hex digits."""
    return _REQUEST_ID.fullmatch(value) is not None


def file_name_problem(name: str) -> str | None:
    """Why ``name`` is not a bare file name (a phrase), or None when it is one."""
    if not name:
        return "is empty"
    if not is_clean(name):
        return "holds control characters"
    if "/" in name or "\\" in name:
        return "holds a path separator"
    if ".." in name:
        return "holds '..'"
    bad = sorted({ch for ch in name if ch in FORBIDDEN})
    if bad:
        return f"holds {' '.join(bad)}, which the vendor forbids in file names"
    if name.strip() != name or name == ".":
        return "is not a bare file name"
    if len(name) > MAX_FILE_NAME:
        return f"is longer than {MAX_FILE_NAME} characters"
    return None
