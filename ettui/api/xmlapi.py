"""The legacy ExactTarget XML API (``integrate.aspx``): bulk async calls and Batch Inquire.

``XmlApi`` implements ``BatchApi``. A request is checked against the catalogue
(``catalogue.py``) before anything is sent, built with lxml into the vendor's
``exacttarget/authorization/system`` document (spec §2.2, §3, §4), and sent as
a form POST ``qf=xml&xml=<percent-encoded document>`` (spec §2.1: POST, fully
encoded, so ``+``, ``&`` and ``=`` in values survive). Replies are read with the
hardened parser in ``xmlsafe.py`` and matched case-insensitively, because the
vendor's own samples disagree on case (``batchID``/``batchid``, ``Batch``/``batch``).

Every failure leaves as an ``ettui.errors`` exception whose message is one
sentence naming the thing and what to do. The password travels only inside the
document on the wire: previews, returned documents, replies and messages are
all scrubbed of it.
"""

from __future__ import annotations

import asyncio
import logging
import re
import urllib.parse
from collections.abc import Callable
from datetime import date

import httpx
from lxml import etree

from ettui.api.base import CallSpec, ParamKind
from ettui.api.catalogue import (
    CALLS,
    INQUIRE,
    RANGES,
    Need,
    XmlCall,
    call_specs,
    find_call,
)
from ettui.api.dates import FORMS_HINT, format_date, parse_date
from ettui.api.reply_values import excerpt, file_name_problem, is_batch_id, shown
from ettui.api.secrets import MASK, mask_secrets
from ettui.api.wire import GATEWAY_UNSURE, Limits, Peer, Reply, post
from ettui.api.xmlsafe import XmlRejected, local_name, parse_xml
from ettui.errors import (
    AuthError,
    ConfigError,
    EttuiError,
    MalformedReplyError,
    ServiceError,
    ThrottledError,
    ValidationError,
)
from ettui.model import BatchRequest, Dialect, Inquiry, JobStatus, SubmitResult

__all__ = ["MASK", "XmlApi", "build_document", "encode_form"]

log = logging.getLogger(__name__)

_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n'
_MAX_TEXT = 200
_MAX_ID_DIGITS = 19  # fits a signed 64-bit integer, the widest ID the vendor could use
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

_RANGE_WORDS = {"daterange": "a date range", "jobdaterange": "a send date range (when the e-mails went out)"}

# Inference (spec §2.4 documents no login error code): the service reports a
# bad login as an ordinary <error>, so decide "login refused" by the words of
# its description. A miss only changes the title shown, never the handling.
_LOGIN_WORDS = re.compile(
    r"log\s*-?\s*in|logon|sign\s*-?\s*in|password|user\s*-?\s*name|credential|authenticat"
    r"|unauthori[sz]ed|invalid\s+user|access\s+denied",
    re.IGNORECASE,
)


def build_document(call: XmlCall, values: dict[str, str], username: str, password: str) -> str:
    """The request document for ``call`` with already-validated ``values``.

    Element order follows the vendor samples: ``system_name``, ``action``,
    ``sub_action``, the search fields, extra elements, then ``daterange`` and
    ``jobdaterange``.
    """
    root = etree.Element("exacttarget")
    auth = etree.SubElement(root, "authorization")
    _leaf(auth, "username", username)
    _leaf(auth, "password", password)
    system = etree.SubElement(root, "system")
    _leaf(system, "system_name", call.system_name)
    _leaf(system, "action", call.action)
    if call.sub_action:  # Batch Inquire has none
        _leaf(system, "sub_action", call.sub_action)
    search_value = values.get(call.search_param) if call.search_param else None
    _leaf(system, "search_type", call.search_type if search_value else None)
    if search_value or call.blank_search_value:
        _leaf(system, "search_value", search_value)
    if call.search_value2:
        _leaf(system, "search_value2", None)
    for name in call.extra_elements:
        if values.get(name):
            _leaf(system, name, values[name])
    for element, (start, end) in RANGES.items():
        if start in values and end in values:
            date_range = etree.SubElement(system, element)
            _leaf(date_range, "startdate", values[start])
            _leaf(date_range, "enddate", values[end])
    return _DECLARATION + etree.tostring(root, encoding="unicode", pretty_print=True)


def _leaf(parent: etree._Element, tag: str, text: str | None) -> None:
    # None gives <tag/>, the short empty form the vendor's own samples use.
    etree.SubElement(parent, tag).text = text or None


