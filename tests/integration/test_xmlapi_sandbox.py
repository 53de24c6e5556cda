"""``XmlApi`` against the sandbox over real HTTP: the lifecycle and every fault knob.

The sandbox is a peer emulator; these tests drive it only through ettui's
client, move its clock with ``advance`` and wait on ``queue.settle`` instead
of sleeping.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path

import pytest

from ettui.api.xmlapi import MASK, XmlApi
from ettui.errors import (
    TRANSIENT,
    ApiConnectionError,
    AuthError,
    MalformedReplyError,
    ServiceError,
    ThrottledError,
)
from ettui.model import BatchRequest, JobStatus
from ettui.sandbox import Sandbox, SandboxOptions

C1 = BatchRequest("C1", {"start_date": "3/1/2012", "end_date": "2012-03-07"})
C3 = BatchRequest("subscriber-statuses", {"list_id": "40017"})


@pytest.fixture
async def sandbox(tmp_path: Path) -> AsyncIterator[Sandbox]:
    async with Sandbox(SandboxOptions(root=tmp_path, records=5)) as sb:
        yield sb


def client(sb: Sandbox, *, password: str | None = None, read_timeout: float = 10.0) -> XmlApi:
    return XmlApi(
        sb.info.xml_api_url,
        sb.info.api_username,
        sb.info.api_password if password is None else password,
        connect_timeout=5.0,
        read_timeout=read_timeout,
        today=lambda: date(2012, 3, 15),
    )


@pytest.fixture
async def api(sandbox: Sandbox) -> AsyncIterator[XmlApi]:
    xml = client(sandbox)
    yield xml
    await xml.aclose()


async def run_to_complete(sb: Sandbox, api: XmlApi, request: BatchRequest) -> list[JobStatus]:
    """Submit, then inquire while the sandbox clock passes each stage; return the statuses seen."""
    result = await api.submit(request)
    assert result.batch_id.isdigit()
    assert MASK in result.request_doc and sb.info.api_password not in result.request_doc
    seen = [(await api.inquire(result.batch_id)).status]
    sb.clock.advance(sb.options.scheduled_seconds + 0.5)
    seen.append((await api.inquire(result.batch_id)).status)
    sb.clock.advance(sb.options.processing_seconds + 0.5)
    await sb.queue.settle()
    final = await api.inquire(result.batch_id)
    seen.append(final.status)
    assert final.batch_id == result.batch_id
    if final.status is JobStatus.COMPLETE:
        assert final.file_name and final.file_name.startswith("bulkasync_") and final.file_name.endswith(".zip")
        assert final.status_raw == "Complete"
        assert (Path(sb.info.drop_dir) / final.file_name).is_file()
    return seen


@pytest.mark.parametrize("request_", [C1, C3], ids=["C1", "C3"])
async def test_submit_and_inquire_to_complete(sandbox: Sandbox, api: XmlApi, request_: BatchRequest) -> None:
    statuses = await run_to_complete(sandbox, api, request_)
    assert statuses == [JobStatus.SCHEDULED, JobStatus.PROCESSING, JobStatus.COMPLETE]


@pytest.mark.parametrize(
    "request_",
    [
        BatchRequest("C2", {"start_date": "-2w", "end_date": "today", "job_start_date": "-2w", "job_end_date": "-1w",
                            "job_id": "8812345"}),
        BatchRequest("C4", {"job_id": "8812345", "start_date": "05/01/2012", "end_date": "05/15/2012"}),
        BatchRequest("C5", {"job_id": "8812345"}),
        BatchRequest("C6", {"job_id": "8812345"}),
        BatchRequest("C7", {"job_id": "8812345", "start_date": "yesterday", "end_date": "today"}),
        BatchRequest("C8", {"list_id": "40017", "search_status": "active"}),
        BatchRequest("C3", {}),
        BatchRequest("all-jobs", {"start_date": "3/1/2012", "end_date": "3/7/2012",
                                  "job_start_date": "3/1/2012", "job_end_date": "3/2/2012"}),
    ],
    ids=lambda r: r.call,
)
async def test_every_call_is_accepted_by_the_sandbox(api: XmlApi, request_: BatchRequest) -> None:
    result = await api.submit(request_)
    assert result.batch_id.isdigit()
    assert (await api.inquire(result.batch_id)).status is JobStatus.SCHEDULED


async def test_error_status_is_reported_not_raised(sandbox: Sandbox, api: XmlApi) -> None:
    sandbox.faults.error_share = 1.0
    statuses = await run_to_complete(sandbox, api, C3)
    assert statuses[-1] is JobStatus.ERROR


async def test_wrong_password(sandbox: Sandbox) -> None:
    wrong = client(sandbox, password="not-the-secret+&=")
    try:
        with pytest.raises(AuthError) as caught:
            await wrong.submit(C1)
    finally:
        await wrong.aclose()
    message = str(caught.value)
    assert "not-the-secret" not in message and sandbox.info.api_password not in message
    assert "check api_username and the API password" in message
    assert caught.value.code and caught.value.call == "C1"


async def test_unknown_batch_is_a_service_error(api: XmlApi) -> None:
    with pytest.raises(ServiceError) as caught:
        await api.inquire("987654321")
    assert type(caught.value) is ServiceError
    assert "check the batch ID" in str(caught.value) and caught.value.code


async def test_http_500_knob_is_throttling(sandbox: Sandbox, api: XmlApi) -> None:
    sandbox.faults.http_500_share = 1.0
    with pytest.raises(ThrottledError) as caught:
        await api.submit(C1)
    assert isinstance(caught.value, TRANSIENT)
    sandbox.faults.http_500_share = 0.0
    assert (await api.submit(C1)).batch_id


async def test_malformed_knob_is_an_unreadable_reply(sandbox: Sandbox, api: XmlApi) -> None:
    batch_id = (await api.submit(C3)).batch_id
    sandbox.faults.malformed_share = 1.0
    with pytest.raises(MalformedReplyError) as caught:
        await api.inquire(batch_id)
    assert isinstance(caught.value, TRANSIENT)
    with pytest.raises(MalformedReplyError):
        await api.submit(C3)
    sandbox.faults.malformed_share = 0.0
    assert (await api.inquire(batch_id)).status is JobStatus.SCHEDULED


async def test_latency_knob_under_and_over_the_read_timeout(sandbox: Sandbox) -> None:
    sandbox.faults.latency_seconds = 0.3
    patient, hasty = client(sandbox, read_timeout=5.0), client(sandbox, read_timeout=0.1)
    try:
        assert (await patient.submit(C1)).batch_id
        with pytest.raises(ApiConnectionError, match="sent no reply within 0.1 s"):
            await hasty.submit(C1)
    finally:
        await patient.aclose()
        await hasty.aclose()


async def test_sandbox_stops_mid_poll(tmp_path: Path) -> None:
    async with Sandbox(SandboxOptions(root=tmp_path)) as sb:
        api = client(sb)
        batch_id = (await api.submit(C1)).batch_id
        assert (await api.inquire(batch_id)).status is JobStatus.SCHEDULED
        host = sb.info.xml_api_url.split("/")[2]
    try:
        with pytest.raises(ApiConnectionError) as caught:
            await api.inquire(batch_id)
    finally:
        await api.aclose()
    assert host in str(caught.value)
    assert isinstance(caught.value, TRANSIENT)
