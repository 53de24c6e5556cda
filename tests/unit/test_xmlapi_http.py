"""The XML API over real sockets: encoding, reply parsing and error mapping.

A small aiohttp server on 127.0.0.1 port 0 records each form post and answers
with canned bodies (the spec's samples and their case variants), so these tests
pin down exactly what goes on the wire and how every reply is read. The full
job lifecycle runs against the sandbox in ``tests/integration``.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import traceback
import urllib.parse
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
import pytest
from aiohttp import web
from lxml import etree

from ettui.api.xmlapi import MASK, XmlApi
from ettui.errors import (
    ApiConnectionError,
    AuthError,
    EttuiError,
    MalformedReplyError,
    ServiceError,
    ThrottledError,
    ValidationError,
)
from ettui.model import BatchRequest, JobStatus

PASSWORD = "Sw0rd+fish&k=y é<x>"
USERNAME = "ops+batch@example.com"

SUBMITTED = """<?xml version="1.0"?>
<exacttarget>
  <system>
    <subscriber>
      <info>Your request has been recorded</info>
      <batchID>552210</batchID>
    </subscriber>
  </system>
</exacttarget>"""

INQUIRED = """<?xml version="1.0"?>
<exacttarget>
  <system>
    <Batch>
      <batchid>552210</batchid>
      <status>Complete</status>
      <filename>bulkasync_1234567_20120315093012345_1.zip</filename>
    </Batch>
  </system>
</exacttarget>"""

ERROR_14 = """<?xml version="1.0"?>
<exacttarget>
  <system>
    <subscriber>
      <error>14</error>
      <error_description>The subscriber already exists in the list</error_description>
    </subscriber>
  </system>
