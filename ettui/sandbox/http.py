"""The sandbox's HTTP server: one aiohttp application for every HTTP endpoint.

``build_app`` is the single place routes are installed: the XML API here, and
the SOAP API and its token endpoint through ``ettui.sandbox.soap.install``.

A middleware applies the HTTP fault knobs to every route: added latency, and a
share of bare HTTP 500 replies (the vendor's throttling signal, spec §6).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from aiohttp import web

from ettui.sandbox.faults import Faults
from ettui.sandbox.soap import install as install_soap
from ettui.sandbox.xmlapi import XmlApi

if TYPE_CHECKING:
    from ettui.sandbox import Sandbox

XML_API_PATH = "/integrate.aspx"

SANDBOX_KEY: web.AppKey[Sandbox] = web.AppKey("sandbox")
FAULTS_KEY: web.AppKey[Faults] = web.AppKey("faults", Faults)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def fault_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Latency and HTTP 500 knobs, before any handler runs."""
    faults = request.app[FAULTS_KEY]
    if faults.latency_seconds > 0:
        await asyncio.sleep(faults.latency_seconds)
    if faults.draw(faults.http_500_share):
        return web.Response(status=500, text="Internal Server Error (sandbox fault injection)")
    return await handler(request)


def build_app(sandbox: Sandbox) -> web.Application:
    """The aiohttp application serving the XML API, the SOAP API and its token endpoint."""
    app = web.Application(middlewares=[fault_middleware], client_max_size=16 * 1024 * 1024)
    app[SANDBOX_KEY] = sandbox
    app[FAULTS_KEY] = sandbox.faults
    xml_api = XmlApi(
        sandbox.queue,
        sandbox.faults,
        username=sandbox.options.api_username,
        password=sandbox.api_password,
        member_id=sandbox.options.member_id,
    )
    app.router.add_route("GET", XML_API_PATH, xml_api.handle)
    app.router.add_route("POST", XML_API_PATH, xml_api.handle)
    install_soap(app, sandbox)
    return app
