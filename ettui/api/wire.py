"""One bounded HTTP exchange for every API call, and one sentence for each way it fails.

Both dialects and the OAuth token call post through :func:`post`, so the
limits are written once:

* ``connect_timeout`` and ``read_timeout`` (per read) as httpx timeouts;
* ``request_deadline`` for the whole exchange -- connect, send and the
  complete reply -- so a peer trickling one byte at a time cannot hold a call
  open for longer;
* ``max_reply_bytes``: the reply is read as a stream and refused (the
  connection closed) as soon as it passes the cap, so memory stays bounded
  whatever the peer sends.

Every failure leaves as ``ApiConnectionError`` (or ``MalformedReplyError`` for
an oversized reply) whose ``maybe_sent`` says whether the request may have
reached the service: the phase is followed with httpcore's ``trace``
extension, so a deadline hit while connecting is told from one hit while the
reply trickles in. No httpx exception is ever chained (it holds the request,
and so the credentials).
"""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from ettui.errors import ApiConnectionError, EttuiError, MalformedReplyError

__all__ = ["GATEWAY_UNSURE", "Limits", "Peer", "Reply", "host_of", "post"]

_MIB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """How long an exchange may take and how much of a reply is read."""

    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    """Seconds without a byte while sending or reading."""
    request_deadline: float = 90.0
    """Seconds for the whole exchange: connect, send and the complete reply."""
    max_reply_bytes: int = 16 * _MIB

    @property
    def timeout(self) -> httpx.Timeout:
        return httpx.Timeout(
            connect=self.connect_timeout, read=self.read_timeout, write=self.read_timeout, pool=self.connect_timeout
        )


@dataclass(frozen=True)
class Peer:
    """The other end, in the words of the messages."""

    host: str
    """Host (and explicit port), never the URL's path or query."""
    setting: str
    """What the user checks to fix the address, e.g. ``the endpoint URL`` or ``soap_url``."""


@dataclass(frozen=True)
class Reply:
    """A complete reply, read within the limits."""

    status_code: int
    reason_phrase: str
    content: bytes
    content_type: str = ""

    @property
    def is_success(self) -> bool:
        return 200 <= self.status_code < 300

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body as JSON; ``ValueError`` when it is not."""
        return json.loads(self.content)


GATEWAY_UNSURE = frozenset({502, 504})
"""HTTP statuses from a gateway that may have passed the request on before failing:
a submit answered so may still have been recorded (``maybe_sent``)."""


def host_of(url: str, fallback: str = "the service") -> str:
    """``host`` or ``host:port`` of ``url`` for messages."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError):
        return fallback
    if not parsed.host:
        return fallback
    return parsed.host if parsed.port is None else f"{parsed.host}:{parsed.port}"


class _Phase:
    """How far an exchange got, from httpcore's trace events."""

    def __init__(self) -> None:
        self.sent = False
        """The request headers started to go out: the service may have the request."""
        self.answered = False
        """The reply's status line and headers arrived."""

    async def trace(self, name: str, info: Mapping[str, Any]) -> None:
        if ".send_request_headers." in name:
            self.sent = True
        elif name.endswith(".receive_response_headers.complete"):
            self.answered = True


async def post(
    client: httpx.AsyncClient,
    url: str,
    *,
    content: bytes,
    headers: Mapping[str, str],
    limits: Limits,
    peer: Peer,
    call: str,
) -> Reply:
    """POST ``content`` and read the whole reply within ``limits``, or raise the error family.

    Raises:
        ApiConnectionError: connect, TLS, timeout, deadline or a broken connection;
            ``maybe_sent`` tells whether the request may have reached the service.
        MalformedReplyError: the reply is longer than ``max_reply_bytes`` (the
            connection is closed without reading the rest).
    """
    phase = _Phase()
    error: EttuiError | None = None
    try:
        async with asyncio.timeout(limits.request_deadline):
            async with client.stream(
                "POST", url, content=content, headers=dict(headers), timeout=limits.timeout,
                extensions={"trace": phase.trace},
            ) as response:
                body = await _read_capped(response, limits.max_reply_bytes)
                if body is None:
                    error = _too_big(peer, call, limits.max_reply_bytes)
                else:
                    return Reply(response.status_code, response.reason_phrase, body,
                                 response.headers.get("content-type", ""))
    except TimeoutError:
        error = _deadline(peer, call, limits, phase)
    except httpx.HTTPError as exc:
        error = _failure(exc, peer, call, limits, phase)
    # Raised outside the except blocks so no httpx exception (which holds the
    # request, and so the password or token) is chained as __context__.
    assert error is not None
    raise error


