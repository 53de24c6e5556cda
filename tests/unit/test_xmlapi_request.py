"""The XML API catalogue, validation and request documents (nothing is sent here)."""

from __future__ import annotations

from datetime import date

import pytest
from lxml import etree

from ettui.api.base import BatchApi, ParamKind
from ettui.api.catalogue import CALLS, find_call
from ettui.api.xmlapi import MASK, XmlApi
from ettui.errors import ConfigError, ValidationError
from ettui.model import BatchRequest

PASSWORD = "pa$$+w&rd=x<y>"
TODAY = date(2012, 3, 15)


@pytest.fixture
def api() -> XmlApi:
    return XmlApi("https://api.dc1.exacttarget.com/integrate.aspx", "ops-batch-user", PASSWORD, today=lambda: TODAY)


def shape(document: str) -> list[tuple[str, str]]:
    """(path, text) of every element under <system>, in document order."""
    root = etree.fromstring(document.encode())
    system = root.find("system")
    assert system is not None
    out = []
    for element in system.iter():
        if element is system:
            continue
        path = etree.ElementTree(system).getpath(element).removeprefix("/system/")
        out.append((path, (element.text or "").strip()))
    return out


def test_is_a_batch_api(api: XmlApi) -> None:
    assert isinstance(api, BatchApi)
    assert api.dialect == "xml"


def test_catalogue_has_c1_to_c8_with_documented_params(api: XmlApi) -> None:
    specs = api.calls()
    assert [s.id for s in specs] == [f"C{n}" for n in range(1, 9)]
    for spec in specs:
        assert spec.name and spec.help and spec.aliases
        for param in spec.params:
            assert param.help.endswith("."), (spec.id, param.name)
    assert {p.name for p in specs[1].params if p.required} == {"start_date", "end_date", "job_start_date", "job_end_date"}
    assert specs[3].param("JOB_ID") is not None and specs[3].param("job_id").kind is ParamKind.INT  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("name", "call_id"),
    [
        ("C1", "C1"), ("c1", "C1"), ("all-jobs", "C1"), ("enterprise-jobs", "C2"), ("subscriber-statuses", "C3"),
        ("send-tracking", "C4"), ("send-tracking-attributes", "C5"), ("sent", "C6"), ("sent-attributes", "C7"),
        ("list-members", "C8"), ("Retrieve Subscriber Statuses (Bulk Async)", "C3"),
    ],
)
def test_call_names_and_aliases(name: str, call_id: str) -> None:
    call = find_call(name)
    assert call is not None and call.id == call_id


def test_document_envelope(api: XmlApi) -> None:
    document = api.preview(BatchRequest("C3"))
    assert document.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<exacttarget>')
    root = etree.fromstring(document.encode())
    assert [child.tag for child in root] == ["authorization", "system"]
    assert [child.tag for child in root[0]] == ["username", "password"]
    assert root.findtext("authorization/username") == "ops-batch-user"
    assert root.findtext("authorization/password") == MASK
    assert PASSWORD not in document


