"""The SOAP dialect: ``Extract`` to submit, ``Retrieve`` of ``AsyncActivityStatus`` to poll.

``SoapApi`` implements ``BatchApi`` on a zeep ``AsyncClient`` built from the
WSDL subset ettui ships (``api/wsdl/partner-subset.wsdl``) or, for a real
account that names one, the vendor's WSDL (fetched once, then cached). zeep
parses a WSDL synchronously, so ``SoapApi.create`` builds the client in a
worker thread, once per profile.

How each call travels:

* zeep renders the request envelope from the WSDL (types, order, ``xsi:type``
  of the filter) and applies WS-Security; an OAuth profile adds the
  ``fueloauth`` header instead. The envelope is posted through zeep's transport
  (``soap_transport.py``: connect and per-read timeouts, the request deadline
  for the whole exchange, the reply read as a stream up to ``max_reply_bytes``).
  A status poll's envelope is rendered once per batch and token and reused,
  since rendering is most of the client's own cost per poll.
* Every reply is parsed once, with the hardened parser of ``xmlsafe.py``.
  Faults become the error family with the fault's own text; HTTP 500 with a
  ``Server`` fault is throttling, as a bare 500 is. ``Extract``'s reply is read
  by element name, leniently (the vendor adds elements the WSDL does not
  declare; an OK with a RequestID is always an accepted extract), and its
  RequestID must be a GUID. ``Retrieve`` results are read from
  the envelope itself: ``AsyncActivityStatus`` rows come back as name/value
  ``Properties/Property`` lists tagged ``xsi:type="ObjectExtension"`` or
  ``xsi:type="AsyncActivityStatus"`` (which is settled nowhere, spec §7.7),
  and the vendor's WSDL has no ``AsyncActivityStatus`` type, so a typed read
  would fail there (``LookupError``). Reading the properties by name works for
  both taggings and both WSDLs.
* The request document kept for the job's history is the envelope exactly as
  sent with ``Password``/``fueloauth`` masked.

Output file name: ``Retrieve`` never names the file. ``inquire`` reports the
``OutputFileName`` of extracts submitted through this object (or announced with
``remember_file_name``) once Complete, and ``None`` otherwise; a caller that
restarts knows the name from the stored request parameters.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import re
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import zeep
import zeep.exceptions
from lxml import etree
from zeep.wsse import UsernameToken as _ZeepUsernameToken

from ettui.api.base import CallSpec
from ettui.api.reply_values import excerpt, file_name_problem, is_request_id, shown
from ettui.api.secrets import MASK, mask_secrets
from ettui.api.soap_auth import FUELOAUTH_NS, TokenSource
from ettui.api.soap_catalogue import CALLS, resolve
from ettui.api.soap_reply import body_child as _body_child
from ettui.api.soap_reply import find_fault as _find_fault
from ettui.api.soap_reply import read_extract, read_retrieve
from ettui.api.soap_transport import SoapTransport
from ettui.api.wire import GATEWAY_UNSURE, Limits, Reply
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
from ettui.safetext import clean

__all__ = ["MASK", "PACKAGED_WSDL", "PARTNER_NS", "STATUS_PROPERTIES", "OAuth", "SoapApi", "UsernameToken"]

log = logging.getLogger(__name__)

PARTNER_NS = "http://exacttarget.com/wsdl/partnerAPI"
PACKAGED_WSDL = Path(__file__).resolve().parent / "wsdl" / "partner-subset.wsdl"
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"

STATUS_PROPERTIES = ("TaskID", "Status", "StatusMessage", "ErrorMsg", "StartDate", "CompletedDate")
"""What an inquiry asks of ``AsyncActivityStatus`` (all documented returnable properties, spec §7.7)."""

_ENVELOPE_CACHE = 512
"""Rendered status envelopes kept (one per polled batch and token)."""

MAX_PAGES = 40
"""``ContinueRequest`` pages read per inquiry at most (2,500 rows each)."""

_SECRET_TAGS = {"password", "fueloauth", "nonce", "binarysecuritytoken"}
_LOGIN_WORDS = re.compile(r"login|log in|password|credential|authenticat|unauthori[sz]ed|token", re.IGNORECASE)
_EXPIRED = re.compile(r"expired", re.IGNORECASE)
_SECURITY = frozenset({"security", "failedauthentication", "invalidsecuritytoken"})
"""Fault codes (local part) that mean the credentials or the token were refused."""


@dataclass(frozen=True)
class UsernameToken:
    """WS-Security UsernameToken credentials of an API user (spec §7.3)."""

    username: str
    password: str = field(repr=False)


@dataclass(frozen=True)
class OAuth:
    """OAuth client credentials of an installed package; tokens come from ``auth_url``."""

    auth_url: str
    client_id: str
    client_secret: str = field(repr=False)
    account_id: str | None = None
    """The target MID (``account_id`` in the token request)."""
    scope: str | None = None


@dataclass(frozen=True)
class _Reply:
    """One answered call: the envelope root, its text and the redacted request."""

    root: etree._Element
    text: str
    request_doc: str


class SoapApi:
    """``BatchApi`` over the SOAP partner API: tracking extracts and their status."""

    dialect: Dialect = "soap"

    def __init__(
        self,
        client: zeep.AsyncClient,
        transport: SoapTransport,
        url: str,
        auth: UsernameToken | OAuth,
        *,
        connect_timeout: float = 10.0,
        read_timeout: float = 60.0,
        today: Callable[[], date] | None = None,
        max_range_days: int | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        """Use ``await SoapApi.create(...)``; this wires an already-built zeep client.

        The transport's ``limits`` (timeouts, request deadline, reply cap) apply
        to every call, the OAuth token call included.
        """
        self._client = client
        self._transport = transport
        self.url = url
        parsed = httpx.URL(url)
        self.host = parsed.host if parsed.port is None else f"{parsed.host}:{parsed.port}"
        self.auth = auth
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.max_range_days = max_range_days
        self._today = today or date.today
        self._tokens: TokenSource | None = None
        if isinstance(auth, OAuth):
            self._tokens = TokenSource(auth.auth_url, auth.client_id, auth.client_secret, http=transport.client,
                                       account_id=auth.account_id, scope=auth.scope, monotonic=monotonic,
                                       limits=transport.limits)
        self._worked_token: str | None = None
        """The last OAuth token a call succeeded with: a Security fault on it means it died early."""
        self._filter_type = client.get_type(f"{{{PARTNER_NS}}}SimpleFilterPart")
        self._binding = client.service._binding
        self._file_names: dict[str, str] = {}
        self._envelopes: OrderedDict[tuple[str, str, str | None], tuple[bytes, str]] = OrderedDict()

    @classmethod
    async def create(
        cls,
        url: str,
        *,
        wsdl: str | None = None,
        auth: UsernameToken | OAuth,
        connect_timeout: float = 10.0,
        read_timeout: float = 60.0,
        request_deadline: float = 90.0,
        max_reply_bytes: int = 16 * 1024 * 1024,
        cache_dir: Path | None = None,
        today: Callable[[], date] | None = None,
        max_range_days: int | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> SoapApi:
        """Build the zeep client off the event loop and return the API.

        Args:
            url: The ``Service.asmx`` URL calls are posted to.
            wsdl: None for the packaged subset; a file path; or a URL, fetched
                once and kept under ``cache_dir``.
            auth: ``UsernameToken`` or ``OAuth`` credentials.
            connect_timeout, read_timeout: Seconds, for every call (read: per read).
            request_deadline: Seconds for a whole exchange: connect, send, the complete reply.
            max_reply_bytes: A longer reply is refused (read as a stream, never held whole).
            today: Where relative dates (``-7d``) count from.
            max_range_days: Reject extracts spanning more days (None: no limit).
            monotonic: The clock OAuth token expiry is measured on.
        """
        try:
            parsed = httpx.URL(url)
        except (httpx.InvalidURL, TypeError):
            parsed = httpx.URL()
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise ConfigError(f"The SOAP URL {url!r} is not an http(s) URL; set `soap_url` in the profile.")
        if isinstance(auth, OAuth) and not auth.auth_url.startswith(("http://", "https://")):
            raise ConfigError("The profile uses OAuth but `auth_url` is not an http(s) URL; set it to the /v2/token URL.")
        limits = Limits(connect_timeout, read_timeout, request_deadline, max_reply_bytes)
        client, transport = await asyncio.to_thread(build_client, wsdl, auth, limits=limits, cache_dir=cache_dir)
        return cls(client, transport, url, auth, connect_timeout=connect_timeout, read_timeout=read_timeout,
                   today=today, max_range_days=max_range_days, monotonic=monotonic)

    @property
    def transport(self) -> SoapTransport:
        """The transport every SOAP call goes through: its limits, its WSDL download count."""
        return self._transport

    @property
    def tokens(self) -> TokenSource | None:
        """The OAuth token source (its fetch count, its current token); None with UsernameToken."""
        return self._tokens

    def __repr__(self) -> str:
        return f"SoapApi(url={self.url!r}, auth={self.auth!r})"

    # -- catalogue -------------------------------------------------------------

    def calls(self) -> list[CallSpec]:
        """The tracking extract."""
        return [call.spec for call in CALLS]

    def validate(self, request: BatchRequest) -> None:
        """Raise ``ValidationError`` naming the parameter if the request is not sendable."""
        resolve(request.call, dict(request.params), today=self._today, max_range_days=self.max_range_days)

    def preview(self, request: BatchRequest) -> str:
        """The envelope ``submit`` would send, with the password or token masked."""
        body = self._extract_body(request)
        headers = [_fueloauth(MASK)] if self._tokens is not None else None
        return self._redact(self._render("Extract", body, headers))

    def remember_file_name(self, batch_id: str, file_name: str) -> None:
        """Tell ``inquire`` the ``OutputFileName`` of a batch submitted before a restart."""
        self._file_names[batch_id] = file_name

    # -- calls -----------------------------------------------------------------

    async def submit(self, request: BatchRequest) -> SubmitResult:
        """``Extract``; the reply's ``RequestID`` is the batch ID."""
        body = self._extract_body(request)
        reply = await self._exchange("Extract", body)
        answer = read_extract(reply.root)
        if answer is None:
            raise MalformedReplyError(
                f"The Extract reply from {self.host} holds no ExtractResponseMsg, so the request may or may not have "
                "been recorded; check the service before submitting again.",
                call="Extract",
            )
        request_id = answer.request_id
        if not answer.overall.upper().startswith("OK"):
            detail = excerpt(self._scrub(answer.status_message or answer.overall or "no status given")).rstrip(". ")
            code = excerpt(answer.error_code, 40) if answer.error_code else None
            raise ServiceError(
                f"The service rejected the tracking extract: {detail}"
                + (f" (error {code})" if code not in (None, "0") else "")
                + "; check the parameters and that Tracking Extract is enabled for the account.",
                call="Extract", code=code,
            )
        if not request_id:
            raise MalformedReplyError(
                f"The Extract reply from {self.host} says OK but has no RequestID, so the request may have been "
                "recorded; check the service before submitting again.",
                call="Extract",
            )
        if not is_request_id(request_id):
            raise MalformedReplyError(
                f"The Extract reply from {self.host} gave '{shown(request_id)}' as its RequestID, which is not a GUID, "
                "so ettui did not record it; the request may have been recorded, so check the service before "
                "submitting again.",
                call="Extract",
            )
        file_name = next((value for name, value in body["_pairs"] if name == "OutputFileName"), None)
        if file_name:
            self._file_names[request_id] = file_name
        log.info("%s accepted the tracking extract as request %s", self.host, request_id)
        return SubmitResult(batch_id=request_id, request_doc=reply.request_doc, reply=reply.text)

    async def inquire(self, batch_id: str) -> Inquiry:
        """``Retrieve`` of ``AsyncActivityStatus`` where ``TaskID`` is the batch ID, following ``ContinueRequest``."""
        wanted = batch_id.strip()
        if not wanted or len(wanted) > 100 or any(ch.isspace() or not ch.isprintable() for ch in wanted):
            raise ValidationError(
                f"The request ID {batch_id!r} is not valid; use the RequestID the service gave at submission.",
                param="batch_id", call="Retrieve",
            )
        retrieve: dict[str, Any] = {
            "ObjectType": "AsyncActivityStatus",
            "Properties": list(STATUS_PROPERTIES),
            "Filter": self._filter_type(Property="TaskID", SimpleOperator="equals", Value=[wanted]),
        }
        rows: list[dict[str, str]] = []
        replies: list[str] = []
        for _page in range(MAX_PAGES):
            first = not replies
            reply = await self._exchange("Retrieve", {"RetrieveRequest": retrieve}, cache_key=wanted if first else None)
            replies.append(reply.text)
            overall, request_id, page = read_retrieve(reply.root)
            rows.extend(page)
            if overall.lower().startswith("error") or overall.lower() == "haserrors":
                raise ServiceError(
                    f"The service could not report the status of request {wanted}: {excerpt(self._scrub(overall))}; "
                    "ettui will ask again later.",
                    call="Retrieve",
                )
            if overall.lower() != "moredataavailable" or not request_id:
                break
            # spec §7.8: the next page is a new RetrieveRequest naming the previous RequestID.
            retrieve = {"ObjectType": "AsyncActivityStatus", "ContinueRequest": request_id}
        return self._inquiry(wanted, rows, "\n".join(replies))

    async def aclose(self) -> None:
        """Close the HTTP connections."""
        await self._transport.aclose()

    # -- building --------------------------------------------------------------

    def _extract_body(self, request: BatchRequest) -> dict[str, Any]:
        call, pairs = resolve(request.call, dict(request.params), today=self._today,
                              max_range_days=self.max_range_days)
        return {
            "Requests": [{
                "ID": call.extract_id,
                "Options": {},  # required by the schema (spec §7.5 schema note); empty is valid
                "Parameters": {"Parameter": [{"Name": name, "Value": value} for name, value in pairs]},
            }],
            "_pairs": pairs,
        }

    def _render(self, operation: str, body: dict[str, Any], headers: list[etree._Element] | None) -> etree._Element:
        kwargs = {key: value for key, value in body.items() if not key.startswith("_pairs")}
        try:
            envelope: etree._Element = self._client.create_message(
                self._client.service, operation, _soapheaders=headers, **kwargs
            )
        except (zeep.exceptions.Error, TypeError, ValueError, LookupError) as exc:
            # The WSDL in use lacks something ettui sends (e.g. a trimmed vendor file).
            raise ConfigError(
                f"The WSDL in use cannot build the {operation} request ({type(exc).__name__}: {str(exc)[:120]}); "
                "use the WSDL shipped with ettui or the vendor's full WSDL."
            ) from None
        return envelope

    def _redact(self, envelope: etree._Element) -> str:
        """The envelope as text with every credential element masked."""
        clean = copy.deepcopy(envelope)
        for element in clean.iter():
            if local_name(element) in _SECRET_TAGS:
                element.text = MASK
        return self._scrub(etree.tostring(clean, encoding="unicode"))

    def _scrub(self, text: str) -> str:
        """``text`` with the password, client secret and access token masked."""
        found: list[str] = []
        if isinstance(self.auth, UsernameToken):
            found.append(self.auth.password)
        if self._tokens is not None:
            found.extend(self._tokens.secrets)
        return mask_secrets(text, found)

    # -- the wire --------------------------------------------------------------

    def _message(self, operation: str, body: dict[str, Any], token: str | None,
                 cache_key: str | None) -> tuple[bytes, str]:
        """The envelope bytes to send and their redacted text, rendered once per (call, key, token).

        A poller asks about the same batch again and again and the envelope does
        not change (PasswordText UsernameToken has no nonce or timestamp; an OAuth
        token is part of the key). Rendering is most of the client's own cost.
        """
        key = (operation, cache_key, token) if cache_key is not None else None
        if key is not None and (hit := self._envelopes.get(key)) is not None:
            self._envelopes.move_to_end(key)
            return hit
        envelope = self._render(operation, body, [_fueloauth(token)] if token else None)
        rendered = (etree.tostring(envelope, xml_declaration=True, encoding="utf-8"), self._redact(envelope))
        if key is not None:
            self._envelopes[key] = rendered
            if len(self._envelopes) > _ENVELOPE_CACHE:
                self._envelopes.popitem(last=False)
        return rendered

    async def _exchange(self, operation: str, body: dict[str, Any], *, cache_key: str | None = None) -> _Reply:
        """Send one operation; replay it once with a fresh token when the token died.

        A token died when a fault says it expired, or when a Security fault
        (``Login Failed``) answers a token that had worked. HTTP 500 with a
        ``Server`` fault is throttling, as a bare 500 is.
        """
        for attempt in (1, 2):
            token = await self._tokens.token() if self._tokens is not None else None
            message, request_doc = self._message(operation, body, token, cache_key)
            response = await self._post(operation, message)
            text = self._scrub(response.content.decode("utf-8", errors="replace"))
            try:
                root = await asyncio.to_thread(parse_xml, response.content)  # never on the loop: a big reply takes a second
            except XmlRejected as exc:
                if response.status_code == 500:
                    raise self._throttled(operation) from None
                raise MalformedReplyError(
                    f"The {operation} reply from {self.host} could not be read because {exc.reason}; "
                    "check that soap_url is a Service.asmx URL, or try again later.",
                    call=operation,
                ) from None
            fault = _find_fault(root)
            if fault is not None:
                code, reason = fault
                kind = code.rsplit(":", 1)[-1].lower()
                # A token dies early when the service says it expired, or with a
                # Security fault ("Login Failed") on a token that had worked:
                # fetch a new one and replay once; a second fault is final.
                dead_token = _EXPIRED.search(reason) is not None or (kind in _SECURITY and token == self._worked_token)
                if token is not None and attempt == 1 and dead_token and self._tokens is not None:
                    log.info("%s refused the OAuth token (%s); fetching a new one and replaying %s",
                             self.host, clean(kind[:40]) or "fault", operation)
                    self._tokens.invalidate(token)
                    if self._worked_token == token:
                        self._worked_token = None
                    continue
                if response.status_code == 500 and kind in ("server", "receiver") \
                        and not _LOGIN_WORDS.search(reason):
                    raise self._throttled(operation, excerpt(self._scrub(reason)))
                raise self._fault_error(operation, excerpt(code, 80), excerpt(self._scrub(reason)))
            if response.status_code == 500:
                raise self._throttled(operation)
            if not 200 <= response.status_code < 300:
                cls = AuthError if response.status_code in (401, 403) else ServiceError
                raise cls(f"{self.host} answered HTTP {response.status_code} to {operation}; check soap_url and the account.",
                          call=operation, code=str(response.status_code),
                          maybe_sent=response.status_code in GATEWAY_UNSURE)
            if local_name(root) != "envelope" or _body_child(root) is None:
                raise MalformedReplyError(
                    f"The {operation} reply from {self.host} is not a SOAP envelope with a body; check soap_url.",
                    call=operation,
                )
            if token is not None:
                self._worked_token = token
            return _Reply(root, text, request_doc)
        raise AssertionError("unreachable: the second attempt returns or raises")

    async def _post(self, operation: str, message: bytes) -> Reply:
        """POST through the transport's bounded exchange (timeouts, request deadline, reply cap)."""
        headers = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": f'"{operation}"'}
        return await self._transport.send(self.url, message, headers, call=operation)

    def _throttled(self, operation: str, reason: str | None = None) -> ThrottledError:
        if reason is None:
            how = "HTTP 500 without a SOAP fault"
        else:
            text = clean(reason.strip().rstrip("."))[:200] or "no reason given"
            how = f"HTTP 500 with a server fault ({text})"
        return ThrottledError(
            f"{self.host} answered {operation} with {how}, which Marketing Cloud uses for throttling "
            "(the service is busy).",
            call=operation, code="500",
        )

    def _fault_error(self, operation: str, code: str, message: str) -> EttuiError:
        text = message.strip().rstrip(".") or "no reason given"
        if code.rsplit(":", 1)[-1].lower() in _SECURITY or _LOGIN_WORDS.search(text):
            who = (f"API user {self.auth.username!r}" if isinstance(self.auth, UsernameToken)
                   else f"OAuth client {self.auth.client_id!r}")
            return AuthError(f"The service refused the login of {who}: {text}; check the credentials in the profile.",
                             call=operation, code=code or None)
        return ServiceError(f"The service answered {operation} with a fault: {text}.", call=operation, code=code or None)

    # -- reading ---------------------------------------------------------------

    def _inquiry(self, batch_id: str, rows: list[dict[str, str]], reply: str) -> Inquiry:
        mine = [row for row in rows if row.get("TaskID", batch_id) == batch_id]
        if not mine:
            # spec §7.7 fallback: no status row; the file itself, in /Export, is the evidence.
            return Inquiry(
                batch_id=batch_id, status=JobStatus.UNKNOWN, status_raw="",
                message=(f"The service has no AsyncActivityStatus for request {batch_id}; "
                         "the extract's file will appear in the Export folder when it is done."),
                reply=reply,
            )
        statuses = [(JobStatus.parse(row.get("Status")), row) for row in mine]
        status, row = next(((s, r) for s, r in statuses if s is JobStatus.ERROR), statuses[-1])
        if status is JobStatus.COMPLETE and any(not s.terminal for s, _ in statuses):
            status, row = next((s, r) for s, r in statuses if not s.terminal)
        message = row.get("ErrorMsg") or None
        if message is None and status in (JobStatus.ERROR, JobStatus.UNKNOWN):
            message = row.get("StatusMessage") or None  # only informative when something is off
        file_name = self._file_names.get(batch_id) if status is JobStatus.COMPLETE else None
        if file_name is not None and (problem := file_name_problem(file_name)) is not None:
            refused = (f"The output file name '{shown(file_name)}' of request {batch_id} {problem}, so ettui will not "
                       "fetch it; download the file from the Export folder by hand.")
            return Inquiry(batch_id=batch_id, status=JobStatus.ERROR, status_raw=excerpt(row.get("Status", ""), 100),
                           message=refused, reply=reply, error=refused)
        return Inquiry(
            batch_id=batch_id,
            status=status,
            status_raw=excerpt(row.get("Status", ""), 100),
            file_name=file_name,
            message=excerpt(self._scrub(message)) if message else None,
            reply=reply,
        )


