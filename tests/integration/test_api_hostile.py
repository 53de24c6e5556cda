"""Both API dialects against hostile peers: every wait bounded, every reply capped, every claimed value checked.

The peers are real servers on 127.0.0.1 (``hostile_http.HostileHttp`` and small
aiohttp apps): a slowloris that trickles one byte every 0.2 s, a flood that
never stops, and honest-looking replies carrying values a client must not
trust (a CR in a batch ID, ``../`` in a file name). Deadlines are set low and
the tests assert on the outcome and its sentence, never on elapsed time.
"""

from __future__ import annotations

import asyncio
import tracemalloc
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import date
from typing import Any

import pytest

from ettui.api.soap import OAuth, SoapApi, UsernameToken
from ettui.api.xmlapi import XmlApi
from ettui.errors import ApiConnectionError, EttuiError, MalformedReplyError
from ettui.model import BatchRequest, JobStatus
from tests.integration.hostile_http import HostileHttp

PASSWORD = "hostile-pw"
EXTRACT = BatchRequest("tracking-extract", {"StartDate": "6/1/2024", "EndDate": "6/8/2024", "OutputFileName": "t.zip"})
GUID = "3f1c2a9e-0000-4000-8000-00000000abcd"

Call = Callable[[Any], Awaitable[object]]


@pytest.fixture
async def peer() -> AsyncIterator[HostileHttp]:
    server = await HostileHttp().start()
    yield server
    await server.stop()


async def xml_api(url: str, **limits: Any) -> XmlApi:
    return XmlApi(url, "ops", PASSWORD, **{"connect_timeout": 2.0, "read_timeout": 5.0, **limits})


async def soap_api(url: str, **limits: Any) -> SoapApi:
    return await SoapApi.create(url, auth=UsernameToken("ops", PASSWORD), today=lambda: date(2024, 6, 8),
                                **{"connect_timeout": 2.0, "read_timeout": 5.0, **limits})


CASES: list[tuple[str, Callable[..., Awaitable[Any]], Call]] = [
    ("xml-submit", xml_api, lambda api: api.submit(BatchRequest("C3"))),
    ("xml-inquire", xml_api, lambda api: api.inquire("552210")),
    ("soap-submit", soap_api, lambda api: api.submit(EXTRACT)),
    ("soap-inquire", soap_api, lambda api: api.inquire(GUID)),
]


async def failure(make: Callable[..., Awaitable[Any]], url: str, call: Call, **limits: Any) -> EttuiError:
    api = await make(url, **limits)
    try:
        # A guard against a hang only; the deadline under test is far shorter.
        with pytest.raises(EttuiError) as caught:
            await asyncio.wait_for(call(api), 30)
    finally:
        await api.aclose()
    return caught.value


# -- item 3: every wait is bounded --------------------------------------------------


@pytest.mark.parametrize(("name", "make", "call"), CASES, ids=[c[0] for c in CASES])
async def test_slowloris_ends_at_the_request_deadline(peer: HostileHttp, name: str,
                                                      make: Callable[..., Awaitable[Any]], call: Call) -> None:
    """One byte every 0.2 s never trips the 5 s read timeout; the 1 s deadline ends the exchange."""
    error = await failure(make, peer.url, call, request_deadline=1.0)
    assert type(error) is ApiConnectionError and error.exit_code == 5
    assert "within the request deadline of 1 s" in error.message and "request_deadline" in error.message
    assert error.message.count(". ") == 0 and "\n" not in error.message, "one sentence"
    assert error.maybe_sent, "the request went out: the service may have it"
    assert peer.sent_bytes > 0, "the peer really was trickling a reply"
    await asyncio.wait_for(peer.closed.wait(), 5)


async def test_slowloris_token_endpoint_ends_at_the_deadline(peer: HostileHttp) -> None:
    api = await SoapApi.create(peer.url, auth=OAuth(peer.url, "cid", "secret-xyz"), read_timeout=5.0,
                               request_deadline=1.0)
    try:
        with pytest.raises(ApiConnectionError, match="within the request deadline of 1 s") as caught:
            await asyncio.wait_for(api.inquire(GUID), 30)
    finally:
        await api.aclose()
    assert caught.value.call == "token" and "secret-xyz" not in caught.value.message


