"""Date parsing and formatting for the XML API (``ettui.api.dates``)."""

from __future__ import annotations

from datetime import date

import pytest

from ettui.api.dates import format_date, parse_date
from ettui.errors import ValidationError

TODAY = date(2012, 3, 15)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3/1/2012", date(2012, 3, 1)),
        ("03/01/2012", date(2012, 3, 1)),
        ("12/31/2011", date(2011, 12, 31)),
        ("2012-03-01", date(2012, 3, 1)),
        ("2012-3-1", date(2012, 3, 1)),
        ("  3/1/2012 ", date(2012, 3, 1)),
        ("today", TODAY),
        ("Today", TODAY),
        ("yesterday", date(2012, 3, 14)),
        ("-7d", date(2012, 3, 8)),
        ("-2w", date(2012, 3, 1)),
        ("-0d", TODAY),
        ("-15d", date(2012, 2, 29)),  # across a leap day
        ("2/29/2012", date(2012, 2, 29)),
    ],
)
def test_accepted_forms(text: str, expected: date) -> None:
    assert parse_date(text, TODAY) == expected


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", "empty"),
        ("13/1/2012", "not a real calendar day"),
        ("2/30/2012", "not a real calendar day"),
        ("2/29/2011", "not a real calendar day"),
        ("3/1/12", "four-digit year"),
        ("3/1/1812", "before 1900"),
        ("March 1", "not a date"),
        ("7d", "not a date"),
        ("+7d", "not a date"),
        ("-7m", "not a date"),
        ("2012/03/01", "not a date"),
        ("-99999w", "too far back"),
    ],
)
def test_rejected_forms_name_the_parameter(text: str, words: str) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_date(text, TODAY, param="start_date")
    assert caught.value.param == "start_date"
    message = str(caught.value)
    assert message.startswith("start_date")
    assert words in message
    assert message.endswith(".")
    assert "\n" not in message


def test_error_without_param_still_reads_as_a_sentence() -> None:
    with pytest.raises(ValidationError, match=r"^the date 'soon' is not a date; write it as M/D/YYYY"):
        parse_date("soon", TODAY)


@pytest.mark.parametrize(
    ("value", "text"),
    [(date(2012, 3, 1), "3/1/2012"), (date(2009, 11, 1), "11/1/2009"), (date(2012, 12, 31), "12/31/2012")],
)
def test_format_has_no_zero_padding(value: date, text: str) -> None:
    assert format_date(value) == text
    assert parse_date(text, TODAY) == value