def encode_form(document: str) -> bytes:
    """``qf=xml&xml=<document>`` with every reserved character percent-encoded.

    ``quote(safe="")`` encodes ``+``, ``&``, ``=`` and ``/`` too, and non-ASCII
    as UTF-8: a form decoder gives back exactly ``document``.
    """
    return b"qf=xml&xml=" + urllib.parse.quote(document, safe="").encode("ascii")


class XmlApi:
    """``BatchApi`` for the legacy XML API: calls C1-C8 and Batch Inquire over HTTP(S)."""

    dialect: Dialect = "xml"

    def __init__(
        self,
        endpoint: str,
        username: str,
        password: str,
        *,
        connect_timeout: float = 10.0,
        read_timeout: float = 60.0,
        request_deadline: float = 90.0,
        max_reply_bytes: int = 16 * 1024 * 1024,
        client: httpx.AsyncClient | None = None,
        today: Callable[[], date] | None = None,
    ) -> None:
        """Args:
        endpoint: The ``integrate.aspx`` URL (vendor or sandbox).
        username, password: The API user; the password is never shown anywhere.
        connect_timeout, read_timeout: Seconds, applied separately (read: per read).
        request_deadline: Seconds for a whole exchange: connect, send, the complete reply.
        max_reply_bytes: A longer reply is refused (read as a stream, never held whole).
        client: An ``httpx.AsyncClient`` to share; it is not closed by ``aclose``.
        today: Where relative dates (``-7d``) count from; the local date by default.
        """
        try:
            url = httpx.URL(endpoint)
        except (httpx.InvalidURL, TypeError):
            url = httpx.URL()
        if url.scheme not in ("http", "https") or not url.host:
            raise ConfigError(f"The XML API endpoint {endpoint!r} is not an http(s) URL; set `endpoint` in the profile.")
        self.endpoint = endpoint
        self.host = url.host if url.port is None else f"{url.host}:{url.port}"
        """Host (and explicit port) for messages; never the full URL's query."""
        self.username = username
        self.__password = password
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.limits = Limits(connect_timeout, read_timeout, request_deadline, max_reply_bytes)
        self._peer = Peer(self.host, "the endpoint URL")
        self._owns_client = client is None
        self._client = client or httpx.AsyncClient(timeout=self.limits.timeout, headers={"User-Agent": "ettui"})
        self._today = today or date.today

    def __repr__(self) -> str:
        return f"XmlApi(endpoint={self.endpoint!r}, username={self.username!r}, password={MASK!r})"

    # -- catalogue and validation --------------------------------------------

    def calls(self) -> list[CallSpec]:
        """C1-C8 with their parameters."""
        return call_specs()

    def validate(self, request: BatchRequest) -> None:
        """Raise ``ValidationError`` naming the call and parameter if the request is not sendable."""
        self._resolve(request)

    def preview(self, request: BatchRequest) -> str:
        """The exact document ``submit`` would send, with the password as ``********``."""
        call, values = self._resolve(request)
        return self._document(call, values, MASK)

    def _resolve(self, request: BatchRequest) -> tuple[XmlCall, dict[str, str]]:
        """Find the call and turn the user's text into wire values (dates as M/D/YYYY)."""
        call = find_call(request.call)
        if call is None:
            known = ", ".join(c.id for c in CALLS)
            raise ValidationError(
                f"There is no call {request.call!r}; choose one of {known} (`ettui calls` lists them).",
                call=request.call,
            )
        cid = call.id
        given = _normalise(call, request.params)
        for element, (start, end) in RANGES.items():
            need: Need = getattr(call, element)
            if (start in given) != (end in given):
                present, missing = (start, end) if start in given else (end, start)
                either = "" if need is Need.REQUIRED else ", or leave both empty"
                raise ValidationError(
                    f"{cid} needs {missing} as well as {present}: give both{either}.", param=missing, call=cid
                )
            if need is Need.REQUIRED and start not in given:
                raise ValidationError(
                    f"{cid} needs {_RANGE_WORDS[element]}: add {start} and {end} as {FORMS_HINT}.",
                    param=start, call=cid,
                )
        values: dict[str, str] = {}
        dates: dict[str, date] = {}
        for spec in call.spec.params:
            text = given.get(spec.name)
            if text is None:
                if spec.required:
                    raise ValidationError(f"{cid} needs {spec.name}: {_lower_first(spec.help)}", param=spec.name, call=cid)
                continue
            if spec.kind is ParamKind.DATE:
                try:
                    dates[spec.name] = parse_date(text, self._today(), param=spec.name)
                except ValidationError as exc:
                    exc.call = cid
                    raise
                values[spec.name] = format_date(dates[spec.name])
            elif spec.kind is ParamKind.INT:
                if not text.isascii() or not text.isdigit() or len(text) > _MAX_ID_DIGITS:
                    raise ValidationError(
                        f"{spec.name} must be a number of digits only, such as 8812345, not {text!r}.",
                        param=spec.name, call=cid,
                    )
                values[spec.name] = text
            else:
                if _CONTROL.search(text) or len(text) > _MAX_TEXT:
                    raise ValidationError(
                        f"{spec.name} must be plain text of at most {_MAX_TEXT} characters without control characters.",
                        param=spec.name, call=cid,
                    )
                values[spec.name] = text
        for start, end in RANGES.values():
            if start in dates and dates[start] > dates[end]:
                raise ValidationError(
                    f"{start} {values[start]} is after {end} {values[end]}; swap them or pick an earlier {start}.",
                    param=start, call=cid,
                )
        return call, values

    def _document(self, call: XmlCall, values: dict[str, str], password: str) -> str:
        try:
            return build_document(call, values, self.username, password)
        except ValueError:
            # lxml refuses control characters; its message never holds the value.
            raise ConfigError(
                "The API username or password contains control characters; fix the profile's credentials."
            ) from None

    # -- the wire ----------------------------------------------------------------

    async def submit(self, request: BatchRequest) -> SubmitResult:
        """Validate, send, and return the batch ID with the redacted document and the raw reply."""
        call, values = self._resolve(request)
        document = self._document(call, values, self.__password)
        redacted = self._document(call, values, MASK)
        reply, root = await self._exchange(document, call.id)
        batch_id = _text(_find(root, "batchid", "batch_id"))
        if not batch_id:
            raise MalformedReplyError(
                f"The reply from {self.host} to {call.id} has no batchID, so the request may not have been "
                "recorded; check the batch list on the service before submitting again.",
                call=call.id,
            )
        if not is_batch_id(batch_id):
            raise MalformedReplyError(
                f"The reply from {self.host} to {call.id} gave '{shown(batch_id)}' as its batchID, which is not a "
                "number, so ettui did not record it; the request may have been recorded, so check the batch list "
                "on the service before submitting again.",
                call=call.id,
            )
        log.info("%s accepted %s as batch %s", self.host, call.id, batch_id)
        return SubmitResult(batch_id=batch_id, request_doc=redacted, reply=reply)

    async def inquire(self, batch_id: str) -> Inquiry:
        """Batch Inquire: the batch's status (raw text kept), file name and the raw reply."""
        wanted = batch_id.strip()
        if not wanted or len(wanted) > 64 or any(ch.isspace() or not ch.isprintable() for ch in wanted):
            raise ValidationError(
                f"The batch ID {batch_id!r} is not valid; use the ID the service gave when the request was submitted.",
                param="batch_id", call=INQUIRE.id,
            )
        document = self._document(INQUIRE, {"batch_id": wanted}, self.__password)
        reply, root = await self._exchange(document, INQUIRE.id)
        batch = _find(root, "batch")
        scope = batch if batch is not None else root
        status_element = _find(scope, "status")
        status_raw = excerpt(_text(status_element), 100)
        if status_element is None:
            raise MalformedReplyError(
                f"The Batch Inquire reply from {self.host} for batch {wanted} has no status; ettui will ask again later.",
                call=INQUIRE.id,
            )
        answered = _text(_find(scope, "batchid", "batch_id"))
        if answered and answered != wanted:
            raise MalformedReplyError(
                f"{self.host} answered about batch {shown(answered)} when asked about batch {wanted}; "
                "ettui will ask again later.",
                call=INQUIRE.id,
            )
        file_name = _text(_find(scope, "filename", "file_name")) or None
        if file_name is not None and (problem := file_name_problem(file_name)) is not None:
            refused = (
                f"The Batch Inquire reply from {self.host} names the output file '{shown(file_name)}', which {problem}, "
                f"so ettui will not fetch it; check batch {wanted} on the service and download its file by hand."
            )
            log.warning("%s", refused)
            return Inquiry(batch_id=wanted, status=JobStatus.ERROR, status_raw=status_raw, file_name=None,
                           message=refused, reply=reply, error=refused)
        return Inquiry(
            batch_id=wanted,
            status=JobStatus.parse(status_raw),
            status_raw=status_raw,
            file_name=file_name,
            message=excerpt(self._scrub(_text(_find(scope, "message", "errormsg", "error_message", "description")))) or None,
            reply=reply,
        )

    @property
    def closed(self) -> bool:
        """True once the HTTP client is closed (by ``aclose`` when this object created it)."""
        return self._client.is_closed

    async def aclose(self) -> None:
        """Close the HTTP client if this object created it."""
        if self._owns_client:
            await self._client.aclose()

    async def _exchange(self, document: str, call: str) -> tuple[str, etree._Element]:
        """POST the document; return the scrubbed reply text and its root, or raise the error family."""
        response = await self._post(document, call)
        reply = self._scrub(response.text)
        root: etree._Element | None
        try:
            root = await asyncio.to_thread(parse_xml, response.content, max_elements=MAX_REPLY_ELEMENTS)  # never on the loop
        except XmlRejected as exc:
            if not response.is_success:
                root = None  # the HTTP status says enough; see below
            else:
                raise MalformedReplyError(
                    f"The reply from {self.host} to {call} could not be read because {exc.reason}; "
                    "check that the endpoint is an XML API (integrate.aspx) URL, or try again later.",
                    call=call,
                ) from None
        if response.status_code == 500:
            raise ThrottledError(
                f"{self.host} answered HTTP 500, which ExactTarget uses for throttling (the service is busy).",
                call=call, code="500",
            )
        if root is not None:
            self._raise_for_error(root, call)
        if not response.is_success:
            cls = AuthError if response.status_code in (401, 403) else ServiceError
            raise cls(
                f"{self.host} answered HTTP {response.status_code} {response.reason_phrase} to {call}; "
                "check the endpoint URL and account, then try again.",
                call=call, code=str(response.status_code), maybe_sent=response.status_code in GATEWAY_UNSURE,
            )
        assert root is not None  # a 2xx reply that failed to parse raised above
        return reply, root

    async def _post(self, document: str, call: str) -> Reply:
        """Send the form within the profile's limits (``wire.post``: deadline, reply cap, one sentence)."""
        log.debug("POST %s (%s)", self.host, call)
        try:
            return await post(
                self._client, self.endpoint,
                content=encode_form(document),
                headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
                limits=self.limits, peer=self._peer, call=call,
            )
        except EttuiError as exc:
            log.debug("POST %s (%s) failed: %s", self.host, call, exc.message)
            raise

    # -- replies -----------------------------------------------------------------

    def _raise_for_error(self, root: etree._Element, call: str) -> None:
        """Raise ``ServiceError``/``AuthError`` when the reply carries ``<error>`` (spec §2.4)."""
        error = _find(root, "error")
        if error is None:
            return
        code = excerpt(self._scrub(_text(error)), 40) or None
        description = excerpt(self._scrub(_text(_find(root, "error_description")))).rstrip(". ") or "no description given"
        suffix = f" (error {code})" if code else ""
        if _LOGIN_WORDS.search(description):
            raise AuthError(
                f"The service refused the login of API user {self.username!r}: {description}{suffix}; "
                "check api_username and the API password.",
                call=call, code=code,
            )
        what = "the batch ID" if call == INQUIRE.id else "the request's parameters"
        raise ServiceError(
            f"The service rejected {call}: {description}{suffix}; check {what} and try again.",
            call=call, code=code,
        )

    def _scrub(self, text: str) -> str:
        """``text`` with every spelling of the password masked."""
        return mask_secrets(text, [self.__password])