@pytest.mark.parametrize(
    ("call", "params", "expected"),
    [
        (
            "C1", {"start_date": "3/1/2012", "end_date": "03/07/2012"},
            [("system_name", "tracking"), ("action", "BulkAsync"), ("sub_action", "all_jobs_ToFTP"), ("search_type", ""),
             ("daterange", ""), ("daterange/startdate", "3/1/2012"), ("daterange/enddate", "3/7/2012")],
        ),
        (
            "C1", {"start_date": "-2w", "end_date": "today", "job_start_date": "2012-02-01", "job_end_date": "yesterday"},
            [("system_name", "tracking"), ("action", "BulkAsync"), ("sub_action", "all_jobs_ToFTP"), ("search_type", ""),
             ("daterange", ""), ("daterange/startdate", "3/1/2012"), ("daterange/enddate", "3/15/2012"),
             ("jobdaterange", ""), ("jobdaterange/startdate", "2/1/2012"), ("jobdaterange/enddate", "3/14/2012")],
        ),
        (
            "C2", {"start_date": "4/2/2012", "end_date": "4/9/2012", "job_start_date": "4/2/2012", "job_end_date": "4/3/2012"},
            [("system_name", "tracking"), ("action", "BulkAsyncEnterprise"), ("sub_action", "all_jobs_ToFTP"),
             ("search_type", ""), ("search_value", ""), ("search_value2", ""),
             ("daterange", ""), ("daterange/startdate", "4/2/2012"), ("daterange/enddate", "4/9/2012"),
             ("jobdaterange", ""), ("jobdaterange/startdate", "4/2/2012"), ("jobdaterange/enddate", "4/3/2012")],
        ),
        (
            "C2", {"start_date": "4/2/2012", "end_date": "4/9/2012", "job_start_date": "4/2/2012", "job_end_date": "4/3/2012",
                   "job_id": "8812345"},
            [("system_name", "tracking"), ("action", "BulkAsyncEnterprise"), ("sub_action", "all_jobs_ToFTP"),
             ("search_type", "jobID"), ("search_value", "8812345"), ("search_value2", ""),
             ("daterange", ""), ("daterange/startdate", "4/2/2012"), ("daterange/enddate", "4/9/2012"),
             ("jobdaterange", ""), ("jobdaterange/startdate", "4/2/2012"), ("jobdaterange/enddate", "4/3/2012")],
        ),
        (
            "C3", {},
            [("system_name", "subscriber"), ("action", "BulkAsync"), ("sub_action", "SubsStatus_ToFTP"),
             ("search_type", ""), ("search_value", ""), ("search_value2", "")],
        ),
        (
            "C3", {"list_id": "40017"},
            [("system_name", "subscriber"), ("action", "BulkAsync"), ("sub_action", "SubsStatus_ToFTP"),
             ("search_type", "lid"), ("search_value", "40017"), ("search_value2", "")],
        ),
        (
            "C4", {"job_id": "8812345", "start_date": "05/01/2012", "end_date": "05/15/2012"},
            [("system_name", "tracking"), ("action", "BulkAsync"), ("sub_action", "all_ToFTP"),
             ("search_type", "jobID"), ("search_value", "8812345"),
             ("daterange", ""), ("daterange/startdate", "5/1/2012"), ("daterange/enddate", "5/15/2012")],
        ),
        (
            "C5", {"job_id": "8812345"},
            [("system_name", "tracking"), ("action", "BulkAsync"), ("sub_action", "all_attributes_ToFTP"),
             ("search_type", "jobID"), ("search_value", "8812345")],
        ),
        (
            "C6", {"job_id": "8812345"},
            [("system_name", "tracking"), ("action", "Sent_BulkAsync"), ("sub_action", "all_ToFTP"),
             ("search_type", "jobID"), ("search_value", "8812345")],
        ),
        (
            "C7", {"job_id": "8812345", "start_date": "5/1/2012", "end_date": "5/2/2012"},
            [("system_name", "tracking"), ("action", "Sent_BulkAsync"), ("sub_action", "all_attributes_ToFTP"),
             ("search_type", "jobID"), ("search_value", "8812345"),
             ("daterange", ""), ("daterange/startdate", "5/1/2012"), ("daterange/enddate", "5/2/2012")],
        ),
        (
            "C8", {"list_id": "40017", "search_status": "active"},
            [("system_name", "list"), ("action", "bulkasync"), ("sub_action", "Subs_ToFTP"),
             ("search_type", "listid"), ("search_value", "40017"), ("search_status", "active")],
        ),
        (
            "C8", {"list_id": "40017", "search_status": ""},
            [("system_name", "list"), ("action", "bulkasync"), ("sub_action", "Subs_ToFTP"),
             ("search_type", "listid"), ("search_value", "40017")],
        ),
    ],
)
def test_documents_follow_the_spec(api: XmlApi, call: str, params: dict[str, str], expected: list[tuple[str, str]]) -> None:
    api.validate(BatchRequest(call, params))
    assert shape(api.preview(BatchRequest(call, params))) == expected


def test_parameter_names_are_forgiving(api: XmlApi) -> None:
    plain = api.preview(BatchRequest("C4", {"job_id": "1"}))
    assert api.preview(BatchRequest("send-tracking", {"Job-ID": " 1 "})) == plain


def test_text_values_are_escaped_not_injected(api: XmlApi) -> None:
    document = api.preview(BatchRequest("C8", {"list_id": "1", "search_status": "a</search_status><x>&amp;"}))
    root = etree.fromstring(document.encode())
    assert root.findtext("system/search_status") == "a</search_status><x>&amp;"
    assert root.find("system/x") is None


