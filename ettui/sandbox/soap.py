"""The sandbox's SOAP endpoint (``/Service.asmx``) and OAuth token endpoint (``/v2/token``).

A peer of the vendor's partner API for what ettui uses (spec §7):

* ``Extract`` of the Tracking Extract queues a job on the sandbox queue; its
  zip lands in ``/Export`` of the drop (21-day retention) under the requested
  ``OutputFileName``. The reply's ``RequestID`` is a GUID, as the vendor's.
* ``Retrieve`` of ``AsyncActivityStatus`` (filter ``TaskID`` = that RequestID)
  answers name/value property lists; ``status_form`` picks whether results are
  tagged ``xsi:type="ObjectExtension"`` (valid against the vendor WSDL) or
  ``xsi:type="AsyncActivityStatus"`` (the type the vendor WSDL lacks). More
  rows than ``page_size`` give ``MoreDataAvailable`` and a ``ContinueRequest``.
* ``Retrieve`` of ``ExtractDescription`` lists the Tracking Extract's
  parameters, so a client can discover them.
* Auth: WS-Security UsernameToken (the sandbox API user) or a ``fueloauth``
  header holding a token from ``/v2/token`` (client id/secret = the API
  user/password), which expires on the sandbox clock.

Envelopes are parsed and built with lxml here; the sandbox never loads a WSDL
and never imports ettui's client code. Faults are SOAP 1.1 faults with HTTP
500; the fault knobs (latency, bare HTTP 500, malformed replies) apply.
"""

from __future__ import annotations

import hmac
import json
import random
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from aiohttp import web
from lxml import etree

from ettui.sandbox.queue import COMPLETE, ERROR, SandboxBatch

if TYPE_CHECKING:
    from ettui.sandbox import Sandbox

__all__ = ["SOAP_PATH", "TOKEN_PATH", "TRACKING_EXTRACT_ID", "SoapEndpoint", "endpoint", "install"]

SOAP_PATH = "/Service.asmx"
TOKEN_PATH = "/v2/token"
REQUEST_ID_PARAM = "_RequestID"
SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
PARTNER_NS = "http://exacttarget.com/wsdl/partnerAPI"
WSSE_NS = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
TRACKING_EXTRACT_ID = "c7219016-a7f0-4c72-8657-1ec12c28a0db"
EXPORT_FOLDER = "/Export"
STATUS_FORMS = ("ObjectExtension", "AsyncActivityStatus")

# (Name, DataType, DefaultValue, IsOptional) of the Tracking Extract, from the vendor's sample (spec §7.5).
TRACKING_PARAMETERS: tuple[tuple[str, str, str, bool], ...] = (
    ("StartDate", "datetime", "", False), ("EndDate", "datetime", "", False),
    ("OutputFileName", "string", "", False), ("AccountIDs", "string", "", True),
    ("SendIDs", "string", "", True), ("Attributes", "string", "", True),
    ("CharacterEncoding", "dropdown", "Default", True), ("ColumnDelimiter", "dropdown", "Default", True),
    ("ExtractAttributes", "bool", "false", True), ("ExtractBounces", "bool", "true", True),
    ("ExtractClickImpressions", "bool", "false", True), ("ExtractClicks", "bool", "true", True),
    ("ExtractConversions", "bool", "false", True), ("extractListMembershipChanges", "bool", "false", True),
    ("extractLists", "bool", "false", True), ("ExtractNotSent", "bool", "false", True),
    ("ExtractOpens", "bool", "true", True), ("ExtractSendImpressions", "bool", "false", True),
    ("ExtractSendJobImpressions", "bool", "false", True), ("ExtractSendJobs", "bool", "true", True),
    ("ExtractSent", "bool", "true", True), ("extractStatusChanges", "bool", "false", True),
    ("ExtractSubscribers", "bool", "false", True), ("ExtractSurveyResponses", "bool", "true", True),
    ("ExtractUnsubs", "bool", "true", True), ("Format", "dropdown", "csv", True),
    ("IncludeAllListMembers", "bool", "false", True), ("IncludeAllSubscribers", "bool", "false", True),
    ("IncludeInferredOpens", "bool", "false", True), ("IncludeMilliseconds", "bool", "false", True),
    ("IncludeTestSends", "bool", "true", True), ("IncludeUnsubReason", "bool", "false", True),
    ("QuoteText", "bool", "false", True), ("TextQualifier", "string", "", True),
    ("Timezone", "integer", "", True), ("UnicodeOutput", "bool", "false", True),
    ("UseIDs", "bool", "false", True), ("UseLocalTZinQuery", "bool", "false", True),
    ("NotificationEmail", "string", "", True),
)