@pytest.mark.parametrize("mode", ["flood", "flood-declared"])
@pytest.mark.parametrize(("name", "make", "call"), CASES, ids=[c[0] for c in CASES])
async def test_oversized_reply_is_refused_and_the_connection_closed(
    peer: HostileHttp, mode: str, name: str, make: Callable[..., Awaitable[Any]], call: Call
) -> None:
    peer.mode = mode
    error = await failure(make, peer.url, call, max_reply_bytes=256 * 1024, request_deadline=20.0)
    assert type(error) is MalformedReplyError
    assert "larger than max_reply_bytes (256 KiB)" in error.message
    await asyncio.wait_for(peer.closed.wait(), 5)
    assert peer.sent_bytes < 200_000_000, "the client stopped reading long before the peer ran out"


async def test_a_flood_of_a_gigabyte_is_refused_with_bounded_memory(peer: HostileHttp) -> None:
    peer.mode = "flood"  # no length: up to 1 GB streamed until the client hangs up, so the cap is met while reading
    tracemalloc.start()
    try:
        error = await failure(xml_api, peer.url, CASES[1][2], max_reply_bytes=1024 * 1024)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert type(error) is MalformedReplyError and "larger than max_reply_bytes (1 MiB)" in error.message
    assert peak < 32 * 1024 * 1024, f"peak {peak} bytes while refusing a 1 GB reply"
    assert peer.sent_bytes > 1024 * 1024, "the cap was reached while streaming, not from a header"


async def test_a_deadline_before_the_request_went_out_says_it_was_not_sent() -> None:
    """A TLS peer that never answers the handshake: the deadline ends it before anything was sent."""
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # until the client hangs up
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        error = await failure(xml_api, f"https://127.0.0.1:{port}/integrate.aspx", CASES[0][2],
                              connect_timeout=10.0, request_deadline=0.5)
    finally:
        server.close()
        await server.wait_closed()
    assert type(error) is ApiConnectionError and not error.maybe_sent
    assert error.message.startswith(f"Could not reach 127.0.0.1:{port} within the request deadline of 0.5 s")


async def test_a_reply_under_the_cap_is_read_whole(peer: HostileHttp) -> None:
    body = b"<exacttarget><system><x><info>" + b"y" * 100_000 + b"</info><batchID>552210</batchID></x></system></exacttarget>"
    peer.answer(body)
    api = await xml_api(peer.url, max_reply_bytes=len(body))
    try:
        assert (await api.submit(BatchRequest("C3"))).batch_id == "552210"
    finally:
        await api.aclose()


# -- item 4: may the request have reached the service? ------------------------------


async def test_refused_connection_was_certainly_not_sent(peer: HostileHttp) -> None:
    url = peer.url
    await peer.stop()
    for make, call in ((xml_api, CASES[0][2]), (soap_api, CASES[2][2])):
        error = await failure(make, url, call)
        assert type(error) is ApiConnectionError and not error.maybe_sent


async def test_throttled_and_rejected_submits_were_not_accepted(peer: HostileHttp) -> None:
    peer.answer(b"busy", status=500)
    error = await failure(xml_api, peer.url, CASES[0][2])
    assert error.title == "Service busy" and not error.maybe_sent
    peer.answer(b"<exacttarget><system><error>14</error><error_description>No</error_description></system></exacttarget>")
    error = await failure(xml_api, peer.url, CASES[0][2])
    assert error.title == "Service error" and not error.maybe_sent


@pytest.mark.parametrize(("status", "maybe_sent"), [(404, False), (401, False), (502, True), (504, True)])
@pytest.mark.parametrize(("name", "make", "call"), [CASES[0], CASES[2]], ids=["xml", "soap"])
async def test_a_gateway_failure_may_have_passed_the_request_on(
    peer: HostileHttp, status: int, maybe_sent: bool, name: str, make: Callable[..., Awaitable[Any]], call: Call
) -> None:
    peer.answer(b"<html>gateway</html>", status=status)
    error = await failure(make, peer.url, call)
    assert f"HTTP {status}" in error.message and error.maybe_sent is maybe_sent


# -- item 1: values a reply claims are checked --------------------------------------