def build_client(
    wsdl: str | None,
    auth: UsernameToken | OAuth,
    *,
    limits: Limits | None = None,
    cache_dir: Path | None = None,
) -> tuple[zeep.AsyncClient, SoapTransport]:
    """Parse the WSDL and build the zeep client (blocking: run it in a thread)."""
    limits = limits or Limits()
    http = httpx.AsyncClient(timeout=limits.timeout, headers={"User-Agent": "ettui"})
    transport = SoapTransport(http, cache_dir=cache_dir, fetch_timeout=max(limits.connect_timeout, limits.read_timeout),
                              limits=limits)
    # Hardened: no DTDs, no entities; strict XSD reading. Schema imports stay allowed
    # (the vendor WSDL has one) because they only reach SoapTransport.load: a local
    # stub for the fault schema, else a fetch-once cache; never an ad-hoc download.
    settings = zeep.Settings(strict=True, forbid_dtd=True, forbid_entities=True, forbid_external=False,
                             xml_huge_tree=False)
    wsse = _ZeepUsernameToken(auth.username, auth.password) if isinstance(auth, UsernameToken) else None
    source = wsdl or str(PACKAGED_WSDL)
    try:
        client = zeep.AsyncClient(source, transport=transport, wsse=wsse, settings=settings)
    except EttuiError:
        raise
    except (OSError, zeep.exceptions.Error, etree.LxmlError, ValueError) as exc:
        raise ConfigError(f"The WSDL {source} could not be loaded ({type(exc).__name__}); check the profile's wsdl.") from None
    return client, transport


def _fueloauth(token: str) -> etree._Element:
    # lxml-stubs types nsmap keys as str; lxml takes None for the default namespace.
    element = etree.Element(f"{{{FUELOAUTH_NS}}}fueloauth", nsmap={None: FUELOAUTH_NS})  # type: ignore[dict-item]
    element.text = token
    return element


def _get(value: Any, name: str) -> Any:
    """A field of a zeep value (or dict), None when absent."""
    if value is None:
        return None
    if isinstance(value, dict):
        return value.get(name)
    try:
        return value[name]
    except (KeyError, TypeError, IndexError, AttributeError):
        return getattr(value, name, None)