async def _read_capped(response: httpx.Response, cap: int) -> bytes | None:
    """The body, or None as soon as it is known to exceed ``cap`` bytes (decoded)."""
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > cap:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > cap:
            return None  # leaving the stream unread closes the connection
        chunks.append(chunk)
    return b"".join(chunks)


def _size(count: int) -> str:
    if count >= _MIB and count % _MIB == 0:
        return f"{count // _MIB} MiB"
    if count >= 1024 and count % 1024 == 0:
        return f"{count // 1024} KiB"
    return f"{count} bytes"


def _too_big(peer: Peer, call: str, cap: int) -> EttuiError:
    return MalformedReplyError(
        f"The reply from {peer.host} to {call} is larger than max_reply_bytes ({_size(cap)}), so ettui stopped "
        f"reading it; check {peer.setting}, or raise max_reply_bytes if such replies are expected.",
        call=call,
    )


def _deadline(peer: Peer, call: str, limits: Limits, phase: _Phase) -> EttuiError:
    seconds = f"{limits.request_deadline:g} s"
    if not phase.sent:
        message = (
            f"Could not reach {peer.host} within the request deadline of {seconds}; check {peer.setting} and your "
            "network (or raise request_deadline), then try again."
        )
    else:
        message = (
            f"{peer.host} did not finish its {call} reply within the request deadline of {seconds}; the service may "
            "be stalling, so try again later (or raise request_deadline)."
        )
    return ApiConnectionError(message, call=call, maybe_sent=phase.sent)


def _failure(exc: httpx.HTTPError, peer: Peer, call: str, limits: Limits, phase: _Phase) -> EttuiError:
    """The one sentence for an httpx failure, with whether the request may have been sent."""
    host = peer.host
    sent = phase.sent
    if isinstance(exc, httpx.ConnectTimeout):
        sent = False
        message = (
            f"Could not connect to {host} within {limits.connect_timeout:g} s; check {peer.setting} and "
            "your network (or raise connect_timeout) and try again."
        )
    elif isinstance(exc, httpx.PoolTimeout):
        sent = False
        message = f"No connection to {host} came free within {limits.connect_timeout:g} s; try again later."
    elif isinstance(exc, httpx.ReadTimeout):
        if phase.answered:
            message = (
                f"{host} stopped sending its reply for more than {limits.read_timeout:g} s; the service may be "
                "busy, so try again later (or raise read_timeout)."
            )
        else:
            message = (
                f"{host} took the request but sent no reply within {limits.read_timeout:g} s; the service may be "
                "busy, so try again later (or raise read_timeout)."
            )
    elif isinstance(exc, httpx.TimeoutException):
        message = f"The connection to {host} timed out while sending the request; check your network and try again."
    elif isinstance(exc, httpx.ConnectError):
        sent = False
        message = _connect_failure(exc, peer)
    elif isinstance(exc, (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)):
        message = f"{host} closed the connection before answering; try again later."
    else:
        message = f"Could not talk to {host} ({type(exc).__name__}); check {peer.setting} and your network."
    return ApiConnectionError(message, call=call, maybe_sent=sent)


def _connect_failure(exc: httpx.ConnectError, peer: Peer) -> str:
    """Name what went wrong while connecting: TLS, refusal, DNS or something else."""
    host = peer.host
    causes = list(_chain(exc))
    text = " ".join(str(c) for c in causes).lower()
    ssl_error = next((c for c in causes if isinstance(c, ssl.SSLError)), None)
    if ssl_error is not None or "ssl" in text or "certificate" in text or "tls" in text:
        reason = getattr(ssl_error, "reason", None) or "TLS error"
        return (
            f"The secure (TLS) connection to {host} failed ({reason}); check that {peer.setting} uses the "
            "right scheme and port and that the system trusts the server's certificate."
        )
    if any(isinstance(c, ConnectionRefusedError) for c in causes) or "refused" in text \
            or "all connection attempts failed" in text:
        return f"{host} refused the connection; check {peer.setting} and port, and that the service is running."
    if "name or service not known" in text or "nodename nor servname" in text or "getaddrinfo" in text:
        return f"The host name in {peer.setting} ({host}) could not be resolved; check the URL and your DNS."
    return f"Could not connect to {host}; check {peer.setting} and your network, then try again."


def _chain(exc: BaseException) -> Iterable[BaseException]:
    """``exc`` and its causes/contexts, without looping."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__