@pytest.mark.parametrize("batch_id", ["55&#13;2210", "552210&#13;Complete", "abc", "-1", "1" * 20, "../5", "٥٥٢"])
async def test_xml_submit_refuses_a_batch_id_that_is_not_digits(peer: HostileHttp, batch_id: str) -> None:
    peer.answer(f"<exacttarget><system><x><batchID>{batch_id}</batchID></x></system></exacttarget>".encode())
    error = await failure(xml_api, peer.url, CASES[0][2])
    assert type(error) is MalformedReplyError and error.maybe_sent
    assert "did not record it" in error.message
    assert "\r" not in error.message and ("\\r" in error.message or "&#13;" not in batch_id)


@pytest.mark.parametrize(
    "file_name",
    ["../../../../etc/hostname", "/etc/hostname", "a\\b.zip", "x&#13;y.zip", "x&#x9b;31m.zip", 'x"y.zip', "a:b.zip",
     "a*b.zip", "a?b.zip", "a|b.zip", "&lt;b&gt;.zip", "..", "x\u202ey.zip"],
)
async def test_xml_inquire_refuses_a_file_name_that_is_not_bare(peer: HostileHttp, file_name: str) -> None:
    peer.answer(f"<exacttarget><system><Batch><batchid>552210</batchid><status>Complete</status>"
                f"<filename>{file_name}</filename></Batch></system></exacttarget>".encode())
    api = await xml_api(peer.url)
    try:
        inquiry = await api.inquire("552210")
    finally:
        await api.aclose()
    assert inquiry.file_name is None, "nothing is fetched"
    assert inquiry.status is JobStatus.ERROR and inquiry.status_raw == "Complete"
    assert inquiry.error is not None and inquiry.message == inquiry.error
    assert "will not fetch it" in inquiry.error
    assert all(ch.isprintable() for ch in inquiry.error), "the value is named made safe"


async def test_xml_inquire_keeps_a_bare_vendor_file_name(peer: HostileHttp) -> None:
    name = "bulkasync_1234567_20120315093012345_1.zip"
    peer.answer(f"<exacttarget><system><Batch><batchid>552210</batchid><status>Complete</status>"
                f"<filename>{name}</filename></Batch></system></exacttarget>".encode())
    api = await xml_api(peer.url)
    try:
        inquiry = await api.inquire("552210")
    finally:
        await api.aclose()
    assert (inquiry.status, inquiry.file_name, inquiry.error) == (JobStatus.COMPLETE, name, None)


@pytest.mark.parametrize("request_id", ["req-1", GUID[:8] + "&#13;" + GUID[8:], GUID[:-1], "{" + GUID + "}", "../" + GUID])
async def test_soap_submit_refuses_a_request_id_that_is_not_a_guid(peer: HostileHttp, request_id: str) -> None:
    peer.answer(('<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
                 '<ExtractResponseMsg xmlns="http://exacttarget.com/wsdl/partnerAPI"><OverallStatus>OK</OverallStatus>'
                 f"<RequestID>{request_id}</RequestID></ExtractResponseMsg></soap:Body></soap:Envelope>").encode())
    error = await failure(soap_api, peer.url, CASES[2][2])
    assert type(error) is MalformedReplyError and error.maybe_sent and "not a GUID" in error.message
    assert "\r" not in error.message


async def test_soap_inquire_refuses_a_remembered_file_name_that_is_not_bare(peer: HostileHttp) -> None:
    peer.answer(('<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
                 '<RetrieveResponseMsg xmlns="http://exacttarget.com/wsdl/partnerAPI"><OverallStatus>OK</OverallStatus>'
                 "<Results><Properties><Property><Name>TaskID</Name><Value>" + GUID + "</Value></Property>"
                 "<Property><Name>Status</Name><Value>Complete</Value></Property></Properties></Results>"
                 "</RetrieveResponseMsg></soap:Body></soap:Envelope>").encode())
    api = await soap_api(peer.url)
    api.remember_file_name(GUID, "../../etc/hostname")
    try:
        inquiry = await api.inquire(GUID)
    finally:
        await api.aclose()
    assert inquiry.file_name is None and inquiry.status is JobStatus.ERROR
    assert inquiry.error is not None and "path separator" in inquiry.error
