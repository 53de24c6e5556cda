"""The SOAP dialect's catalogue: the tracking extract and how its parameters are sent.

The SOAP route has one call that matters for batch exports: ``Extract`` with
the Tracking Extract's fixed ID (spec §7.5), the modern equivalent of the XML
API's C1 (and, with ``SendIDs``, of C4-C7; spec §7.11). Its parameters are the
vendor's own name/value pairs, so the catalogue uses the vendor's names
(``StartDate``, ``OutputFileName``, ``ExtractOpens``, ``extractLists``...) in
the vendor's case; a user may type them in any case.

Validation (before anything is sent):

* ``StartDate``/``EndDate`` are required; either may carry a time
  (``6/1/2024 2:30 PM``); a bare date means the start of the day for
  ``StartDate`` and its last second for ``EndDate``, so the range is
  inclusive, as users read it. Start must not be after end.
* The 30-day "Specific Range" limit (spec §6) is documented only for the
  web UI, and the vendor's own SOAP sample spans three years (open question
  10), so it is **not** enforced by default; ``max_range_days`` turns a limit
  on for accounts that turn out to enforce one.
* ``OutputFileName`` must end in ``.zip`` (spec §7.5) and must not contain the
  characters the Enhanced FTP site forbids (``\\ / : * < > | ? "``, spec §5.3).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from ettui.api.base import CallSpec, ParamKind, ParamSpec
from ettui.api.dates import FORMS_HINT, parse_date
from ettui.errors import ValidationError

__all__ = [
    "CALLS",
    "TRACKING_EXTRACT",
    "TRACKING_EXTRACT_ID",
    "SoapCall",
    "find_call",
    "format_soap_datetime",
    "resolve",
]

TRACKING_EXTRACT_ID = "c7219016-a7f0-4c72-8657-1ec12c28a0db"
"""``ExtractRequest/ID`` of the Tracking Extract (spec §7.5, documented by the vendor)."""

_FORBIDDEN_FILE_CHARS = set('\\/:*<>|?"')
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_MAX_TEXT = 500
_TIME = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?\s*([AaPp][Mm])?$")
_ID_LIST = re.compile(r"^\s*(\*|\d+(\s*,\s*\d+)*)\s*$")
_SEND_LIST = re.compile(r"^\s*\d+(\s*,\s*\d+)*\s*$")
_TIME_HINT = "optionally followed by a time such as 2:30 PM"


@dataclass(frozen=True)
class SoapCall:
    """One SOAP extract: what the user sees and the ``ExtractRequest/ID`` it runs."""

    spec: CallSpec
    extract_id: str

    @property
    def id(self) -> str:
        return self.spec.id


def _flag(name: str, default: str, what: str) -> ParamSpec:
    return ParamSpec(name, ParamKind.BOOL, default=default, help=f"{what} (true/false).")


TRACKING_EXTRACT = SoapCall(
    CallSpec(
        "tracking-extract",
        "Tracking Extract",
        params=(
            ParamSpec("StartDate", ParamKind.DATETIME, required=True,
                      help=f"First day of tracking activity; {FORMS_HINT}, {_TIME_HINT}."),
            ParamSpec("EndDate", ParamKind.DATETIME, required=True,
                      help=f"Last day of tracking activity, inclusive; {FORMS_HINT}, {_TIME_HINT}."),
            ParamSpec("OutputFileName", ParamKind.TEXT, required=True,
                      help='Name of the zip written to the Export folder; must end in .zip, without \\ / : * < > | ? ".'),
            ParamSpec("AccountIDs", ParamKind.TEXT,
                      help="Empty: this account; * : every account of the Enterprise; or a comma list of MIDs."),
            ParamSpec("SendIDs", ParamKind.TEXT,
                      help="Only these sends (job IDs), as a comma list such as 12283113,12283120."),
            _flag("ExtractSent", "true", "Include the Sent table"),
            _flag("ExtractOpens", "true", "Include the Opens table"),
            _flag("ExtractClicks", "true", "Include the Clicks table"),
            _flag("ExtractBounces", "true", "Include the Bounces table"),
            _flag("ExtractUnsubs", "true", "Include the Unsubs table"),
            _flag("ExtractSendJobs", "true", "Include the SendJobs table"),
            _flag("ExtractSurveyResponses", "false", "Include survey responses"),
            _flag("ExtractConversions", "false", "Include the Conversions table"),
            _flag("ExtractClickImpressions", "false", "Include click impressions"),
            _flag("ExtractSendImpressions", "false", "Include send impressions"),
            _flag("ExtractSendJobImpressions", "false", "Include send-job impressions"),
            _flag("ExtractNotSent", "false", "Include the NotSent table"),
            _flag("ExtractSubscribers", "false", "Include the Subscribers table"),
            _flag("ExtractAttributes", "false", "Include the Attributes table"),
            _flag("extractLists", "false", "Include the Lists table"),
            _flag("extractListMembershipChanges", "false", "Include list membership changes"),
            _flag("extractStatusChanges", "false", "Include subscriber status changes"),
            _flag("IncludeAllSubscribers", "false", "Include every subscriber, not only active ones"),
            _flag("IncludeAllListMembers", "false", "Include every list member"),
            _flag("IncludeTestSends", "false", "Include test sends"),
            _flag("IncludeUnsubReason", "false", "Include the unsubscribe reason"),
            _flag("IncludeInferredOpens", "false", "Count clicks without an open as opens"),
            ParamSpec("Format", ParamKind.CHOICE, default="csv", choices=("csv", "tab"),
                      help="Output format of the files inside the zip."),
            ParamSpec("Timezone", ParamKind.TEXT,
                      help="The vendor's numeric time-zone code for the dates (the code table is not published)."),
            ParamSpec("NotificationEmail", ParamKind.TEXT,
                      help="An e-mail address told when the extract finishes (seen in third-party code)."),
        ),
        help=(
            "Tracking data for a date range (every send, or only SendIDs) as CSV files in one zip in the "
            "Export folder: the SOAP equivalent of C1 (and of C4-C7 with SendIDs)."
        ),
        aliases=("tracking", "extract", "all-jobs"),
    ),
    TRACKING_EXTRACT_ID,
)

CALLS: tuple[SoapCall, ...] = (TRACKING_EXTRACT,)


def find_call(name: str) -> SoapCall | None:
    """The call whose id, vendor name or alias is ``name`` (any case), or None."""
    return next((call for call in CALLS if call.spec.matches(name)), None)


def format_soap_datetime(moment: datetime) -> str:
    """``M/D/YYYY h:mm:ss AM``: the form of the vendor's Extract samples (spec §7.5)."""
    hour = moment.hour % 12 or 12
    half = "AM" if moment.hour < 12 else "PM"
    return f"{moment.month}/{moment.day}/{moment.year:04d} {hour}:{moment.minute:02d}:{moment.second:02d} {half}"


