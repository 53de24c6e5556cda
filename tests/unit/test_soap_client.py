"""``SoapApi`` against a scripted SOAP server on 127.0.0.1: errors, paging, tokens, redaction, WSDL cache.

The server answers each request with the next scripted reply, so every error
path is reached over a real socket without the sandbox.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pytest
from aiohttp import web
from lxml import etree

from ettui.api.soap import MASK, PACKAGED_WSDL, OAuth, SoapApi, UsernameToken
from ettui.errors import ApiConnectionError, AuthError, ConfigError, MalformedReplyError, ServiceError, ThrottledError
from ettui.model import BatchRequest, JobStatus

PASSWORD = "pa&ss<word>"
SECRET = "client-secret-42"
REQUEST = BatchRequest("tracking-extract", {"StartDate": "6/1/2024", "EndDate": "6/8/2024", "OutputFileName": "t.zip"})
ENV = '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" ' \
      'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soap:Body>{}</soap:Body></soap:Envelope>'
NS = 'xmlns="http://exacttarget.com/wsdl/partnerAPI"'

Reply = Callable[[bytes], web.Response]


def xml(body: str, status: int = 200) -> Reply:
    return lambda _request: web.Response(status=status, text=ENV.format(body), content_type="text/xml")


def raw(text: str, status: int = 200) -> Reply:
    return lambda _request: web.Response(status=status, text=text, content_type="text/xml")


def fault(message: str, code: str = "soap:Client") -> Reply:
    return xml(f"<soap:Fault><faultcode>{code}</faultcode><faultstring>{message}</faultstring></soap:Fault>", 500)


REQ_1 = "3f1c2a9e-0000-4000-8000-00000000abcd"
REQ_9 = "7d0e4b52-1111-4222-8333-444455556666"


def extract_ok(request_id: str = REQ_1) -> Reply:
    return xml(f"<ExtractResponseMsg {NS}><OverallStatus>OK</OverallStatus><RequestID>{request_id}</RequestID>"
               "<Results><StatusCode>OK</StatusCode><StatusMessage>queued</StatusMessage></Results></ExtractResponseMsg>")


def status_page(rows: list[tuple[str, str]], overall: str = "OK", request_id: str = "page-1",
                tag: str = "ObjectExtension") -> Reply:
    results = "".join(
        f'<Results xsi:type="{tag}"><Properties>'
        f"<Property><Name>TaskID</Name><Value>{task}</Value></Property>"
        f"<Property><Name>Status</Name><Value>{status}</Value></Property>"
        "</Properties></Results>"
        for task, status in rows
    )
    return xml(f"<RetrieveResponseMsg {NS}><OverallStatus>{overall}</OverallStatus>"
               f"<RequestID>{request_id}</RequestID>{results}</RetrieveResponseMsg>")


@dataclass
class Script:
    """What the server will answer, and what it received."""

    replies: list[Reply] = field(default_factory=list)
    received: list[bytes] = field(default_factory=list)
    tokens: list[dict[str, object]] = field(default_factory=list)
    token_replies: list[web.Response] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    wsdl_gets: int = 0


@pytest.fixture
async def server() -> AsyncIterator[tuple[Script, str]]:
    script = Script()

    async def soap(request: web.Request) -> web.Response:
        body = await request.read()
        script.received.append(body)
        reply = script.replies.pop(0)
        if reply is HANG:
            await script.release.wait()
        return reply(body)

    async def token(request: web.Request) -> web.Response:
        script.tokens.append(json.loads(await request.read()))
        if script.token_replies:
            return script.token_replies.pop(0)
        return web.json_response({"access_token": f"tok-{len(script.tokens)}", "expires_in": 1079})

    async def wsdl(_request: web.Request) -> web.Response:
        script.wsdl_gets += 1
        return web.Response(body=PACKAGED_WSDL.read_bytes(), content_type="text/xml")

    app = web.Application()
    app.router.add_post("/Service.asmx", soap)
    app.router.add_post("/v2/token", token)
    app.router.add_get("/etframework.wsdl", wsdl)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield script, f"http://127.0.0.1:{port}"
    script.release.set()
    await runner.cleanup()


def HANG(_request: bytes) -> web.Response:
    return web.Response(status=200, text="late")


class Clock:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def make(base: str, auth: UsernameToken | OAuth | None = None, **kw: object) -> SoapApi:
    return await SoapApi.create(f"{base}/Service.asmx", auth=auth or UsernameToken("ops", PASSWORD),
                                today=lambda: date(2024, 6, 8), **kw)  # type: ignore[arg-type]


async def test_submit_returns_request_id_and_a_redacted_envelope(server: tuple[Script, str]) -> None:
    script, base = server
    script.replies = [extract_ok(REQ_9)]
    api = await make(base)
    result = await api.submit(REQUEST)
    await api.aclose()
    assert result.batch_id == REQ_9
    sent = script.received[0].decode()
    assert "pa&amp;ss&lt;word&gt;" in sent  # the real password went on the wire...
    assert "pa&amp;ss" not in result.request_doc and PASSWORD not in result.request_doc  # ...and nowhere else
    assert f">{MASK}</wsse:Password>" in result.request_doc
    assert "<ns0:Name>OutputFileName</ns0:Name><ns0:Value>t.zip</ns0:Value>" in result.request_doc
    assert "ExtractResponseMsg" in result.reply


async def test_extract_error_status_is_a_service_error(server: tuple[Script, str]) -> None:
    script, base = server
    script.replies = [xml(f"<ExtractResponseMsg {NS}><OverallStatus>Error</OverallStatus><Results>"
                          "<StatusCode>Error</StatusCode><StatusMessage>Tracking Extract is not enabled</StatusMessage>"
                          "<ErrorCode>5</ErrorCode></Results></ExtractResponseMsg>")]
    api = await make(base)
    with pytest.raises(ServiceError) as caught:
        await api.submit(REQUEST)
    await api.aclose()
    assert "Tracking Extract is not enabled (error 5)" in caught.value.message


@pytest.mark.parametrize(
    ("reply", "error", "words"),
    [
        (fault("Object reference not set to an instance of an object."), ServiceError, "Object reference not set"),
        (fault("Login Failed", "q0:Security"), AuthError, "Login Failed"),
        (raw("Internal Server Error", 500), ThrottledError, "HTTP 500"),
        (raw("<html>oops", 200), MalformedReplyError, "could not be read"),
        (raw("<other/>", 200), MalformedReplyError, "not a SOAP envelope"),
        (raw('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>'), MalformedReplyError, "DOCTYPE"),
        (xml(f"<ExtractResponseMsg {NS}><Surprise/></ExtractResponseMsg>"), ServiceError, "no status given"),
        (xml(f"<ExtractResponseMsg {NS}><OverallStatus>OK</OverallStatus></ExtractResponseMsg>"),
         MalformedReplyError, "has no RequestID"),
        (xml(f"<RetrieveResponseMsg {NS}><OverallStatus>OK</OverallStatus></RetrieveResponseMsg>"),
         MalformedReplyError, "holds no ExtractResponseMsg"),
    ],
)
async def test_error_replies_map_to_the_family(server: tuple[Script, str], reply: Reply,
                                               error: type[Exception], words: str) -> None:
    script, base = server
    script.replies = [reply]
    api = await make(base)
    with pytest.raises(error) as caught:
        await api.submit(REQUEST)
    await api.aclose()
    assert words in str(caught.value)
    assert type(caught.value) is error
    assert PASSWORD not in str(caught.value)


async def test_read_timeout_is_a_connection_error(server: tuple[Script, str]) -> None:
    script, base = server
    script.replies = [HANG]
    api = await make(base, read_timeout=0.2)
    with pytest.raises(ApiConnectionError, match="sent no reply within 0.2 s"):
        await api.inquire("req-1")
    await api.aclose()


async def test_refused_connection_is_a_connection_error() -> None:
    api = await SoapApi.create("http://127.0.0.1:9/Service.asmx", auth=UsernameToken("ops", PASSWORD))
    with pytest.raises(ApiConnectionError) as caught:
        await api.inquire("req-1")
    await api.aclose()
    assert caught.value.__context__ is None or PASSWORD not in repr(caught.value.__context__)


async def test_inquire_follows_continue_request_and_reads_both_taggings(server: tuple[Script, str]) -> None:
    script, base = server
    script.replies = [
        status_page([("other", "Complete")], overall="MoreDataAvailable", request_id="page-1"),
        status_page([("req-1", "Processing")], overall="MoreDataAvailable", request_id="page-2",
                    tag="AsyncActivityStatus"),
        status_page([("req-1", "Complete")], request_id="page-3", tag="AsyncActivityStatus"),
    ]
    api = await make(base)
    api.remember_file_name("req-1", "t.zip")
    inquiry = await api.inquire("req-1")
    await api.aclose()
    assert len(script.received) == 3
    first, second = (etree.fromstring(body) for body in script.received[:2])
    ns = {"p": "http://exacttarget.com/wsdl/partnerAPI"}
    assert first.findtext(".//p:Filter/p:Value", namespaces=ns) == "req-1"
    assert second.findtext(".//p:ContinueRequest", namespaces=ns) == "page-1"
    assert second.find(".//p:Filter", namespaces=ns) is None
    # One step still Processing keeps the whole request Processing.
    assert inquiry.status is JobStatus.PROCESSING and inquiry.file_name is None


async def test_complete_reports_the_requested_file_name(server: tuple[Script, str]) -> None:
    script, base = server
    script.replies = [extract_ok(REQ_9), status_page([(REQ_9, "Complete")], tag="AsyncActivityStatus")]
    api = await make(base)
    await api.submit(REQUEST)
    inquiry = await api.inquire(REQ_9)
    await api.aclose()
    assert (inquiry.status, inquiry.status_raw, inquiry.file_name) == (JobStatus.COMPLETE, "Complete", "t.zip")


async def test_error_status_carries_error_msg(server: tuple[Script, str]) -> None:
    script, base = server
    script.replies = [xml(
        f'<RetrieveResponseMsg {NS}><OverallStatus>OK</OverallStatus><Results xsi:type="ObjectExtension">'
        "<Properties><Property><Name>Status</Name><Value>Error</Value></Property>"
        "<Property><Name>ErrorMsg</Name><Value>Extract timed out</Value></Property></Properties>"
        "</Results></RetrieveResponseMsg>")]
    api = await make(base)
    inquiry = await api.inquire("req-1")
    await api.aclose()
    assert inquiry.status is JobStatus.ERROR and inquiry.message == "Extract timed out"


async def test_no_status_row_is_unknown_with_the_export_fallback(server: tuple[Script, str]) -> None:
    script, base = server
    script.replies = [status_page([])]
    api = await make(base)
    inquiry = await api.inquire("req-1")
    await api.aclose()
    assert inquiry.status is JobStatus.UNKNOWN
    assert inquiry.message is not None and "Export folder" in inquiry.message


async def test_retrieve_error_overall_status(server: tuple[Script, str]) -> None:
    script, base = server
    script.replies = [status_page([], overall="Error: The Request Property(s) Foo do not match")]
    api = await make(base)
    with pytest.raises(ServiceError, match="do not match"):
        await api.inquire("req-1")
    await api.aclose()


async def test_oauth_token_is_sent_reused_refreshed_and_redacted(server: tuple[Script, str]) -> None:
    script, base = server
    clock = Clock()
    script.replies = [extract_ok(), status_page([("req-1", "Scheduled")]), status_page([("req-1", "Scheduled")])]
    api = await make(base, OAuth(f"{base}/v2/token", "cid", SECRET, account_id="10012345"), monotonic=clock)
    result = await api.submit(REQUEST)
    await api.inquire("req-1")
    assert len(script.tokens) == 1  # reused while fresh
    assert script.tokens[0] == {"grant_type": "client_credentials", "client_id": "cid",
                                "client_secret": SECRET, "account_id": "10012345"}
    clock.now += 1079 - 30  # inside the refresh margin: refreshed before it expires
    await api.inquire("req-1")
    await api.aclose()
    assert len(script.tokens) == 2
    assert b"<fueloauth xmlns=\"http://exacttarget.com\">tok-1</fueloauth>" in script.received[0]
    assert b">tok-2</fueloauth>" in script.received[2]
    assert "tok-1" not in result.request_doc and f">{MASK}</fueloauth>" in result.request_doc


async def test_expired_token_fault_is_replayed_once(server: tuple[Script, str]) -> None:
    script, base = server
    script.replies = [fault("Token Expired", "q0:Security"), status_page([("req-1", "Complete")]),
                      fault("Token Expired", "q0:Security"), fault("Token Expired", "q0:Security")]
    api = await make(base, OAuth(f"{base}/v2/token", "cid", SECRET))
    assert (await api.inquire("req-1")).status is JobStatus.COMPLETE
    assert len(script.tokens) == 2
    with pytest.raises(AuthError, match="Token Expired"):  # a second expiry in a row is not replayed again
        await api.inquire("req-1")
    await api.aclose()
    assert len(script.tokens) == 3 and len(script.received) == 4


async def test_refused_client_credentials(server: tuple[Script, str]) -> None:
    script, base = server
    script.token_replies = [web.json_response({"error": "invalid_client", "error_description": "Bad id"}, status=401)]
    api = await make(base, OAuth(f"{base}/v2/token", "cid", SECRET))
    with pytest.raises(AuthError, match="refused OAuth client 'cid' \\(Bad id\\)"):
        await api.inquire("req-1")
    await api.aclose()


async def test_wsdl_url_is_fetched_once_then_cached(server: tuple[Script, str], tmp_path: Path) -> None:
    script, base = server
    for _ in range(2):
        api = await make(base, wsdl=f"{base}/etframework.wsdl", cache_dir=tmp_path)
        await api.aclose()
    assert script.wsdl_gets == 1
    assert [p.suffix for p in tmp_path.iterdir()] == [".wsdl"]


async def test_bad_configuration() -> None:
    with pytest.raises(ConfigError, match="soap_url"):
        await SoapApi.create("ftp://x/Service.asmx", auth=UsernameToken("a", "b"))
    with pytest.raises(ConfigError, match="could not be loaded"):
        await SoapApi.create("http://x/Service.asmx", wsdl="/nonexistent.wsdl", auth=UsernameToken("a", "b"))


# -- SOAP read like the real service (issue 10, item 3) -----------------------------


@pytest.mark.parametrize("code", ["soap:Server", "Server", "s:Receiver"])
async def test_http_500_with_a_server_fault_is_throttling(server: tuple[Script, str], code: str) -> None:
    script, base = server
    script.replies = [fault("Server busy, try later", code), fault("Server busy, try later", code)]
    api = await make(base)
    with pytest.raises(ThrottledError, match="HTTP 500 with a server fault \\(Server busy, try later\\)") as caught:
        await api.submit(REQUEST)
    assert not caught.value.maybe_sent, "refused: safe to send again after a back-off"
    with pytest.raises(ThrottledError):
        await api.inquire(REQ_1)
    await api.aclose()


async def test_a_server_fault_without_http_500_is_a_service_error(server: tuple[Script, str]) -> None:
    script, base = server
    script.replies = [xml("<soap:Fault><faultcode>soap:Server</faultcode><faultstring>Bad filter</faultstring>"
                          "</soap:Fault>", 200)]
    api = await make(base)
    with pytest.raises(ServiceError, match="Bad filter") as caught:
        await api.inquire(REQ_1)
    await api.aclose()
    assert type(caught.value) is ServiceError


async def test_extract_reply_with_undeclared_elements_is_recorded(server: tuple[Script, str],
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    script, base = server
    reply = xml(f"<ExtractResponseMsg {NS}><OverallStatus>OK</OverallStatus><RequestID>{REQ_9}</RequestID>"
                "<VendorTrace>abc</VendorTrace><Results><StatusCode>OK</StatusCode><StatusMessage>queued"
                "</StatusMessage><ExtraDetail><Deep>1</Deep></ExtraDetail></Results></ExtractResponseMsg>")
    script.replies = [reply, reply]
    caplog.set_level("INFO", logger="ettui.api.soap_reply")
    api = await make(base)
    first = await api.submit(REQUEST)
    second = await api.submit(REQUEST)
    await api.aclose()
    assert first.batch_id == second.batch_id == REQ_9
    ignored = [r.getMessage() for r in caplog.records if "does not declare" in r.getMessage()]
    assert sorted(ignored) == ["ignoring ExtractResponseMsg/VendorTrace in an Extract reply: the WSDL does not declare it",
                               "ignoring ExtractResult/ExtraDetail in an Extract reply: the WSDL does not declare it"]


async def test_extract_reply_with_only_a_result_request_id_is_recorded(server: tuple[Script, str]) -> None:
    script, base = server
    script.replies = [xml(f"<ExtractResponseMsg {NS}><OverallStatus>OK</OverallStatus><Results><StatusCode>OK"
                          f"</StatusCode><StatusMessage>q</StatusMessage><RequestID>{REQ_9}</RequestID></Results>"
                          "</ExtractResponseMsg>")]
    api = await make(base)
    assert (await api.submit(REQUEST)).batch_id == REQ_9
    await api.aclose()


def oauth(base: str) -> OAuth:
    return OAuth(f"{base}/v2/token", "cid", SECRET)


async def test_login_failed_on_a_token_that_had_worked_is_refreshed_once_and_replayed(
    server: tuple[Script, str],
) -> None:
    script, base = server
    script.replies = [status_page([(REQ_1, "Scheduled")]), fault("Login Failed", "q0:Security"),
                      status_page([(REQ_1, "Complete")])]
    api = await make(base, oauth(base))
    assert (await api.inquire(REQ_1)).status is JobStatus.SCHEDULED  # tok-1 works
    assert (await api.inquire(REQ_1)).status is JobStatus.COMPLETE  # dies, refreshed, replayed
    await api.aclose()
    assert len(script.tokens) == 2, "exactly one refresh"
    assert len(script.received) == 3, "exactly one replay"
    assert b">tok-1</fueloauth>" in script.received[1] and b">tok-2</fueloauth>" in script.received[2]


async def test_login_failed_again_after_the_refresh_is_an_auth_error(server: tuple[Script, str]) -> None:
    script, base = server
    script.replies = [status_page([(REQ_1, "Scheduled")]), fault("Login Failed", "q0:Security"),
                      fault("Login Failed", "q0:Security")]
    api = await make(base, oauth(base))
    await api.inquire(REQ_1)
    with pytest.raises(AuthError, match="Login Failed") as caught:
        await api.inquire(REQ_1)
    await api.aclose()
    assert len(script.tokens) == 2 and len(script.received) == 3
    assert not caught.value.maybe_sent


async def test_login_failed_on_a_fresh_token_is_not_replayed(server: tuple[Script, str]) -> None:
    script, base = server
    script.replies = [fault("Login Failed", "q0:Security")]
    api = await make(base, oauth(base))
    with pytest.raises(AuthError, match="Login Failed"):
        await api.inquire(REQ_1)
    await api.aclose()
    assert len(script.tokens) == 1 and len(script.received) == 1, "a token that never worked is not retried"


async def test_login_failed_with_a_username_token_is_an_auth_error_at_once(server: tuple[Script, str]) -> None:
    script, base = server
    script.replies = [status_page([(REQ_1, "Scheduled")]), fault("Login Failed", "q0:Security")]
    api = await make(base)
    await api.inquire(REQ_1)
    with pytest.raises(AuthError, match="Login Failed"):
        await api.inquire(REQ_1)
    await api.aclose()
    assert len(script.received) == 2


async def test_a_throttled_soap_poll_backs_off_the_whole_profile_like_a_bare_500(
    server: tuple[Script, str], tmp_path: Path,
) -> None:
    from datetime import timedelta

    from ettui.clock import ManualClock
    from tests.unit.test_poller_support import T0, add_job, make_poller, store_at

    script, base = server
    script.replies = [fault("Server busy", "soap:Server")]
    api = await make(base)
    clock = ManualClock(T0)
    with store_at(tmp_path) as store:
        job = add_job(store, REQ_1)
        poller = make_poller(store, api, clock, concurrency=1)  # type: ignore[arg-type]
        assert await poller.sweep_once() == 1
        assert poller.throttled_until == T0 + timedelta(seconds=5), "the profile-wide back-off, not poll_max"
        stored = store.get(job.id)
        assert stored is not None and stored.status is JobStatus.SCHEDULED
        assert stored.last_error is not None and "throttling" in stored.last_error
    await api.aclose()