_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False,
                          remove_comments=True, remove_pis=True)
_DOCTYPE = re.compile(rb"<!\s*DOCTYPE", re.IGNORECASE)
_DATE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})(?:\s+(\d{1,2}):(\d{2})(?::(\d{2}))?\s*([AaPp][Mm])?)?$")
_FORBIDDEN = set('\\/:*<>|?"')


class SoapFault(Exception):
    """Answered as a SOAP 1.1 fault (HTTP 500)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class SoapEndpoint:
    """The SOAP and token endpoints of one sandbox, with their switches."""

    sandbox: Sandbox
    status_form: str = "ObjectExtension"
    """How AsyncActivityStatus results are tagged: ``ObjectExtension`` or ``AsyncActivityStatus``."""
    page_size: int = 2500
    """Retrieve rows per page before ``MoreDataAvailable`` (the vendor's 2,500); 0 makes only the
    first page empty, which forces a client through ``ContinueRequest``."""
    token_lifetime: float = 1079.0
    """OAuth token lifetime in sandbox seconds (the vendor's sample ``expires_in``)."""
    requests: dict[str, int] = field(default_factory=dict)
    """Extract RequestID -> queue batch ID."""
    tokens: dict[str, datetime] = field(default_factory=dict)
    """Access token -> expiry on the sandbox clock."""
    _pages: dict[str, list[etree._Element]] = field(default_factory=dict)
    _rng: random.Random = field(default_factory=random.Random)

    def __post_init__(self) -> None:
        self._rng.seed(f"soap:{self.sandbox.options.seed}")

    # -- HTTP ---------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.Response:
        """``POST /Service.asmx``."""
        body = await request.read()
        try:
            status, document = 200, self.answer(body)
        except SoapFault as fault:
            status, document = 500, _fault_document(fault)
        faults = self.sandbox.faults
        if faults.draw(faults.malformed_share):
            document = document[: max(10, len(document) // 2)]
        return web.Response(status=status, body=document, content_type="text/xml", charset="utf-8")

    async def token(self, request: web.Request) -> web.Response:
        """``POST /v2/token``: client_credentials -> access token (sandbox-clock expiry)."""
        try:
            form = json.loads(await request.read() or b"{}")
        except ValueError:
            form = None
        if not isinstance(form, dict) or form.get("grant_type") != "client_credentials":
            return web.json_response({"error": "unsupported_grant_type",
                                      "error_description": "Use grant_type client_credentials."}, status=400)
        opts = self.sandbox.options
        id_ok = hmac.compare_digest(str(form.get("client_id", "")).encode(), opts.api_username.encode())
        secret_ok = hmac.compare_digest(str(form.get("client_secret", "")).encode(), self.sandbox.api_password.encode())
        if not (id_ok and secret_ok):
            return web.json_response({"error": "invalid_client",
                                      "error_description": "Client authentication failed."}, status=401)
        access = uuid.UUID(int=self._rng.getrandbits(128)).hex + uuid.UUID(int=self._rng.getrandbits(128)).hex
        self.tokens[access] = self.sandbox.clock.now() + timedelta(seconds=self.token_lifetime)
        base = f"{request.scheme}://{request.host}/"
        # expires_in is real seconds for the client: the sandbox clock may run fast.
        real_seconds = max(1, int(self.token_lifetime / self.sandbox.clock.scale))
        return web.json_response({"access_token": access, "token_type": "Bearer", "expires_in": real_seconds,
                                  "scope": "data_extensions_read tracking_events_read",
                                  "soap_instance_url": base, "rest_instance_url": base})

    # -- envelopes ----------------------------------------------------------

    def answer(self, data: bytes) -> bytes:
        """The reply envelope for one request envelope; raises ``SoapFault``."""
        if _DOCTYPE.search(data[:65536]):
            raise SoapFault("soap:Client", "The request must not contain a DOCTYPE.")
        try:
            root = etree.fromstring(data, _PARSER)
        except etree.XMLSyntaxError as exc:
            raise SoapFault("soap:Client", f"The request is not well-formed XML: {exc.msg}") from None
        if root.tag != f"{{{SOAP_NS}}}Envelope":
            raise SoapFault("soap:VersionMismatch", "The request is not a SOAP 1.1 Envelope.")
        header = root.find(f"{{{SOAP_NS}}}Header")
        body = root.find(f"{{{SOAP_NS}}}Body")
        message = next((c for c in body if isinstance(c.tag, str)), None) if body is not None else None
        if message is None:
            raise SoapFault("soap:Client", "The request has no body.")
        self._check_auth(header)
        name = etree.QName(message).localname
        if name == "ExtractRequestMsg":
            return _envelope(self._extract(message))
        if name == "RetrieveRequestMsg":
            return _envelope(self.retrieve(message))
        raise SoapFault("soap:Client", f"The operation {name} is not supported by the sandbox.")

    def _check_auth(self, header: etree._Element | None) -> None:
        opts = self.sandbox.options
        if header is not None:
            token = next((e for e in header if isinstance(e.tag, str) and etree.QName(e).localname == "fueloauth"), None)
            if token is not None:
                expires = self.tokens.get((token.text or "").strip())
                if expires is None:
                    raise _auth_fault("Login Failed")
                if self.sandbox.clock.now() >= expires:
                    raise _auth_fault("Token Expired")
                return
            user = header.find(f"{{{WSSE_NS}}}Security/{{{WSSE_NS}}}UsernameToken")
            if user is not None:
                name = user.findtext(f"{{{WSSE_NS}}}Username") or ""
                password = user.findtext(f"{{{WSSE_NS}}}Password") or ""
                ok_user = hmac.compare_digest(name.encode(), opts.api_username.encode())
                ok_password = hmac.compare_digest(password.encode(), self.sandbox.api_password.encode())
                if ok_user and ok_password:
                    return
                raise _auth_fault("Login Failed")
        raise _auth_fault("Security requirements are not satisfied because the security header is not present "
                          "in the incoming message.")

    # -- Extract ------------------------------------------------------------

    def _extract(self, message: etree._Element) -> etree._Element:
        reply = _p("ExtractResponseMsg")
        overall = _sub(reply, "OverallStatus", "OK")
        # Random, not seeded: sandboxes in several processes share one queue, and
        # seeded GUIDs would repeat in each of them.
        request_id = _sub(reply, "RequestID", str(uuid.uuid4()))
        for item in message.findall(_q("Requests")):
            result = _sub(reply, "Results")
            try:
                batch = self._queue_extract(item, request_id.text or "")
            except ValueError as exc:
                overall.text = "Error"
                _sub(result, "StatusCode", "Error")
                _sub(result, "StatusMessage", str(exc))
                _sub(result, "ErrorCode", "1")
                continue
            self.requests[request_id.text or ""] = batch.batch_id
            _sub(result, "StatusCode", "OK")
            _sub(result, "StatusMessage", "Data extract has been queued")
            _sub(result, "ErrorCode", "0")
            _sub(result, "RequestID", request_id.text)
        if len(reply) == 2:  # no Requests at all
            overall.text = "Error"
        return reply

    def _queue_extract(self, item: etree._Element, request_id: str) -> SandboxBatch:
        extract_id = (item.findtext(_q("ID")) or "").strip().strip("{}").lower()
        if extract_id != TRACKING_EXTRACT_ID:
            raise ValueError(f"Unknown extract ID '{extract_id}'; retrieve ExtractDescription for the valid IDs.")
        params: dict[str, str] = {}
        for param in item.iterfind(f"{_q('Parameters')}/{_q('Parameter')}"):
            params[(param.findtext(_q("Name")) or "").strip()] = (param.findtext(_q("Value")) or "").strip()
        for required in ("StartDate", "EndDate", "OutputFileName"):
            if not params.get(required):
                raise ValueError(f"The parameter {required} is required.")
        start, end = _parse_date(params["StartDate"], "StartDate"), _parse_date(params["EndDate"], "EndDate")
        if start > end:
            raise ValueError("StartDate must not be after EndDate.")
        name = params["OutputFileName"]
        if any(ch in _FORBIDDEN for ch in name) or not name.lower().endswith(".zip") or len(name) > 200:
            raise ValueError(f"OutputFileName '{name}' must end in .zip and must not contain \\ / : * < > | ? \".")
        # Kept with the batch (the queue's journal is shared between processes),
        # so a sandbox started later still answers for this RequestID.
        params[REQUEST_ID_PARAM] = request_id
        return self.sandbox.queue.submit("tracking-extract", params, member_id=self.sandbox.options.member_id,
                                         folder=EXPORT_FOLDER, output_name=name)

    def _known_requests(self) -> dict[str, int]:
        """RequestID -> batch ID for every extract, including other processes' (via the queue)."""
        known = {b.params[REQUEST_ID_PARAM]: b.batch_id for b in self.sandbox.queue.all() if REQUEST_ID_PARAM in b.params}
        known.update(self.requests)
        return known

    # -- Retrieve -----------------------------------------------------------

    def retrieve(self, message: etree._Element) -> etree._Element:
        """The ``RetrieveResponseMsg`` for a ``RetrieveRequestMsg`` (no envelope, no auth check)."""
        request = message.find(_q("RetrieveRequest"))
        if request is None:
            raise SoapFault("soap:Client", "RetrieveRequestMsg needs a RetrieveRequest.")
        continued = (request.findtext(_q("ContinueRequest")) or "").strip()
        if continued:
            rows = self._pages.pop(continued, None)
            if rows is None:
                return _retrieve_reply(f"Error: ContinueRequest {continued} is unknown or already read.", None, [])
            return self._page(rows, first=False)
        object_type = (request.findtext(_q("ObjectType")) or "").strip()
        wanted = [(p.text or "").strip() for p in request.findall(_q("Properties")) if (p.text or "").strip()]
        if object_type == "AsyncActivityStatus":
            task_ids = _task_filter(request.find(_q("Filter")))
            rows = [self._status_row(rid, bid, wanted) for rid, bid in self._known_requests().items()
                    if task_ids is None or rid in task_ids]
            return self._page(rows, first=True)
        if object_type == "ExtractDescription":
            return _retrieve_reply("OK", None, [_extract_description()])
        return _retrieve_reply(f"Error: The object type '{object_type}' is not supported by the sandbox.", None, [])

    def _page(self, rows: list[etree._Element], *, first: bool) -> etree._Element:
        size = self.page_size if first else max(1, self.page_size)
        if len(rows) <= size and (size or not rows):
            return _retrieve_reply("OK", str(uuid.UUID(int=self._rng.getrandbits(128), version=4)), rows)
        request_id = str(uuid.UUID(int=self._rng.getrandbits(128), version=4))
        self._pages[request_id] = rows[size:]
        return _retrieve_reply("MoreDataAvailable", request_id, rows[:size])

    def _status_row(self, request_id: str, batch_id: int, wanted: list[str]) -> etree._Element:
        batch = self.sandbox.queue.get(batch_id)
        assert batch is not None
        values = {
            "TaskID": request_id,
            "ClientID": batch.member_id,
            "Type": "DataExtract",
            "Status": batch.status,
            "StatusMessage": {COMPLETE: "Extract complete", ERROR: "Extract failed"}.get(batch.status, batch.status),
            "ErrorMsg": batch.error_message or "",
            "StartDate": _us(batch.submitted_at),
            "CompletedDate": _us(batch.completed_at) if batch.completed_at and batch.status in (COMPLETE, ERROR) else "",
        }
        names = [n for n in wanted if n in values] or list(values)
        form = self.status_form if self.status_form in STATUS_FORMS else STATUS_FORMS[0]
        row = _p("Results")
        row.set(f"{{{XSI_NS}}}type", form)
        if form == "ObjectExtension":
            _sub(row, "Type", "AsyncActivityStatus")
        props = _sub(row, "Properties")
        for name in names:
            prop = _sub(props, "Property")
            _sub(prop, "Name", name)
            _sub(prop, "Value", values[name])
        return row


SOAP_KEY: web.AppKey[SoapEndpoint] = web.AppKey("soap", SoapEndpoint)


def install(app: web.Application, sandbox: Sandbox) -> None:
    """Add ``/Service.asmx`` and ``/v2/token`` to the sandbox's HTTP app."""
    soap = SoapEndpoint(sandbox)
    app[SOAP_KEY] = soap
    app.router.add_route("POST", SOAP_PATH, soap.handle)
    app.router.add_route("POST", TOKEN_PATH, soap.token)


def endpoint(sandbox: Sandbox) -> SoapEndpoint:
    """The running sandbox's SOAP endpoint, to flip its switches (``status_form``, ``page_size``)."""
    assert sandbox.app is not None, "the sandbox is not running"
    return sandbox.app[SOAP_KEY]



# -- document helpers ------------------------------------------------------------


def _q(name: str) -> str:
    return f"{{{PARTNER_NS}}}{name}"


def _p(name: str) -> etree._Element:
    # lxml-stubs types nsmap keys as str; lxml takes None for the default namespace.
    return etree.Element(_q(name), nsmap={None: PARTNER_NS, "xsi": XSI_NS})  # type: ignore[dict-item]


def _sub(parent: etree._Element, name: str, text: str | None = None) -> etree._Element:
    child = etree.SubElement(parent, _q(name))
    if text is not None:
        child.text = text
    return child


def _envelope(message: etree._Element) -> bytes:
    envelope = etree.Element(f"{{{SOAP_NS}}}Envelope", nsmap={"soap": SOAP_NS, "xsi": XSI_NS,
                                                             "xsd": "http://www.w3.org/2001/XMLSchema"})
    etree.SubElement(envelope, f"{{{SOAP_NS}}}Header")
    etree.SubElement(envelope, f"{{{SOAP_NS}}}Body").append(message)
    return etree.tostring(envelope, xml_declaration=True, encoding="utf-8")


def _fault_document(fault: SoapFault) -> bytes:
    envelope = etree.Element(f"{{{SOAP_NS}}}Envelope", nsmap={"soap": SOAP_NS})
    body = etree.SubElement(envelope, f"{{{SOAP_NS}}}Body")
    node = etree.SubElement(body, f"{{{SOAP_NS}}}Fault")
    prefix = fault.code.split(":", 1)[0]
    code = etree.SubElement(node, "faultcode", nsmap={"q0": WSSE_NS} if prefix == "q0" else None)
    code.text = fault.code
    etree.SubElement(node, "faultstring").text = fault.message
    return etree.tostring(envelope, xml_declaration=True, encoding="utf-8")


def _auth_fault(message: str) -> SoapFault:
    # The vendor's login fault: faultcode q0:Security in the WS-Security namespace.
    return SoapFault("q0:Security", message)


def _retrieve_reply(overall: str, request_id: str | None, rows: list[etree._Element]) -> etree._Element:
    reply = _p("RetrieveResponseMsg")
    _sub(reply, "OverallStatus", overall)
    if request_id:
        _sub(reply, "RequestID", request_id)
    for row in rows:
        reply.append(row)
    return reply


def _extract_description() -> etree._Element:
    row = _p("Results")
    row.set(f"{{{XSI_NS}}}type", "ExtractDescription")
    _sub(row, "ObjectID", TRACKING_EXTRACT_ID)
    _sub(row, "Name", "Tracking Extract")
    params = _sub(row, "Parameters")
    for name, data_type, default, optional in TRACKING_PARAMETERS:
        param = _sub(params, "Parameter")
        _sub(param, "Name", name)
        _sub(param, "DataType", data_type)
        _sub(param, "DefaultValue", default)
        _sub(param, "IsOptional", "true" if optional else "false")
        _sub(param, "DropDownList", "csv,tab" if name == "Format" else "")
    return row


def _task_filter(node: etree._Element | None) -> set[str] | None:
    """TaskIDs a ``SimpleFilterPart`` on TaskID (equals / IN) asks for; None: no TaskID filter."""
    if node is None or (node.findtext(_q("Property")) or "").strip() != "TaskID":
        return None
    operator = (node.findtext(_q("SimpleOperator")) or "").strip()
    values = {(v.text or "").strip() for v in node.findall(_q("Value"))}
    if operator not in ("equals", "IN"):
        raise SoapFault("soap:Client", f"The sandbox filters TaskID with equals or IN, not {operator}.")
    return values


def _parse_date(text: str, what: str) -> datetime:
    match = _DATE.match(text)
    if match:
        month, day, year = (int(match.group(i)) for i in (1, 2, 3))
        hour, minute, second = int(match.group(4) or 0), int(match.group(5) or 0), int(match.group(6) or 0)
        half = (match.group(7) or "").upper()
        if half:
            hour = hour % 12 + (12 if half == "PM" else 0)
        try:
            return datetime(year, month, day, hour, minute, second)
        except ValueError:
            pass
    raise ValueError(f"The {what} '{text}' is not a date in M/D/YYYY h:mm:ss AM form.")


def _us(moment: datetime | None) -> str:
    if moment is None:
        return ""
    hour = moment.hour % 12 or 12
    half = "AM" if moment.hour < 12 else "PM"
    return f"{moment.month}/{moment.day}/{moment.year} {hour}:{moment.minute:02d}:{moment.second:02d} {half}"