</exacttarget>"""


@dataclass
class Canned:
    """Records posted forms and answers with queued (status, body) pairs."""

    url: str = ""
    replies: deque[tuple[int, str]] = field(default_factory=deque)
    forms: list[dict[str, str]] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)

    def answer(self, body: str, status: int = 200) -> None:
        self.replies.append((status, body))

    async def handle(self, request: web.Request) -> web.Response:
        self.bodies.append(await request.read())
        form = await request.post()  # aiohttp's own form decoder, as a server would use
        self.forms.append({key: str(value) for key, value in form.items()})
        status, body = self.replies.popleft() if self.replies else (200, SUBMITTED)
        return web.Response(status=status, body=body.encode("utf-8"), content_type="text/xml")

    @property
    def document(self) -> etree._Element:
        return etree.fromstring(self.forms[-1]["xml"].encode("utf-8"))


@pytest.fixture
async def canned() -> AsyncIterator[Canned]:
    state = Canned()
    app = web.Application()
    app.router.add_post("/integrate.aspx", state.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    state.url = f"http://{host}:{port}/integrate.aspx"
    yield state
    await runner.cleanup()


@pytest.fixture
async def api(canned: Canned) -> AsyncIterator[XmlApi]:
    client = XmlApi(canned.url, USERNAME, PASSWORD, connect_timeout=2.0, read_timeout=2.0)
    yield client
    await client.aclose()


def assert_no_secret(error: BaseException) -> None:
    """Neither the message, the repr, the args nor the printed traceback holds the password."""
    text = "".join(traceback.format_exception(error)) + repr(error) + repr(error.args)
    for spelling in (PASSWORD, urllib.parse.quote(PASSWORD, safe=""), "Sw0rd"):
        assert spelling not in text
    assert error.__cause__ is None


# -- what goes on the wire --------------------------------------------------------


async def test_form_post_round_trips_reserved_and_non_ascii(api: XmlApi, canned: Canned) -> None:
    status = "a+b&c=d %26 é✓"
    result = await api.submit(BatchRequest("C8", {"list_id": "40017", "search_status": status}))
    assert set(canned.forms[-1]) == {"qf", "xml"}
    assert canned.forms[-1]["qf"] == "xml"
    sent = canned.document
    assert sent.findtext("authorization/username") == USERNAME
    assert sent.findtext("authorization/password") == PASSWORD
    assert sent.findtext("system/search_status") == status
    # Fully percent-encoded: no raw '+' (a decoder would read it as a space), one '&' and two '='.
    body = canned.bodies[-1]
    assert body.startswith(b"qf=xml&xml=%3C%3Fxml")
    assert b"+" not in body and body.count(b"&") == 1 and body.count(b"=") == 2
    assert urllib.parse.parse_qs(body.decode("ascii"), strict_parsing=True)["xml"] == [canned.forms[-1]["xml"]]
    # What was sent is the returned document with only the password swapped in.
    assert canned.forms[-1]["xml"] == result.request_doc.replace(MASK, "Sw0rd+fish&amp;k=y é&lt;x&gt;")


async def test_submit_returns_batch_id_redacted_document_and_raw_reply(api: XmlApi, canned: Canned) -> None:
    request = BatchRequest("C3", {"list_id": "40017"})
    result = await api.submit(request)
    assert result.batch_id == "552210"
    assert result.request_doc == api.preview(request)
    assert MASK in result.request_doc and "Sw0rd" not in result.request_doc
    assert result.reply == SUBMITTED
    assert canned.document.findtext("system/sub_action") == "SubsStatus_ToFTP"


@pytest.mark.parametrize(
    "reply",
    [
        SUBMITTED,
        SUBMITTED.replace("batchID", "batchid"),
        SUBMITTED.replace("batchID", "BATCHID").replace("subscriber", "Tracking"),
        '<exacttarget xmlns="urn:x"><system><tracking><batchId> 552210 </batchId></tracking></system></exacttarget>',
        "<EXACTTARGET><BatchID>552210</BatchID></EXACTTARGET>",
    ],
)
async def test_batch_id_is_found_in_any_case(api: XmlApi, canned: Canned, reply: str) -> None:
    canned.answer(reply)
    result = await api.submit(BatchRequest("C1", {"start_date": "3/1/2012", "end_date": "3/7/2012"}))
    assert result.batch_id == "552210"


async def test_inquire_sends_batch_inquire_and_reads_the_spec_sample(api: XmlApi, canned: Canned) -> None:
    canned.answer(INQUIRED)
    inquiry = await api.inquire(" 552210 ")
    system = canned.document.find("system")
    assert [(e.tag, e.text) for e in system] == [  # type: ignore[union-attr]
        ("system_name", "batch"), ("action", "inquire"), ("search_type", "batchid"), ("search_value", "552210"),
    ]
    assert inquiry.batch_id == "552210"
    assert inquiry.status is JobStatus.COMPLETE and inquiry.status_raw == "Complete"
    assert inquiry.file_name == "bulkasync_1234567_20120315093012345_1.zip"
    assert inquiry.reply == INQUIRED


@pytest.mark.parametrize(
    ("reply", "status", "raw", "file_name"),
    [
        (INQUIRED.replace("Batch>", "batch>").replace("batchid", "batchID"), JobStatus.COMPLETE, "Complete",
         "bulkasync_1234567_20120315093012345_1.zip"),
        ("<exacttarget><system><BATCH><BatchID>552210</BatchID><Status>Completed</Status>"
         "<FileName>x.zip</FileName></BATCH></system></exacttarget>", JobStatus.COMPLETE, "Completed", "x.zip"),
        ("<exacttarget><system><batch><status>scheduled</status><filename/></batch></system></exacttarget>",
         JobStatus.SCHEDULED, "scheduled", None),
        ("<exacttarget><system><batch><status> Processing </status></batch></system></exacttarget>",
         JobStatus.PROCESSING, "Processing", None),
        ("<exacttarget><system><batch><status>Error</status><message>Contact support</message></batch></system>"
         "</exacttarget>", JobStatus.ERROR, "Error", None),
        ("<exacttarget><system><batch><status>Paused by ops</status></batch></system></exacttarget>",
         JobStatus.UNKNOWN, "Paused by ops", None),
    ],
)
async def test_inquire_statuses_in_any_case(
    api: XmlApi, canned: Canned, reply: str, status: JobStatus, raw: str, file_name: str | None
) -> None:
    canned.answer(reply)
    inquiry = await api.inquire("552210")
    assert (inquiry.status, inquiry.status_raw, inquiry.file_name) == (status, raw, file_name)
    if status is JobStatus.ERROR:
        assert inquiry.message == "Contact support"


@pytest.mark.parametrize("batch_id", ["", "   ", "55 22", "a\x00b", "9" * 65])
async def test_inquire_refuses_a_bad_batch_id_before_sending(api: XmlApi, canned: Canned, batch_id: str) -> None:
    with pytest.raises(ValidationError) as caught:
        await api.inquire(batch_id)
    assert caught.value.param == "batch_id" and caught.value.call == "inquire"
    assert canned.forms == []


async def test_validation_happens_before_sending(api: XmlApi, canned: Canned) -> None:
    with pytest.raises(ValidationError):
        await api.submit(BatchRequest("C4", {}))
    assert canned.forms == []


# -- service errors ---------------------------------------------------------------


async def test_error_reply_becomes_service_error_with_code(api: XmlApi, canned: Canned) -> None:
    canned.answer(ERROR_14)
    with pytest.raises(ServiceError) as caught:
        await api.submit(BatchRequest("C3"))
    error = caught.value
    assert type(error) is ServiceError
    assert error.code == "14" and error.call == "C3"
    assert str(error) == (
        "The service rejected C3: The subscriber already exists in the list (error 14); "
        "check the request's parameters and try again."
    )
    assert_no_secret(error)


async def test_error_description_with_hyphen(api: XmlApi, canned: Canned) -> None:
    canned.answer(ERROR_14.replace("error_description", "error-description"))
    with pytest.raises(ServiceError, match="already exists"):
        await api.submit(BatchRequest("C3"))


async def test_error_in_inquire_names_the_batch_id(api: XmlApi, canned: Canned) -> None:
    canned.answer("<exacttarget><system><Batch><Error>2</Error><Error_Description>Batch not found"
                  "</Error_Description></Batch></system></exacttarget>")
    with pytest.raises(ServiceError, match="Batch not found \\(error 2\\); check the batch ID") as caught:
        await api.inquire("1")
    assert caught.value.call == "inquire" and caught.value.code == "2"


@pytest.mark.parametrize(
    "description",
    ["Bad username or password", "Login failed.", "Invalid user credentials", "User is not authenticated",
     "Unauthorized", "Access denied"],
)
async def test_login_failures_become_auth_errors(api: XmlApi, canned: Canned, description: str) -> None:
    canned.answer(f"<exacttarget><system><error>4</error><error_description>{description}</error_description>"
                  "</system></exacttarget>")
    with pytest.raises(AuthError) as caught:
        await api.inquire("1")
    assert "check api_username and the API password" in str(caught.value)
    assert USERNAME in str(caught.value)


async def test_echoed_password_is_scrubbed_from_errors_and_replies(api: XmlApi, canned: Canned) -> None:
    escaped = "Sw0rd+fish&amp;k=y é&lt;x&gt;"
    canned.answer(f"<exacttarget><system><error>1</error><error_description>Password {escaped} is wrong"
                  "</error_description></system></exacttarget>")
    with pytest.raises(AuthError) as caught:
        await api.submit(BatchRequest("C3"))
    assert_no_secret(caught.value)
    assert MASK in str(caught.value)
    canned.answer(SUBMITTED.replace("</info>", f" for {escaped}</info>"))
    result = await api.submit(BatchRequest("C3"))
    assert "Sw0rd" not in result.reply and "Sw0rd" not in result.request_doc


async def test_http_500_is_throttling(api: XmlApi, canned: Canned) -> None:
    canned.answer("Internal Server Error", status=500)
    with pytest.raises(ThrottledError) as caught:
        await api.inquire("1")
    assert "HTTP 500" in str(caught.value) and "throttling" in str(caught.value)


@pytest.mark.parametrize(("status", "cls"), [(404, ServiceError), (502, ServiceError), (401, AuthError), (403, AuthError)])
async def test_other_http_statuses_name_the_status(api: XmlApi, canned: Canned, status: int, cls: type[EttuiError]) -> None:
    canned.answer("<html>nope</html>", status=status)
    with pytest.raises(cls) as caught:
        await api.submit(BatchRequest("C3"))
    assert type(caught.value) is cls
    assert f"HTTP {status}" in str(caught.value) and caught.value.code == str(status)


async def test_non_2xx_with_an_xml_error_reports_the_description(api: XmlApi, canned: Canned) -> None:
    canned.answer(ERROR_14, status=400)
    with pytest.raises(ServiceError, match="already exists"):
        await api.submit(BatchRequest("C3"))


@pytest.mark.parametrize(
    ("reply", "words"),
    [
        ("<html><body>Welcome to IIS</body></html", "not well-formed"),
        ("", "empty"),
        ("batchID=552210", "not well-formed"),
        ('<!DOCTYPE x [<!ENTITY e "552210">]><exacttarget><batchid>&e;</batchid></exacttarget>', "DOCTYPE"),
        ("<exacttarget><system><subscriber><info>ok</info></subscriber></system></exacttarget>", "has no batchID"),
        ("<exacttarget><batchid>  </batchid></exacttarget>", "has no batchID"),
    ],
)
async def test_unreadable_submit_replies(api: XmlApi, canned: Canned, reply: str, words: str) -> None:
    canned.answer(reply)
    with pytest.raises(MalformedReplyError, match=words) as caught:
        await api.submit(BatchRequest("C3"))
    assert caught.value.call == "C3"
    assert_no_secret(caught.value)


@pytest.mark.parametrize(
    ("reply", "words"),
    [
        ("<exacttarget><system><batch><batchid>552210</batchid></batch></system></exacttarget>", "has no status"),
        ("<exacttarget><system><batch><batchid>999</batchid><status>Complete</status></batch></system></exacttarget>",
         "answered about batch 999"),
    ],
)
async def test_unreadable_inquire_replies(api: XmlApi, canned: Canned, reply: str, words: str) -> None:
    canned.answer(reply)
    with pytest.raises(MalformedReplyError, match=words):
        await api.inquire("552210")


# -- transport failures -------------------------------------------------------------


async def test_connection_refused() -> None:
    with socket.socket() as probe:  # a port that was free a moment ago and has no listener
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    api = XmlApi(f"http://127.0.0.1:{port}/integrate.aspx", USERNAME, PASSWORD)
    try:
        with pytest.raises(ApiConnectionError) as caught:
            await api.inquire("1")
    finally:
        await api.aclose()
    assert str(caught.value) == (
        f"127.0.0.1:{port} refused the connection; check the endpoint URL and port, and that the service is running."
    )
    assert_no_secret(caught.value)


@pytest.fixture
async def silent_server() -> AsyncIterator[tuple[str, list[asyncio.StreamWriter]]]:
    """Accepts, reads, never answers, never closes (until the test ends)."""
    writers: list[asyncio.StreamWriter] = []

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        await reader.read(65536)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield f"127.0.0.1:{port}", writers
    for writer in writers:
        writer.close()
    server.close()
    await server.wait_closed()


async def test_read_timeout(silent_server: tuple[str, list[asyncio.StreamWriter]]) -> None:
    host, _ = silent_server
    api = XmlApi(f"http://{host}/integrate.aspx", USERNAME, PASSWORD, connect_timeout=5.0, read_timeout=0.3)
    try:
        with pytest.raises(ApiConnectionError) as caught:
            await api.submit(BatchRequest("C3"))
    finally:
        await api.aclose()
    assert str(caught.value).startswith(f"{host} took the request but sent no reply within 0.3 s")
    assert "read_timeout" in str(caught.value)
    assert_no_secret(caught.value)


async def test_server_closes_mid_request() -> None:
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(100)
        writer.close()

    server = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    api = XmlApi(f"http://127.0.0.1:{port}/integrate.aspx", USERNAME, PASSWORD)
    try:
        with pytest.raises(ApiConnectionError, match="closed the connection before answering") as caught:
            await api.inquire("552210")
    finally:
        await api.aclose()
        server.close()
        await server.wait_closed()
    assert_no_secret(caught.value)


async def test_tls_failure(canned: Canned) -> None:
    api = XmlApi(canned.url.replace("http://", "https://"), USERNAME, PASSWORD)
    try:
        with pytest.raises(ApiConnectionError, match="secure \\(TLS\\) connection to 127.0.0.1") as caught:
            await api.inquire("1")
    finally:
        await api.aclose()
    assert_no_secret(caught.value)


async def test_connect_timeout() -> None:
    """A listener whose accept queue is full drops new SYNs, so connecting times out."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(8):
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(("127.0.0.1", port))
        fillers.append(filler)
    api = XmlApi(f"http://127.0.0.1:{port}/integrate.aspx", USERNAME, PASSWORD, connect_timeout=0.3)
    try:
        with pytest.raises(ApiConnectionError) as caught:
            await api.inquire("1")
    finally:
        await api.aclose()
        for sock in (*fillers, listener):
            sock.close()
    assert str(caught.value).startswith(f"Could not connect to 127.0.0.1:{port} within 0.3 s")


# -- housekeeping --------------------------------------------------------------------


async def test_password_never_logged(api: XmlApi, canned: Canned, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    await api.submit(BatchRequest("C3"))
    canned.answer(ERROR_14)
    with pytest.raises(EttuiError):
        await api.submit(BatchRequest("C3"))
    assert caplog.records
    assert "Sw0rd" not in caplog.text and urllib.parse.quote(PASSWORD, safe="") not in caplog.text


async def test_shared_client_is_left_open(canned: Canned) -> None:
    async with httpx.AsyncClient() as shared:
        api = XmlApi(canned.url, USERNAME, PASSWORD, client=shared)
        assert (await api.submit(BatchRequest("C3"))).batch_id == "552210"
        await api.aclose()
        assert not shared.is_closed


async def test_own_client_is_closed(canned: Canned) -> None:
    api = XmlApi(canned.url, USERNAME, PASSWORD)
    await api.aclose()
    assert api.closed
