"""A small HTTP proxy on 127.0.0.1 in front of the sandbox that misbehaves on submits.

The sandbox behind it is the real service: a submit the proxy forwards is
queued there. The proxy can refuse the first N submits with HTTP 500
(throttling, before forwarding), or hold the reply of a forwarded submit
(the client times out, or is killed, after the service queued the batch).
Inquiries and everything else pass straight through.
"""

from __future__ import annotations

import asyncio
from types import TracebackType
from urllib.parse import parse_qs

import httpx
from aiohttp import web

SOAP_SERVER_FAULT = (
    b'<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">'
    b"<soap:Body><soap:Fault><faultcode>soap:Server</faultcode><faultstring>Server busy</faultstring>"
    b"</soap:Fault></soap:Body></soap:Envelope>"
)


class FaultProxy:
    """Forward to ``upstream`` (``http://127.0.0.1:PORT``); misbehave on submits as told."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.throttle_submits = 0
        """Answer this many submits with HTTP 500 without forwarding them."""
        self.soap_fault = False
        """Throttle with a soap:Server fault body instead of an empty 500."""
        self.hold_replies = False
        """Forward submits, then keep their replies until ``release`` is set."""
        self.release = asyncio.Event()
        self.throttled = 0
        self.forwarded_submits = 0
        """Submits the service behind the proxy received (and queued)."""
        self.forwarded = asyncio.Event()
        """Set each time a submit has been forwarded and answered upstream."""
        self.replied = asyncio.Event()
        """Set each time a submit's reply has been handed back to the client."""
        self._client = httpx.AsyncClient(timeout=30)
        self._runner: web.AppRunner | None = None
        self.base = ""

    async def __aenter__(self) -> FaultProxy:
        app = web.Application()
        app.router.add_route("POST", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release.set()
        assert self._runner is not None
        await self._runner.cleanup()
        await self._client.aclose()

    def url(self, upstream_url: str) -> str:
        """``upstream_url`` (a sandbox URL) as reached through this proxy."""
        assert upstream_url.startswith(self.upstream)
        return self.base + upstream_url[len(self.upstream):]

    @staticmethod
    def _is_submit(request: web.Request, body: bytes) -> bool:
        action = request.headers.get("SOAPAction", "")
        if action:
            return "Extract" in action
        document = "".join(parse_qs(body.decode("utf-8", "replace")).get("xml", [""])).lower()
        return "<action>inquire</action>" not in document

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        submit = self._is_submit(request, body)
        if submit and self.throttle_submits > 0:
            self.throttle_submits -= 1
            self.throttled += 1
            if self.soap_fault:
                return web.Response(status=500, body=SOAP_SERVER_FAULT, content_type="text/xml")
            return web.Response(status=500, text="")
        headers = {k: v for k, v in request.headers.items() if k.lower() in ("content-type", "soapaction", "authorization")}
        answer = await self._client.post(self.upstream + request.path_qs, content=body, headers=headers)
        if submit:
            self.forwarded_submits += 1
            self.forwarded.set()
            if self.hold_replies:
                await self.release.wait()
        response = web.Response(status=answer.status_code, body=answer.content)
        response.headers["Content-Type"] = answer.headers.get("content-type", "text/xml")
        if submit:
            self.replied.set()
        return response
