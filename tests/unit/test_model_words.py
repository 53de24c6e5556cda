"""The words operators type, read once for the CLI and the board's filter."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ettui.model import JobStatus, parse_duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [("30m", timedelta(minutes=30)), (" 6h ", timedelta(hours=6)), ("1.5d", timedelta(hours=36)),
     ("1W", timedelta(weeks=1)), ("10s", timedelta(seconds=10))],
)
def test_durations_with_a_unit(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


def test_a_bare_number_needs_a_bare_unit() -> None:
    assert parse_duration("6") is None
    assert parse_duration("6", bare_unit="h") == timedelta(hours=6)


@pytest.mark.parametrize("text", ["", "h", "yesterday-ish", "-2d", "2x"])
def test_what_is_no_duration(text: str) -> None:
    assert parse_duration(text, bare_unit="h") is None


@pytest.mark.parametrize(
    ("word", "expected"),
    [("error", JobStatus.ERROR), (" Complete", JobStatus.COMPLETE), ("completed", JobStatus.COMPLETE),
     ("in process", JobStatus.PROCESSING), ("unknown", JobStatus.UNKNOWN), ("DISMISSED", JobStatus.DISMISSED),
     ("unconfirmed", JobStatus.UNCONFIRMED), ("done", None), ("", None)],
)
def test_status_words(word: str, expected: JobStatus | None) -> None:
    assert JobStatus.from_word(word) is expected
