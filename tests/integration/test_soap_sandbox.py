"""``SoapApi`` against the sandbox's ``/Service.asmx``: lifecycle, both status taggings, auth, faults.

The sandbox clock is moved with ``advance`` and writes are awaited with
``queue.settle``; nothing sleeps.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
from lxml import etree

from ettui.api.soap import MASK, OAuth, SoapApi, UsernameToken
from ettui.errors import ApiConnectionError, AuthError, MalformedReplyError, ThrottledError
from ettui.model import BatchRequest, JobStatus
from ettui.sandbox import Sandbox, SandboxOptions
from ettui.sandbox.soap import TRACKING_PARAMETERS, endpoint

EXTRACT = BatchRequest("tracking-extract", {"StartDate": "3/1/2012", "EndDate": "3/7/2012",
                                            "OutputFileName": "ops_tracking_20120307.zip", "ExtractClicks": "false"})
P = {"p": "http://exacttarget.com/wsdl/partnerAPI"}


@pytest.fixture
async def sandbox(tmp_path: Path) -> AsyncIterator[Sandbox]:
    async with Sandbox(SandboxOptions(root=tmp_path, records=20)) as sb:
        yield sb


def token_url(sb: Sandbox) -> str:
    return sb.info.soap_url.rsplit("/", 1)[0] + "/v2/token"


async def client(sb: Sandbox, auth: UsernameToken | OAuth | None = None, **kw: Any) -> SoapApi:
    return await SoapApi.create(sb.info.soap_url, auth=auth or UsernameToken(sb.info.api_username, sb.info.api_password),
                                today=lambda: date(2012, 3, 15), **kw)


async def to_complete(sb: Sandbox, api: SoapApi) -> tuple[str, list[JobStatus]]:
    result = await api.submit(EXTRACT)
    seen = [(await api.inquire(result.batch_id)).status]
    for stage in (sb.options.scheduled_seconds, sb.options.processing_seconds):
        sb.clock.advance(stage)
        await sb.queue.settle()
        seen.append((await api.inquire(result.batch_id)).status)
    return result.batch_id, seen


@pytest.mark.parametrize("form", ["ObjectExtension", "AsyncActivityStatus"])
async def test_tracking_extract_to_complete_in_export(sandbox: Sandbox, form: str) -> None:
    endpoint(sandbox).status_form = form
    api = await client(sandbox)
    batch_id, seen = await to_complete(sandbox, api)
    final = await api.inquire(batch_id)
    await api.aclose()
    assert seen == [JobStatus.SCHEDULED, JobStatus.PROCESSING, JobStatus.COMPLETE]
    assert final.file_name == "ops_tracking_20120307.zip"
    assert f'xsi:type="{form}"' in final.reply
    zip_path = Path(sandbox.info.drop_dir) / "Export" / "ops_tracking_20120307.zip"
    assert zip_path.is_file()
    batch = sandbox.queue.get(endpoint(sandbox).requests[batch_id])
    assert batch is not None and batch.folder == "/Export" and batch.params["ExtractClicks"] == "false"


async def test_export_retention_is_21_days(sandbox: Sandbox) -> None:
    api = await client(sandbox)
    await to_complete(sandbox, api)
    await api.aclose()
    sandbox.clock.advance(20 * 86400)
    assert sandbox.sweep() == []
    sandbox.clock.advance(2 * 86400)
    assert sandbox.sweep() == ["/Export/ops_tracking_20120307.zip"]


async def test_error_jobs_report_error_msg(sandbox: Sandbox) -> None:
    sandbox.faults.error_share = 1.0
    api = await client(sandbox)
    batch_id, seen = await to_complete(sandbox, api)
    final = await api.inquire(batch_id)
    await api.aclose()
    assert seen[-1] is JobStatus.ERROR and final.message and "failed" in final.message


async def test_unknown_request_is_unknown(sandbox: Sandbox) -> None:
    api = await client(sandbox)
    inquiry = await api.inquire("00000000-0000-4000-8000-000000000000")
    await api.aclose()
    assert inquiry.status is JobStatus.UNKNOWN


async def test_continue_request_paging(sandbox: Sandbox) -> None:
    endpoint(sandbox).page_size = 0  # every row on a later page: the client must follow ContinueRequest
    sent: list[bytes] = []
    api = await client(sandbox)
    original = api.transport.send

    async def spy(url: str, content: bytes, headers: dict[str, str], **kw: str) -> object:
        sent.append(content)
        return await original(url, content, headers, **kw)

    api.transport.send = spy  # type: ignore[method-assign,assignment]
    result = await api.submit(EXTRACT)
    inquiry = await api.inquire(result.batch_id)
    await api.aclose()
    assert inquiry.status is JobStatus.SCHEDULED
    assert etree.fromstring(sent[-1]).find(".//p:ContinueRequest", P) is not None


async def test_oauth_token_expires_on_the_sandbox_clock_and_is_replayed(sandbox: Sandbox) -> None:
    api = await client(sandbox, OAuth(token_url(sandbox), sandbox.info.api_username, sandbox.info.api_password))
    result = await api.submit(EXTRACT)
    assert MASK in result.request_doc
    tokens = api.tokens
    assert tokens is not None and tokens.fetches == 1
    sandbox.clock.advance(endpoint(sandbox).token_lifetime + 1)  # the server now says "Token Expired"
    inquiry = await api.inquire(result.batch_id)
    await api.aclose()
    assert inquiry.status is not JobStatus.UNKNOWN and tokens.fetches == 2
    assert not any(t in result.request_doc for t in endpoint(sandbox).tokens)


async def test_wrong_credentials_are_auth_errors(sandbox: Sandbox) -> None:
    api = await client(sandbox, UsernameToken(sandbox.info.api_username, "wrong"))
    with pytest.raises(AuthError, match="Login Failed"):
        await api.submit(EXTRACT)
    await api.aclose()
    api = await client(sandbox, OAuth(token_url(sandbox), "nobody", "wrong"))
    with pytest.raises(AuthError, match="refused OAuth client 'nobody'"):
        await api.inquire("x")
    await api.aclose()


async def test_throttling_malformed_and_timeouts(sandbox: Sandbox) -> None:
    api = await client(sandbox, read_timeout=0.2)
    sandbox.faults.http_500_share = 1.0
    with pytest.raises(ThrottledError):
        await api.inquire("x")
    sandbox.faults.http_500_share = 0.0
    sandbox.faults.malformed_share = 1.0
    with pytest.raises(MalformedReplyError):
        await api.inquire("x")
    sandbox.faults.malformed_share = 0.0
    sandbox.faults.latency_seconds = 0.5
    with pytest.raises(ApiConnectionError, match="within 0.2 s"):
        await api.inquire("x")
    sandbox.faults.latency_seconds = 0.0
    await api.aclose()


async def test_extract_description_lists_parameters(sandbox: Sandbox) -> None:
    envelope = (
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Header>'
        '<wsse:Security xmlns:wsse="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd">'
        f"<wsse:UsernameToken><wsse:Username>{sandbox.info.api_username}</wsse:Username>"
        f"<wsse:Password>{sandbox.info.api_password}</wsse:Password></wsse:UsernameToken></wsse:Security>"
        '</soapenv:Header><soapenv:Body><RetrieveRequestMsg xmlns="http://exacttarget.com/wsdl/partnerAPI">'
        "<RetrieveRequest><ObjectType>ExtractDescription</ObjectType><Properties>Name</Properties>"
        "</RetrieveRequest></RetrieveRequestMsg></soapenv:Body></soapenv:Envelope>"
    )
    async with httpx.AsyncClient() as http:
        reply = await http.post(sandbox.info.soap_url, content=envelope, headers={"SOAPAction": "Retrieve"})
    root = etree.fromstring(reply.content)
    names = [e.text for e in root.iterfind(".//p:Parameters/p:Parameter/p:Name", P)]
    assert names == [p[0] for p in TRACKING_PARAMETERS] and "OutputFileName" in names
