"""The legacy XML API (``/integrate.aspx``): Batch Inquire and bulk-async calls C1-C8.

Requests arrive as ``qf=xml&xml=<percent-encoded XML>`` by POST (form body) or
GET (query string), as spec §2.1 describes. Every application error, including
unparseable XML and wrong credentials, is answered with HTTP 200 and the
documented error shape (spec §2.4)::

    <exacttarget><system><{system}><error>N</error>
      <error_description>...</error_description></{system}></system></exacttarget>

The error numbers are ours (the vendor's table was never available); they are
listed in ``docs/sandbox.md`` and in ``ErrorCode`` below.
"""

from __future__ import annotations

import enum
import hmac
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from xml.sax.saxutils import escape

from aiohttp import web
from lxml import etree

from ettui.sandbox.faults import Faults
from ettui.sandbox.queue import COMPLETE, SandboxQueue

XML_DECL = '<?xml version="1.0"?>\n'
CONTENT_TYPE = "text/xml"
INFO_RECORDED = "Your request has been recorded"


class ErrorCode(enum.IntEnum):
    """The sandbox's XML API error numbers (invented; see docs/sandbox.md)."""

    MALFORMED = 301
    LOGIN_FAILED = 302
    UNKNOWN_SYSTEM = 303
    UNKNOWN_CALL = 304
    INVALID_DATE = 305
    DATE_RANGE_REQUIRED = 306
    END_BEFORE_START = 307
    JOB_ID_REQUIRED = 308
    LIST_ID_REQUIRED = 309
    BATCH_NOT_FOUND = 310
    INVALID_SEARCH_TYPE = 311


class ApiError(Exception):
    """An error the handler answers as XML."""

    def __init__(self, code: ErrorCode, description: str) -> None:
        super().__init__(description)
        self.code = code
        self.description = description


_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False, huge_tree=False
)
_DOCTYPE = re.compile(rb"<!DOCTYPE", re.IGNORECASE)
_DATE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")


