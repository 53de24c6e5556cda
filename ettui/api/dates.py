"""Dates as users type them and as the XML API wants them.

Users may write the vendor's ``M/D/YYYY`` (zero-padded or not), ISO
``YYYY-MM-DD``, or a relative form (``today``, ``yesterday``, ``-7d``,
``-2w``) resolved against an injected "today" so tests never depend on the
wall clock. The XML API gets ``M/D/YYYY`` without zero padding, exactly like
the vendor's examples (spec §2.5).
"""

from __future__ import annotations

import re
from datetime import date, timedelta

from ettui.errors import ValidationError

__all__ = ["FORMS_HINT", "format_date", "parse_date"]

FORMS_HINT = "M/D/YYYY (e.g. 3/1/2012), YYYY-MM-DD, today, yesterday, -7d or -2w"
"""The accepted forms, in words, for help texts and error messages."""

_US = re.compile(r"(\d{1,2})/(\d{1,2})/(\d+)")
_ISO = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")
_RELATIVE = re.compile(r"-\s*(\d{1,5})\s*([dw])")
_MIN_YEAR = 1900  # the vendor's tracking data cannot predate e-mail marketing


def parse_date(text: str, today: date, *, param: str | None = None) -> date:
    """Read a date in any accepted form.

    Args:
        text: What the user typed.
        today: The date ``today``/``yesterday``/``-Nd``/``-Nw`` count back from.
        param: The parameter being read, so the error can name it.

    Raises:
        ValidationError: one sentence naming ``param`` and the accepted forms.
    """
    label = param or "the date"
    cleaned = text.strip().lower()
    if not cleaned:
        raise ValidationError(f"{label} is empty; write a date as {FORMS_HINT}.", param=param)
    if cleaned == "today":
        return today
    if cleaned == "yesterday":
        return today - timedelta(days=1)
    if match := _RELATIVE.fullmatch(cleaned):
        count, unit = int(match.group(1)), match.group(2)
        try:
            resolved = today - timedelta(days=count * (7 if unit == "w" else 1))
        except OverflowError:
            resolved = date.min
        if resolved.year < _MIN_YEAR:
            raise ValidationError(f"{label} {text.strip()!r} reaches too far back; use a smaller number.", param=param)
        return resolved
    if match := _US.fullmatch(cleaned):
        month, day, year_text = match.groups()
        if len(year_text) != 4:
            raise ValidationError(
                f"{label} {text.strip()!r} needs a four-digit year, e.g. {month}/{day}/20{year_text[-2:].zfill(2)}.",
                param=param,
            )
        return _make(int(year_text), int(month), int(day), text, label, param)
    if match := _ISO.fullmatch(cleaned):
        year, month, day = (int(part) for part in match.groups())
        return _make(year, month, day, text, label, param)
    raise ValidationError(f"{label} {text.strip()!r} is not a date; write it as {FORMS_HINT}.", param=param)


def _make(year: int, month: int, day: int, text: str, label: str, param: str | None) -> date:
    """Build the date, turning an impossible day or month into a clear sentence."""
    if year < _MIN_YEAR:
        raise ValidationError(f"{label} {text.strip()!r} is before {_MIN_YEAR}; check the year.", param=param)
    try:
        return date(year, month, day)
    except ValueError:
        raise ValidationError(
            f"{label} {text.strip()!r} is not a real calendar day (month/day/year); check the month and day.",
            param=param,
        ) from None


def format_date(value: date) -> str:
    """``M/D/YYYY`` without zero padding, as the vendor's examples write dates."""
    return f"{value.month}/{value.day}/{value.year:04d}"