def _parse_datetime(text: str, today: date, *, param: str, end: bool) -> datetime:
    """A date in any accepted form, optionally followed by ``h:mm[:ss] [AM|PM]``."""
    day_text, _, time_text = text.strip().partition(" ")
    day = parse_date(day_text, today, param=param)
    if not time_text.strip():
        return datetime.combine(day, time(23, 59, 59) if end else time(0, 0, 0))
    match = _TIME.match(time_text.strip())
    if match is None:
        raise ValidationError(
            f"{param} {text.strip()!r} has a time that is not h:mm, h:mm:ss or h:mm:ss AM/PM; fix the time or leave it out.",
            param=param,
        )
    hour, minute, second = int(match.group(1)), int(match.group(2)), int(match.group(3) or 0)
    half = (match.group(4) or "").upper()
    if half:
        if not 1 <= hour <= 12:
            raise ValidationError(f"{param} {text.strip()!r}: with AM/PM the hour runs 1-12.", param=param)
        hour = hour % 12 + (12 if half == "PM" else 0)
    if hour > 23 or minute > 59 or second > 59:
        raise ValidationError(f"{param} {text.strip()!r} is not a real time of day; check it.", param=param)
    return datetime.combine(day, time(hour, minute, second))


def _check_file_name(call_id: str, value: str) -> None:
    bad = sorted({ch for ch in value if ch in _FORBIDDEN_FILE_CHARS})
    if bad or _CONTROL.search(value):
        shown = " ".join(bad) if bad else "control characters"
        raise ValidationError(
            f"OutputFileName {value!r} contains {shown}, which the Export folder does not allow; "
            'use letters, digits, dots, dashes and underscores.',
            param="OutputFileName", call=call_id,
        )
    if not value.lower().endswith(".zip") or len(value) <= 4:
        raise ValidationError(
            f"OutputFileName {value!r} must end in .zip, e.g. tracking_{value.rsplit('.', 1)[0] or 'extract'}.zip.",
            param="OutputFileName", call=call_id,
        )
    if len(value) > 200:
        raise ValidationError("OutputFileName is longer than 200 characters; shorten it.", param="OutputFileName", call=call_id)