# (call, params, param named in the error, words in the message)
INVALID = [
    ("C9", {}, None, "There is no call 'C9'"),
    ("", {}, None, "There is no call"),
    ("C1", {}, "start_date", "C1 needs a date range"),
    ("C1", {"start_date": "3/1/2012"}, "end_date", "C1 needs end_date as well as start_date"),
    ("C1", {"end_date": "3/1/2012"}, "start_date", "C1 needs start_date as well as end_date"),
    ("C1", {"start_date": "3/9/2012", "end_date": "3/1/2012"}, "start_date", "start_date 3/9/2012 is after end_date 3/1/2012"),
    ("C1", {"start_date": "3/32/2012", "end_date": "4/1/2012"}, "start_date", "not a real calendar day"),
    ("C1", {"start_date": "3/1/2012", "end_date": "next week"}, "end_date", "end_date 'next week' is not a date"),
    ("C1", {"start_date": "1/1/2012", "end_date": "1/2/2012", "job_start_date": "1/1/2012"}, "job_end_date",
     "C1 needs job_end_date as well as job_start_date: give both, or leave both empty"),
    ("C1", {"start_date": "1/1/2012", "end_date": "1/2/2012", "job_start_date": "1/3/2012", "job_end_date": "1/2/2012"},
     "job_start_date", "job_start_date 1/3/2012 is after job_end_date 1/2/2012"),
    ("C1", {"start_date": "1/1/2012", "end_date": "1/2/2012", "job_id": "5"}, "job_id", "C1 has no parameter 'job_id'"),
    ("C1", {"start_date": "1/1/2012", "end_date": "1/2/2012", "colour": "red"}, "colour",
     "its parameters are start_date, end_date, job_start_date, job_end_date"),
    ("C2", {"start_date": "1/1/2012", "end_date": "1/2/2012"}, "job_start_date", "C2 needs a send date range"),
    ("C2", {"job_start_date": "1/1/2012", "job_end_date": "1/2/2012"}, "start_date", "C2 needs a date range"),
    ("C2", {"start_date": "1/1/2012", "end_date": "1/2/2012", "job_start_date": "1/1/2012", "job_end_date": "1/2/2012",
            "job_id": "12a"}, "job_id", "job_id must be a number of digits only"),
    ("C3", {"list_id": "forty"}, "list_id", "list_id must be a number of digits only"),
    ("C3", {"list_id": "-5"}, "list_id", "digits only"),
    ("C3", {"start_date": "today"}, "start_date", "C3 has no parameter 'start_date'; its parameters are list_id"),
    ("C4", {}, "job_id", "C4 needs job_id"),
    ("C4", {"job_id": "1.5"}, "job_id", "digits only"),
    ("C4", {"job_id": "1", "start_date": "today"}, "end_date", "C4 needs end_date as well as start_date"),
    ("C5", {"job_id": ""}, "job_id", "C5 needs job_id"),
    ("C5", {"job_id": "١٢٣"}, "job_id", "digits only"),  # Arabic-Indic digits are not ASCII digits
    ("C6", {}, "job_id", "C6 needs job_id"),
    ("C6", {"job_id": "1", "start_date": "today", "end_date": "today"}, "start_date", "C6 has no parameter 'start_date'"),
    ("C7", {"job_id": "99999999999999999999"}, "job_id", "digits only"),
    ("C7", {"job_id": "1", "end_date": "today"}, "start_date", "C7 needs start_date as well as end_date"),
    ("C8", {}, "list_id", "C8 needs list_id"),
    ("C8", {"list_id": "1", "search_status": "a\x00b"}, "search_status", "without control characters"),
    ("C8", {"list_id": "1", "search_status": "x" * 201}, "search_status", "at most 200 characters"),
    ("C8", {"list_id": "1", "List_ID": "2"}, "list_id", "list_id is given twice"),
]


@pytest.mark.parametrize(("call", "params", "param", "words"), INVALID)
def test_validation_errors(api: XmlApi, call: str, params: dict[str, str], param: str | None, words: str) -> None:
    with pytest.raises(ValidationError) as caught:
        api.validate(BatchRequest(call, params))
    error = caught.value
    assert words in str(error)
    assert error.param == param
    expected_call = find_call(call).id if find_call(call) else call  # type: ignore[union-attr]
    assert error.call == expected_call
    message = str(error)
    assert message[0].isupper() or message.startswith(param or "")
    assert message.endswith(".") and "\n" not in message and "Traceback" not in message
    # preview refuses exactly as validate does
    with pytest.raises(ValidationError):
        api.preview(BatchRequest(call, params))


def test_every_call_has_a_validation_case() -> None:
    covered = {case[0] for case in INVALID}
    assert {call.id for call in CALLS} <= covered


def test_future_and_same_day_ranges_are_allowed(api: XmlApi) -> None:
    api.validate(BatchRequest("C1", {"start_date": "today", "end_date": "today"}))


@pytest.mark.parametrize("endpoint", ["", "integrate.aspx", "ftp://api.example.com/integrate.aspx", "http://"])
def test_bad_endpoint_is_a_config_error(endpoint: str) -> None:
    with pytest.raises(ConfigError, match="not an http\\(s\\) URL"):
        XmlApi(endpoint, "u", "p")


def test_password_never_in_repr_or_preview(api: XmlApi) -> None:
    assert PASSWORD not in repr(api)
    assert MASK in repr(api)
    for call in CALLS:
        try:
            document = api.preview(BatchRequest(call.id, {"job_id": "1", "list_id": "2", "start_date": "today",
                                                          "end_date": "today", "job_start_date": "today",
                                                          "job_end_date": "today"}))
        except ValidationError:
            continue
        assert PASSWORD not in document and "pa$$" not in document


def test_control_characters_in_credentials_are_a_config_error() -> None:
    api = XmlApi("http://127.0.0.1:9/integrate.aspx", "ops\x01", "secret-pw")
    with pytest.raises(ConfigError) as caught:
        api.preview(BatchRequest("C3"))
    assert "secret-pw" not in str(caught.value)
