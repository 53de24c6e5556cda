"""The sandbox's HTTP server: one aiohttp application for every HTTP endpoint.

``build_app`` is the single place routes are installed: the XML API here, and
any extra route set a sibling module offers through an ``install(app,
sandbox)`` function (today ``ettui.sandbox.soap`` for ``/Service.asmx``), so
new endpoints plug in without editing this file's callers.

A middleware applies the HTTP fault knobs to every route: added latency, and a
share of bare HTTP 500 replies (the vendor's throttling signal, spec §6).
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from aiohttp import web

from ettui.sandbox.faults import Faults
from ettui.sandbox.xmlapi import XmlApi

if TYPE_CHECKING:
    from ettui.sandbox import Sandbox

XML_API_PATH = "/integrate.aspx"
SOAP_PATH = "/Service.asmx"
EXTENSIONS = ("ettui.sandbox.soap",)
"""Modules whose ``install(app, sandbox)`` adds routes, when they exist."""

SANDBOX_KEY: web.AppKey["Sandbox"] = web.AppKey("sandbox")
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


def build_app(sandbox: "Sandbox") -> web.Application:
    """The aiohttp application serving the XML API and every installed extension."""
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
    install_extensions(app, sandbox)
    return app


def install_extensions(app: web.Application, sandbox: "Sandbox") -> list[str]:
    """Call ``install(app, sandbox)`` of each extension module that exists; return their names."""
    installed: list[str] = []
    for name in EXTENSIONS:
        try:
            found = importlib.util.find_spec(name)
        except (ModuleNotFoundError, ValueError):
            found = None
        if found is None:
            continue
        module = importlib.import_module(name)
        install = getattr(module, "install", None)
        if callable(install):
            install(app, sandbox)
            installed.append(name)
    return installed
