"""A reply under ``max_reply_bytes`` but made of millions of elements.

Before: a 12 MB XML API reply of three million empty elements took 54 s of CPU
*on the event loop* (every lookup walks all elements in Python, after a parse
that also ran on the loop): the TUI froze, and every asyncio deadline with it.
A SOAP reply of 200,000 results took 23 s the same way.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable
from datetime import date
from typing import Any

import pytest

from ettui.api.soap import SoapApi, UsernameToken
from ettui.api.xmlapi import XmlApi
from ettui.errors import MalformedReplyError
from tests.integration.hostile_http import HostileHttp

GUID = "3f1c2a9e-0000-4000-8000-00000000abcd"


def _xml(filler: int) -> bytes:
    return (b'<?xml version="1.0"?><exacttarget><system><batch><inquire><x>' + b"<y/>" * filler
            + b"</x><batchid>552210</batchid><status>Complete</status><filename>a.zip</filename>"
            b"</inquire></batch></system></exacttarget>")


def _soap(results: int) -> bytes:
    return (b'<?xml version="1.0"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
            b'<RetrieveResponseMsg xmlns="http://exacttarget.com/wsdl/partnerAPI"><OverallStatus>OK</OverallStatus>'
            + b"<Results><Status>Complete</Status></Results>" * results
            + b"</RetrieveResponseMsg></soap:Body></soap:Envelope>")


@pytest.fixture
async def peer() -> AsyncIterator[HostileHttp]:
    server = await HostileHttp().start()
    yield server
    await server.stop()


async def _worst_loop_lag(call: Awaitable[Any]) -> tuple[Any, float]:
    """(outcome of ``call`` or its exception, the longest the loop went without running a 10 ms ticker)."""
    worst = 0.0
    done = False

    async def tick() -> None:
        nonlocal worst
        while not done:
            started = time.monotonic()
            await asyncio.sleep(0.01)
            worst = max(worst, time.monotonic() - started - 0.01)

    ticker = asyncio.create_task(tick())
    try:
        outcome: Any = await asyncio.wait_for(call, 60)
    except Exception as exc:
        outcome = exc
    finally:
        done = True
        await ticker
    return outcome, worst


async def _xml_api(url: str) -> XmlApi:
    return XmlApi(url, "ops", "pw", connect_timeout=2.0, read_timeout=5.0)


async def _soap_api(url: str) -> SoapApi:
    return await SoapApi.create(url, auth=UsernameToken("ops", "pw"), today=lambda: date(2024, 6, 8),
                                connect_timeout=2.0, read_timeout=5.0)


async def test_an_xml_reply_of_millions_of_elements_is_refused_without_freezing_the_loop(peer: HostileHttp) -> None:
    peer.answer(_xml(3_000_000))  # 12 MB: under the 16 MiB default cap
    api = await _xml_api(peer.url)
    try:
        outcome, lag = await _worst_loop_lag(api.inquire("552210"))
    finally:
        await api.aclose()
    assert isinstance(outcome, MalformedReplyError), outcome
    assert "elements" in outcome.message
    assert lag < 0.5, f"the event loop stood still for {lag:.2f} s"


async def test_a_soap_reply_of_many_results_is_refused_without_freezing_the_loop(peer: HostileHttp) -> None:
    peer.answer(_soap(200_000))  # 8.8 MB
    api = await _soap_api(peer.url)
    try:
        outcome, lag = await _worst_loop_lag(api.inquire(GUID))
    finally:
        await api.aclose()
    assert isinstance(outcome, MalformedReplyError), outcome
    assert "elements" in outcome.message
    assert lag < 0.5, f"the event loop stood still for {lag:.2f} s"


async def test_an_ordinary_reply_padded_below_the_limit_is_still_read(peer: HostileHttp) -> None:
    peer.answer(_xml(5_000))
    api = await _xml_api(peer.url)
    try:
        inquiry = await api.inquire("552210")
    finally:
        await api.aclose()
    assert inquiry.status_raw == "Complete" and inquiry.file_name == "a.zip"
