"""Reply text quoted in sentences, and a token endpoint's JSON, from hostile peers on 127.0.0.1.

Before: an ``<error>`` / ``error_description`` or a SOAP ``faultstring`` of
5 MB became a 5 MB "one sentence" (printed, stored as the job's error, shown
in a toast); a token reply of ``[[[[...`` escaped the error family as a
``RecursionError``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date

import pytest

from ettui.api.soap import OAuth, SoapApi, UsernameToken
from ettui.api.xmlapi import XmlApi
from ettui.errors import EttuiError
from ettui.model import BatchRequest
from tests.integration.hostile_http import HostileHttp

GUID = "3f1c2a9e-0000-4000-8000-00000000abcd"
BIG = "E" * 2_000_000


@pytest.fixture
async def peer() -> AsyncIterator[HostileHttp]:
    server = await HostileHttp().start()
    yield server
    await server.stop()


async def test_an_xml_error_of_megabytes_is_quoted_as_an_excerpt(peer: HostileHttp) -> None:
    peer.answer(f'<?xml version="1.0"?><exacttarget><system><batch><inquire><error>{BIG}</error>'
                f"<error_description>{BIG}</error_description></inquire></batch></system></exacttarget>".encode())
    api = XmlApi(peer.url, "ops", "pw", connect_timeout=2.0, read_timeout=5.0)
    try:
        with pytest.raises(EttuiError) as info:
            await api.submit(BatchRequest("C3"))
    finally:
        await api.aclose()
    assert "EEEE" in info.value.message and len(info.value.message) < 2_000


async def test_a_soap_fault_of_megabytes_is_quoted_as_an_excerpt(peer: HostileHttp) -> None:
    peer.answer(('<?xml version="1.0"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">'
                 f"<soap:Body><soap:Fault><faultcode>soap:Client{BIG}</faultcode><faultstring>{BIG}</faultstring>"
                 "</soap:Fault></soap:Body></soap:Envelope>").encode(), 500)
    api = await SoapApi.create(peer.url, auth=UsernameToken("ops", "pw"), today=lambda: date(2024, 6, 8),
                               connect_timeout=2.0, read_timeout=5.0)
    try:
        with pytest.raises(EttuiError) as info:
            await api.inquire(GUID)
    finally:
        await api.aclose()
    assert "EEEE" in info.value.message and len(info.value.message) < 2_000


@pytest.mark.parametrize("status", [200, 400])
async def test_a_token_reply_of_deeply_nested_json_is_an_ettui_error(peer: HostileHttp, status: int) -> None:
    peer.answer(b"[" * 100_000, status)
    api = await SoapApi.create(peer.url, auth=OAuth(peer.url, "cid", "secret-xyz"), today=lambda: date(2024, 6, 8),
                               connect_timeout=2.0, read_timeout=5.0)
    try:
        with pytest.raises(EttuiError):
            await api.inquire(GUID)
    finally:
        await api.aclose()
