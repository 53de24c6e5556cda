"""The XML API's catalogue: bulk async calls C1-C8 (spec §3) and how each is sent.

Every call is an ``XmlCall``: the user-facing ``CallSpec`` (id, vendor name,
aliases, parameters with help) plus the wire facts the document builder needs
(``system_name``/``action``/``sub_action``, which search fields it writes and
which date ranges it takes). The builder in ``xmlapi.py`` reads only this
table, so a new call is one entry here.

Parameter names are the same across calls so a user learns them once:

* ``start_date``/``end_date`` -- the ``daterange`` (for tracking: when the
  subscriber activity happened);
* ``job_start_date``/``job_end_date`` -- the ``jobdaterange`` (when the e-mails
  were sent);
* ``job_id`` -- one send; ``list_id`` -- one list; ``search_status`` -- C8's
  optional member status filter.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from ettui.api.base import CallSpec, ParamKind, ParamSpec
from ettui.api.dates import FORMS_HINT

__all__ = ["CALLS", "INQUIRE", "RANGES", "Need", "XmlCall", "call_specs", "find_call"]


class Need(str, enum.Enum):
    """Whether a call takes a date range."""

    REQUIRED = "required"
    OPTIONAL = "optional"
    NONE = "none"


@dataclass(frozen=True)
class XmlCall:
    """One XML API call: what the user sees and what goes on the wire."""

    spec: CallSpec
    system_name: str
    action: str
    sub_action: str
    search_type: str = ""
    """Written as ``search_type`` when ``search_param`` has a value; else the element is empty."""
    search_param: str | None = None
    """The parameter whose value becomes ``search_value``."""
    blank_search_value: bool = False
    """Write ``search_value`` even when it is empty (the vendor samples of C2/C3 do)."""
    search_value2: bool = False
    """Write an empty ``search_value2`` (as the vendor samples of C2/C3 do)."""
    extra_elements: tuple[str, ...] = ()
    """Parameters written as elements of their own name after the search fields."""
    daterange: Need = Need.NONE
    jobdaterange: Need = Need.NONE

    @property
    def id(self) -> str:
        return self.spec.id


RANGES: dict[str, tuple[str, str]] = {
    "daterange": ("start_date", "end_date"),
    "jobdaterange": ("job_start_date", "job_end_date"),
}
"""Each date-range element and the (start, end) parameters that fill it."""


def _date(name: str, required: bool, what: str) -> ParamSpec:
    return ParamSpec(name, ParamKind.DATE, required=required, help=f"{what}; {FORMS_HINT}.")


def _activity_range(required: bool) -> tuple[ParamSpec, ParamSpec]:
    return (
        _date("start_date", required, "First day of subscriber activity (daterange/startdate)"),
        _date("end_date", required, "Last day of subscriber activity, inclusive (daterange/enddate)"),
    )


def _send_range(required: bool) -> tuple[ParamSpec, ParamSpec]:
    return (
        _date("job_start_date", required, "First day of the sends to include (jobdaterange/startdate)"),
        _date("job_end_date", required, "Last day of the sends to include, inclusive (jobdaterange/enddate)"),
    )


def _job_id(required: bool, what: str = "The job (send) ID, digits only, e.g. 8812345") -> ParamSpec:
    return ParamSpec("job_id", ParamKind.INT, required=required, help=what + ".")


def _list_id(required: bool, what: str) -> ParamSpec:
    return ParamSpec("list_id", ParamKind.INT, required=required, help=what + ".")


CALLS: tuple[XmlCall, ...] = (
    XmlCall(
        CallSpec(
            "C1",
            "Retrieve All Jobs (Tracking Bulk Async)",
            params=(*_activity_range(True), *_send_range(False)),
            help=(
                "Full tracking data, with subscriber attributes, for every send in a period. "
                "One range covers both sends and activity; add job_start_date/job_end_date to "
                "give the send window separately (that two-range form is inferred from C2)."
            ),
            aliases=("all-jobs",),
        ),
        "tracking", "BulkAsync", "all_jobs_ToFTP",
        daterange=Need.REQUIRED, jobdaterange=Need.OPTIONAL,
    ),
    XmlCall(
        CallSpec(
            "C2",
            "Retrieve All Jobs for Enterprise Account (Tracking Bulk Async)",
            params=(
                *_activity_range(True),
                *_send_range(True),
                _job_id(False, "Restrict the output to one send (job ID, digits only); the syntax is inferred"),
            ),
            help=(
                "Tracking data from the parent and member accounts: activity inside "
                "start_date..end_date for sends inside job_start_date..job_end_date."
            ),
            aliases=("enterprise-jobs",),
        ),
        "tracking", "BulkAsyncEnterprise", "all_jobs_ToFTP",
        search_type="jobID", search_param="job_id", blank_search_value=True, search_value2=True,
        daterange=Need.REQUIRED, jobdaterange=Need.REQUIRED,
    ),
    XmlCall(
        CallSpec(
            "C3",
            "Retrieve Subscriber Statuses (Bulk Async)",
            params=(_list_id(False, "Only this list (list ID, digits only); leave empty for all subscribers"),),
            help="The status (Active, Unsubscribed, Undeliverable, Returned) of every subscriber, or of one list.",
            aliases=("subscriber-statuses",),
        ),
        "subscriber", "BulkAsync", "SubsStatus_ToFTP",
        search_type="lid", search_param="list_id", blank_search_value=True, search_value2=True,
    ),
    XmlCall(
        CallSpec(
            "C4",
            "Tracking data for one send (all events)",
            params=(_job_id(True), *_activity_range(False)),
            help="Every tracking event of one send; start_date/end_date optionally limit the activity.",
            aliases=("send-tracking",),
        ),
        "tracking", "BulkAsync", "all_ToFTP",
        search_type="jobID", search_param="job_id", blank_search_value=True,
        daterange=Need.OPTIONAL,
    ),
    XmlCall(
        CallSpec(
            "C5",
            "Tracking data for one send, with subscriber attributes",
            params=(_job_id(True), *_activity_range(False)),
            help="Like C4, with subscriber attributes; start_date/end_date optionally limit the activity.",
            aliases=("send-tracking-attributes",),
        ),
        "tracking", "BulkAsync", "all_attributes_ToFTP",
        search_type="jobID", search_param="job_id", blank_search_value=True,
        daterange=Need.OPTIONAL,
    ),
    XmlCall(
        CallSpec(
            "C6",
            "Sent data for one send",
            params=(_job_id(True),),
            help="The sent (delivery) list of one send.",
            aliases=("sent",),
        ),
        "tracking", "Sent_BulkAsync", "all_ToFTP",
        search_type="jobID", search_param="job_id", blank_search_value=True,
    ),
    XmlCall(
        CallSpec(
            "C7",
            "Sent data for one send, with attributes",
            params=(_job_id(True), *_activity_range(False)),
            help="The sent list of one send with subscriber attributes; start_date/end_date are optional.",
            aliases=("sent-attributes",),
        ),
        "tracking", "Sent_BulkAsync", "all_attributes_ToFTP",
        search_type="jobID", search_param="job_id", blank_search_value=True,
        daterange=Need.OPTIONAL,
    ),
    XmlCall(
        CallSpec(
            "C8",
            "List members to FTP",
            params=(
                _list_id(True, "The list whose members to export (list ID, digits only)"),
                ParamSpec(
                    "search_status",
                    ParamKind.TEXT,
                    help="Only members with this status, e.g. active (the allowed values are not documented).",
                ),
            ),
            help="Every member of one list, optionally filtered by status.",
            aliases=("list-members",),
        ),
        "list", "bulkasync", "Subs_ToFTP",
        search_type="listid", search_param="list_id", blank_search_value=True,
        extra_elements=("search_status",),
    ),
)
"""Calls C1-C8 in the spec's order."""

INQUIRE = XmlCall(
    CallSpec("inquire", "Batch Inquire (status check)", help="The status and file name of one batch."),
    "batch", "inquire", "",
    search_type="batchid", search_param="batch_id", blank_search_value=True,
)
"""Batch Inquire (spec §4): not in the user catalogue, used by ``inquire``."""


def find_call(name: str) -> XmlCall | None:
    """The call whose id, vendor name or alias is ``name`` (any case), or None."""
    for call in CALLS:
        if call.spec.matches(name):
            return call
    return None


def call_specs() -> list[CallSpec]:
    """The user-facing catalogue, in order."""
    return [call.spec for call in CALLS]