def parse_request(text: str) -> etree._Element:
    """Parse a request document with a parser that never resolves entities or loads a DTD."""
    data = text.encode("utf-8")
    if _DOCTYPE.search(data):
        raise ApiError(ErrorCode.MALFORMED, "The request XML must not contain a DOCTYPE.")
    try:
        root = etree.fromstring(data, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise ApiError(ErrorCode.MALFORMED, f"The request is not well-formed XML: {exc.msg}.") from None
    if root.tag != "exacttarget":
        raise ApiError(ErrorCode.MALFORMED, "The request's root element must be exacttarget.")
    return root


def _children(element: etree._Element | None) -> dict[str, etree._Element]:
    """Child elements by lower-cased tag (first one wins); vendor casing varies."""
    found: dict[str, etree._Element] = {}
    if element is None:
        return found
    for child in element:
        if isinstance(child.tag, str):
            found.setdefault(child.tag.lower(), child)
    return found


def _text(children: dict[str, etree._Element], name: str) -> str:
    element = children.get(name)
    return (element.text or "").strip() if element is not None else ""


def parse_date(text: str, what: str) -> date:
    """``M/D/YYYY``, zero padding accepted (spec §2.5)."""
    match = _DATE.match(text)
    if match:
        month, day, year = (int(g) for g in match.groups())
        try:
            return date(year, month, day)
        except ValueError:
            pass
    raise ApiError(ErrorCode.INVALID_DATE, f"The {what} '{text}' is not a date in M/D/YYYY form.")


def _range(children: dict[str, etree._Element], node: str, *, required: bool) -> tuple[str, str] | None:
    """A ``<daterange>``/``<jobdaterange>`` node validated, or None when absent and optional."""
    element = children.get(node)
    if element is None:
        if required:
            raise ApiError(ErrorCode.DATE_RANGE_REQUIRED, f"A {node} with startdate and enddate is required.")
        return None
    inner = _children(element)
    start_text, end_text = _text(inner, "startdate"), _text(inner, "enddate")
    if not start_text or not end_text:
        raise ApiError(ErrorCode.DATE_RANGE_REQUIRED, f"The {node} needs both startdate and enddate.")
    start = parse_date(start_text, f"{node} startdate")
    end = parse_date(end_text, f"{node} enddate")
    if end < start:
        raise ApiError(ErrorCode.END_BEFORE_START, f"The {node} ends ({end_text}) before it starts ({start_text}).")
    return start_text, end_text


def _numeric_id(children: dict[str, etree._Element], expected_type: str, code: ErrorCode, what: str,
                *, required: bool = True) -> str | None:
    """``search_type`` = ``expected_type`` and a numeric ``search_value``."""
    search_type = _text(children, "search_type")
    value = _text(children, "search_value")
    if not value:
        if required:
            raise ApiError(code, f"A {what} is required: search_type {expected_type} and search_value.")
        return None
    if search_type and search_type.lower() != expected_type.lower():
        raise ApiError(ErrorCode.INVALID_SEARCH_TYPE,
                       f"search_type '{search_type}' is not valid here; use {expected_type}.")
    if not value.isdigit():
        raise ApiError(code, f"The {what} '{value}' must be a number.")
    return value


@dataclass(frozen=True)
class Call:
    """One bulk-async call of the catalogue: its job kind and its validation."""

    id: str
    kind: str
    validate: Callable[[dict[str, etree._Element]], dict[str, str]]


def _dates(params: dict[str, str], span: tuple[str, str] | None, prefix: str = "") -> None:
    if span:
        params[f"{prefix}startdate"], params[f"{prefix}enddate"] = span


def _c1(ch: dict[str, etree._Element]) -> dict[str, str]:
    params: dict[str, str] = {"call": "C1"}
    _dates(params, _range(ch, "daterange", required=True))
    _dates(params, _range(ch, "jobdaterange", required=False), "job")
    return params


def _c2(ch: dict[str, etree._Element]) -> dict[str, str]:
    params: dict[str, str] = {"call": "C2"}
    _dates(params, _range(ch, "daterange", required=True))
    _dates(params, _range(ch, "jobdaterange", required=True), "job")
    job = _numeric_id(ch, "jobID", ErrorCode.JOB_ID_REQUIRED, "job ID", required=False)
    if job:
        params["job_id"] = job
    return params


def _c3(ch: dict[str, etree._Element]) -> dict[str, str]:
    params: dict[str, str] = {"call": "C3"}
    search_type = _text(ch, "search_type")
    if search_type:
        params["list_id"] = _numeric_id(ch, "lid", ErrorCode.LIST_ID_REQUIRED, "list ID") or ""
    return params


def _per_send(call: str, dates: bool) -> Callable[[dict[str, etree._Element]], dict[str, str]]:
    def validate(ch: dict[str, etree._Element]) -> dict[str, str]:
        params = {"call": call, "job_id": _numeric_id(ch, "jobID", ErrorCode.JOB_ID_REQUIRED, "job ID") or ""}
        if dates:
            _dates(params, _range(ch, "daterange", required=False))
        return params

    return validate


def _c8(ch: dict[str, etree._Element]) -> dict[str, str]:
    params = {"call": "C8", "list_id": _numeric_id(ch, "listid", ErrorCode.LIST_ID_REQUIRED, "list ID") or ""}
    status = _text(ch, "search_status")
    if status:
        params["search_status"] = status
    return params


CALLS: dict[tuple[str, str, str], Call] = {
    ("tracking", "bulkasync", "all_jobs_toftp"): Call("C1", "tracking-all-jobs", _c1),
    ("tracking", "bulkasyncenterprise", "all_jobs_toftp"): Call("C2", "tracking-all-jobs-enterprise", _c2),
    ("subscriber", "bulkasync", "subsstatus_toftp"): Call("C3", "subscriber-statuses", _c3),
    ("subscriber", "bulkasyncenterprise", "subsstatus_toftp"): Call("C3", "subscriber-statuses", _c3),
    ("tracking", "bulkasync", "all_toftp"): Call("C4", "tracking-send", _per_send("C4", True)),
    ("tracking", "bulkasync", "all_attributes_toftp"): Call("C5", "tracking-send-attributes", _per_send("C5", True)),
    ("tracking", "sent_bulkasync", "all_toftp"): Call("C6", "sent-send", _per_send("C6", True)),
    ("tracking", "sent_bulkasync", "all_attributes_toftp"): Call("C7", "sent-send-attributes", _per_send("C7", True)),
    ("list", "bulkasync", "subs_toftp"): Call("C8", "list-members", _c8),
}
"""Keyed by lower-cased (system_name, action, sub_action): vendor casing varies (spec §2.2)."""

SYSTEMS = {key[0] for key in CALLS} | {"batch"}


def _wrap(element: str, body: str) -> str:
    return f"{XML_DECL}<exacttarget>\n  <system>\n    <{element}>\n{body}    </{element}>\n  </system>\n</exacttarget>\n"


def error_document(element: str, code: int, description: str) -> str:
    """The documented error shape inside ``exacttarget/system/<element>``."""
    return _wrap(element, f"      <error>{code}</error>\n"
                          f"      <error_description>{escape(description)}</error_description>\n")


class XmlApi:
    """Answers ``/integrate.aspx`` for one sandbox: credentials, queue and faults."""

    def __init__(self, queue: SandboxQueue, faults: Faults, *, username: str, password: str, member_id: str) -> None:
        self.queue = queue
        self.faults = faults
        self.username = username
        self.password = password
        self.member_id = member_id

    async def handle(self, request: web.Request) -> web.Response:
        """aiohttp handler for GET and POST."""
        if request.method == "POST":
            form = await request.post()
            text = form.get("xml")
            if text is None and not form:
                # Tolerate a raw XML body: some scripts post the document itself.
                body = await request.text()
                text = body if body.lstrip().startswith("<") else None
        else:
            text = request.query.get("xml")
        document = self.answer(text if isinstance(text, str) else None)
        if self.faults.draw(self.faults.malformed_share):
            document = document[: max(10, len(document) // 2)]
        return web.Response(text=document, content_type=CONTENT_TYPE, charset="utf-8")

    def answer(self, text: str | None) -> str:
        """The reply document for one request's XML text (None when the field is missing)."""
        element = "general"
        try:
            if not text:
                raise ApiError(ErrorCode.MALFORMED, "The request has no xml field; send qf=xml&xml=<document>.")
            root = parse_request(text)
            top = _children(root)
            system = _children(top.get("system"))
            system_name = _text(system, "system_name").lower()
            if system_name in SYSTEMS:
                element = "Batch" if system_name == "batch" else system_name
            elif _NAME.match(system_name):
                element = system_name
            self._check_login(_children(top.get("authorization")))
            if "system" not in top:
                raise ApiError(ErrorCode.MALFORMED, "The request has no system element.")
            if system_name not in SYSTEMS:
                raise ApiError(ErrorCode.UNKNOWN_SYSTEM, f"The system_name '{system_name}' is not supported.")
            if system_name == "batch":
                return self._inquire(system)
            return self._submit(system_name, system)
        except ApiError as exc:
            return error_document(element, int(exc.code), exc.description)

    def _check_login(self, auth: dict[str, etree._Element]) -> None:
        # Constant-time comparisons: the sandbox is a peer, behave like one.
        user_ok = hmac.compare_digest(_text(auth, "username").encode(), self.username.encode())
        password_ok = hmac.compare_digest(_text(auth, "password").encode(), self.password.encode())
        if not (user_ok and password_ok):
            raise ApiError(ErrorCode.LOGIN_FAILED, "Login failed: the user name or password is incorrect.")

    def _submit(self, system_name: str, system: dict[str, etree._Element]) -> str:
        action, sub_action = _text(system, "action"), _text(system, "sub_action")
        call = CALLS.get((system_name, action.lower(), sub_action.lower()))
        if call is None:
            raise ApiError(ErrorCode.UNKNOWN_CALL,
                           f"The action '{action}' with sub_action '{sub_action}' is not supported for {system_name}.")
        params = call.validate(system)
        batch = self.queue.submit(call.kind, params, member_id=self.member_id, folder="/")
        return _wrap(system_name, f"      <info>{INFO_RECORDED}</info>\n      <batchID>{batch.batch_id}</batchID>\n")

    def _inquire(self, system: dict[str, etree._Element]) -> str:
        action = _text(system, "action")
        if action.lower() != "inquire":
            raise ApiError(ErrorCode.UNKNOWN_CALL, f"The action '{action}' is not supported for batch; use inquire.")
        batch_id = _numeric_id(system, "batchid", ErrorCode.BATCH_NOT_FOUND, "batch ID")
        batch = self.queue.get(int(batch_id or 0))
        if batch is None:
            raise ApiError(ErrorCode.BATCH_NOT_FOUND, f"No batch with ID {batch_id} was found.")
        body = f"      <batchid>{batch.batch_id}</batchid>\n      <status>{batch.status}</status>\n"
        if batch.status == COMPLETE and batch.file_name:
            body += f"      <filename>{escape(batch.file_name)}</filename>\n"
        return _wrap("Batch", body)