def resolve(
    call_name: str,
    params: dict[str, str],
    *,
    today: Callable[[], date],
    max_range_days: int | None = None,
) -> tuple[SoapCall, list[tuple[str, str]]]:
    """Validate a request and return its call and the (Name, Value) pairs to send, in catalogue order.

    Parameters the user left out are sent with the catalogue's default when it
    has one (the Extract* flags, Format) and left out otherwise; booleans are
    sent as ``true``/``false``.

    Raises:
        ValidationError: one sentence naming the call and the parameter at fault.
    """
    call = find_call(call_name)
    if call is None:
        known = ", ".join(c.id for c in CALLS)
        raise ValidationError(
            f"There is no SOAP call {call_name!r}; choose {known} (`ettui calls` lists them).", call=call_name
        )
    cid = call.id
    given: dict[str, str] = {}
    for raw_name, raw_value in params.items():
        spec = call.spec.param(raw_name.strip())
        if spec is None:
            names = ", ".join(p.name for p in call.spec.params[:6])
            raise ValidationError(
                f"{cid} has no parameter {raw_name!r}; its parameters include {names} (`ettui calls` lists all).",
                param=raw_name, call=cid,
            )
        value = str(raw_value).strip()
        if value:
            if spec.name in given:
                raise ValidationError(f"{spec.name} is given twice; keep one value.", param=spec.name, call=cid)
            given[spec.name] = value
    moments: dict[str, datetime] = {}
    pairs: list[tuple[str, str]] = []
    for spec in call.spec.params:
        text = given.get(spec.name)
        if text is None:
            if spec.required:
                raise ValidationError(f"{cid} needs {spec.name}: {spec.help[:1].lower()}{spec.help[1:]}",
                                      param=spec.name, call=cid)
            if spec.default is None:
                continue
            # Flags and Format go out explicitly, as in the vendor's samples, so the
            # recorded envelope says exactly what was asked for.
            text = spec.default
        if _CONTROL.search(text) or len(text) > _MAX_TEXT:
            raise ValidationError(
                f"{spec.name} must be plain text of at most {_MAX_TEXT} characters without control characters.",
                param=spec.name, call=cid,
            )
        if spec.kind is ParamKind.DATETIME:
            try:
                moments[spec.name] = _parse_datetime(text, today(), param=spec.name, end=spec.name == "EndDate")
            except ValidationError as exc:
                exc.call = cid
                raise
            text = format_soap_datetime(moments[spec.name])
        elif spec.kind is ParamKind.BOOL:
            lowered = text.lower()
            if lowered not in ("true", "false", "1", "0", "yes", "no"):
                raise ValidationError(f"{spec.name} must be true or false, not {text!r}.", param=spec.name, call=cid)
            text = "true" if lowered in ("true", "1", "yes") else "false"
        elif spec.kind is ParamKind.CHOICE:
            match = next((c for c in spec.choices if c.lower() == text.lower()), None)
            if match is None:
                raise ValidationError(f"{spec.name} must be one of {', '.join(spec.choices)}, not {text!r}.",
                                      param=spec.name, call=cid)
            text = match
        elif spec.name == "OutputFileName":
            _check_file_name(cid, text)
        elif spec.name == "AccountIDs" and not _ID_LIST.match(text):
            raise ValidationError(f"AccountIDs must be *, or MIDs separated by commas, not {text!r}.",
                                  param=spec.name, call=cid)
        elif spec.name == "SendIDs" and not _SEND_LIST.match(text):
            raise ValidationError(f"SendIDs must be send (job) IDs separated by commas, not {text!r}.",
                                  param=spec.name, call=cid)
        elif spec.name == "Timezone" and not text.isdigit():
            raise ValidationError(f"Timezone must be the vendor's numeric code, not {text!r}.", param=spec.name, call=cid)
        if spec.name in ("AccountIDs", "SendIDs"):
            text = ",".join(part.strip() for part in text.split(","))
        pairs.append((spec.name, text))
    start, end = moments["StartDate"], moments["EndDate"]
    if start > end:
        raise ValidationError(
            f"StartDate {format_soap_datetime(start)} is after EndDate {format_soap_datetime(end)}; "
            "swap them or pick an earlier StartDate.",
            param="StartDate", call=cid,
        )
    if max_range_days is not None and end - start > timedelta(days=max_range_days):
        raise ValidationError(
            f"The range {format_soap_datetime(start)} to {format_soap_datetime(end)} is longer than the "
            f"{max_range_days} days this profile allows; split it into shorter extracts.",
            param="EndDate", call=cid,
        )
    return call, pairs