def _normalise(call: XmlCall, params: dict[str, str]) -> dict[str, str]:
    """Map the user's names (any case, ``-`` or ``_``) to catalogue names; drop empty values."""
    given: dict[str, str] = {}
    for raw_name, raw_value in params.items():
        name = raw_name.strip().lower().replace("-", "_")
        spec = call.spec.param(name)
        if spec is None:
            names = ", ".join(p.name for p in call.spec.params)
            raise ValidationError(
                f"{call.id} has no parameter {raw_name!r}; its parameters are {names}.", param=raw_name, call=call.id
            )
        value = str(raw_value).strip()
        if spec.name in given and value:
            raise ValidationError(f"{spec.name} is given twice; keep one value.", param=spec.name, call=call.id)
        if value:  # an empty form field means "not given"
            given[spec.name] = value
    return given


MAX_REPLY_ELEMENTS = 10_000
"""An XML API reply holds a few dozen elements; each lookup walks them all in Python."""


def _find(root: etree._Element, *names: str) -> etree._Element | None:
    """The first element anywhere under ``root`` (itself included) with one of ``names``, any case.

    ``-`` and ``_`` are treated alike (one recorded fixture has ``error-description``).
    """
    wanted = {name.lower().replace("-", "_") for name in names}
    for element in root.iter():
        if local_name(element).replace("-", "_") in wanted:
            return element
    return None


def _text(element: etree._Element | None) -> str:
    return (element.text or "").strip() if element is not None else ""


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


