"""The SOAP catalogue: tracking-extract parameters, validation and wire values."""

from __future__ import annotations

from datetime import date

import pytest

from ettui.api.soap_catalogue import TRACKING_EXTRACT_ID, find_call, format_soap_datetime, resolve
from ettui.errors import ValidationError

TODAY = date(2024, 6, 8)
BASE = {"StartDate": "6/1/2024", "EndDate": "6/8/2024", "OutputFileName": "ops_tracking.zip"}


def pairs(params: dict[str, str], **kw: int | None) -> dict[str, str]:
    call, sent = resolve("tracking-extract", params, today=lambda: TODAY, **kw)  # type: ignore[arg-type]
    assert call.extract_id == TRACKING_EXTRACT_ID
    return dict(sent)


def test_aliases_find_the_tracking_extract() -> None:
    for name in ("tracking-extract", "Tracking Extract", "TRACKING", "all-jobs"):
        assert find_call(name) is not None
    assert find_call("C3") is None


def test_dates_are_inclusive_days_in_the_vendor_form() -> None:
    sent = pairs(BASE)
    assert sent["StartDate"] == "6/1/2024 12:00:00 AM"
    assert sent["EndDate"] == "6/8/2024 11:59:59 PM"


def test_relative_iso_and_times_are_accepted() -> None:
    params = {"startdate": "-7d", "EndDate": "2024-06-08 2:30 PM", "outputfilename": "a.zip"}
    sent = pairs(params)
    assert sent["StartDate"] == "6/1/2024 12:00:00 AM"
    assert sent["EndDate"] == "6/8/2024 2:30:00 PM"
    assert pairs({**BASE, "EndDate": "6/8/2024 14:05:09"})["EndDate"] == "6/8/2024 2:05:09 PM"


def test_flags_default_explicitly_and_user_values_are_normalised() -> None:
    sent = pairs({**BASE, "extractopens": "no", "SendIDs": "12283113, 12283120", "AccountIDs": "*"})
    assert sent["ExtractOpens"] == "false" and sent["ExtractSent"] == "true"
    assert sent["SendIDs"] == "12283113,12283120" and sent["AccountIDs"] == "*"
    assert sent["Format"] == "csv"
    assert "NotificationEmail" not in sent


@pytest.mark.parametrize(
    ("change", "param", "words"),
    [
        ({"OutputFileName": "tracking.csv"}, "OutputFileName", "must end in .zip"),
        ({"OutputFileName": "a/b.zip"}, "OutputFileName", "does not allow"),
        ({"OutputFileName": 'what?.zip'}, "OutputFileName", "does not allow"),
        ({"StartDate": "6/9/2024"}, "StartDate", "is after EndDate"),
        ({"StartDate": "13/1/2024"}, "StartDate", "not a real calendar day"),
        ({"EndDate": "6/8/2024 25:00"}, "EndDate", "not a real time"),
        ({"ExtractOpens": "maybe"}, "ExtractOpens", "true or false"),
        ({"SendIDs": "12,abc"}, "SendIDs", "comma"),
        ({"Format": "xml"}, "Format", "one of"),
        ({"Bogus": "1"}, "Bogus", "has no parameter"),
    ],
)
def test_invalid_values_name_the_parameter(change: dict[str, str], param: str, words: str) -> None:
    with pytest.raises(ValidationError) as caught:
        pairs({**BASE, **change})
    assert caught.value.param == param
    assert words in caught.value.message
    assert caught.value.call in ("tracking-extract", None)


def test_required_parameters() -> None:
    for missing in ("StartDate", "EndDate", "OutputFileName"):
        params = {k: v for k, v in BASE.items() if k != missing}
        with pytest.raises(ValidationError) as caught:
            pairs(params)
        assert caught.value.param == missing


def test_range_limit_is_off_by_default_and_configurable() -> None:
    long_range = {**BASE, "StartDate": "10/26/2012", "EndDate": "10/29/2015"}  # the vendor's own sample span
    assert pairs(long_range)["StartDate"] == "10/26/2012 12:00:00 AM"
    assert pairs({**BASE, "StartDate": "5/10/2024"}, max_range_days=30)
    with pytest.raises(ValidationError) as caught:
        pairs({**BASE, "StartDate": "5/1/2024"}, max_range_days=30)
    assert caught.value.param == "EndDate" and "30 days" in caught.value.message


def test_same_parameter_twice_in_two_spellings() -> None:
    with pytest.raises(ValidationError, match="given twice"):
        pairs({**BASE, "startdate": "-7d"})


def test_unknown_call() -> None:
    with pytest.raises(ValidationError, match="no SOAP call"):
        resolve("C1-legacy", BASE, today=lambda: TODAY)


def test_format_soap_datetime_noon_and_midnight() -> None:
    from datetime import datetime

    assert format_soap_datetime(datetime(2024, 6, 1, 0, 0, 0)) == "6/1/2024 12:00:00 AM"
    assert format_soap_datetime(datetime(2024, 6, 1, 12, 0, 5)) == "6/1/2024 12:00:05 PM"
