"""Sandbox retention, fault knobs, output sizes and the extension hook."""

from __future__ import annotations

import asyncio
import os
import time
import urllib.parse
import zipfile
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from lxml import etree

from ettui.sandbox import Faults, Sandbox, SandboxInfo, SandboxOptions, run_forever

INQUIRE = ('<?xml version="1.0"?><exacttarget><authorization><username>sandbox-api</username>'
           "<password>sandbox-secret</password></authorization><system><system_name>batch</system_name>"
           "<action>inquire</action><search_type>batchid</search_type><search_value>1</search_value>"
           "</system></exacttarget>")


@pytest.fixture
async def sandbox(tmp_path: Path) -> AsyncIterator[Sandbox]:
    async with Sandbox(SandboxOptions(root=tmp_path / "sb", time_scale=3600)) as sb:
        yield sb


async def post(sb: Sandbox, xml: str = INQUIRE) -> httpx.Response:
    async with httpx.AsyncClient(timeout=10) as http:
        return await http.post(sb.info.xml_api_url, content="qf=xml&xml=" + urllib.parse.quote(xml, safe=""),
                               headers={"Content-Type": "application/x-www-form-urlencoded"})


def plant(sb: Sandbox, relative: str, age_hours: float) -> Path:
    path = Path(sb.info.drop_dir) / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"zip")
    stamp = (sb.clock.now() - timedelta(hours=age_hours)).timestamp()
    os.utime(path, (stamp, stamp))
    return path


async def test_retention_sweep_on_the_fast_clock(sandbox: Sandbox) -> None:
    young = plant(sandbox, "bulkasync_1_20260101000000000_1.zip", 70)
    old = plant(sandbox, "bulkasync_1_20260101000000001_1.zip", 73)
    member = plant(sandbox, "10012345/bulkasync_1_20260101000000002_1.zip", 80)
    export_young = plant(sandbox, "Export/ops.zip", 100)
    export_old = plant(sandbox, "Export/old.zip", 505)
    removed = sandbox.sweep()
    assert sorted(removed) == ["/10012345/bulkasync_1_20260101000000002_1.zip",
                               "/Export/old.zip", "/bulkasync_1_20260101000000001_1.zip"]
    assert young.exists() and export_young.exists()
    assert not old.exists() and not member.exists() and not export_old.exists()
    sandbox.clock.advance(3 * 3600)
    assert sandbox.sweep() == ["/bulkasync_1_20260101000000000_1.zip"]
    assert export_young.exists()


async def test_completed_job_file_expires_after_72_hours(tmp_path: Path) -> None:
    async with Sandbox(SandboxOptions(root=tmp_path / "sb", records=5)) as sb:
        batch = sb.queue.submit("tracking-all-jobs", {}, member_id=sb.info.member_id, folder="/")
        sb.clock.advance(12)
        await sb.queue.settle()
        path = Path(sb.info.drop_dir) / batch.path.lstrip("/")
        assert path.exists()
        sb.clock.advance(71 * 3600)
        assert sb.sweep() == []
        sb.clock.advance(2 * 3600)
        assert sb.sweep() == [batch.path]
        assert not path.exists()


async def test_background_sweeper_runs(tmp_path: Path) -> None:
    async with Sandbox(SandboxOptions(root=tmp_path / "sb", sweep_interval_seconds=0.05)) as sb:
        old = plant(sb, "gone.zip", 100)
        for _ in range(100):
            if not old.exists():
                break
            await asyncio.sleep(0.02)  # waiting on the real sweeper task itself
        assert not old.exists()


async def test_http_500_knob(sandbox: Sandbox) -> None:
    sandbox.faults.http_500_share = 1.0
    assert (await post(sandbox)).status_code == 500
    sandbox.faults.http_500_share = 0.0
    assert (await post(sandbox)).status_code == 200


async def test_http_500_share_is_a_share() -> None:
    faults = Faults(seed=3)
    hits = sum(faults.draw(0.3) for _ in range(2000))
    assert 450 < hits < 750
    a, b = Faults(seed=9), Faults(seed=9)
    assert [a.draw(0.5) for _ in range(100)] == [b.draw(0.5) for _ in range(100)]


async def test_malformed_reply_knob(sandbox: Sandbox) -> None:
    sandbox.faults.malformed_share = 1.0
    reply = await post(sandbox)
    assert reply.status_code == 200
    with pytest.raises(etree.XMLSyntaxError):
        etree.fromstring(reply.content)
    sandbox.faults.malformed_share = 0.0
    etree.fromstring((await post(sandbox)).content)


async def test_latency_knob(sandbox: Sandbox) -> None:
    sandbox.faults.latency_seconds = 0.3
    started = time.monotonic()
    await post(sandbox)
    assert time.monotonic() - started >= 0.3


async def test_output_by_target_bytes_and_csv_extract(tmp_path: Path) -> None:
    options = SandboxOptions(root=tmp_path / "sb", record_bytes=3_000_000)
    async with Sandbox(options) as sb:
        big = sb.queue.submit("tracking-send", {"job_id": "8812345"}, member_id="10012345", folder="/")
        extract = sb.queue.submit("tracking-extract", {"StartDate": "10/26/2012 12:00:00 AM",
                                                       "EndDate": "10/29/2012 12:00:00 AM",
                                                       "ExtractClicks": "false"},
                                  member_id="10012345", folder="/Export", output_name="ops.zip", records=40)
        sb.clock.advance(12)
        await sb.queue.settle()
        drop = Path(sb.info.drop_dir)
        with zipfile.ZipFile(drop / big.path.lstrip("/")) as zf:
            info = zf.infolist()[0]
            assert 3_000_000 <= info.file_size < 3_100_000
        assert extract.path == "/Export/ops.zip" and extract.status == "Complete"
        with zipfile.ZipFile(drop / "Export" / "ops.zip") as zf:
            assert "Clicks.csv" not in zf.namelist() and "Sent.csv" in zf.namelist()
            lines = zf.read("Opens.csv").decode().splitlines()
            assert lines[0].startswith("ClientID,SendID,SubscriberKey,EmailAddress")
            assert all(",Open" in line and ",10/2" in line for line in lines[1:])


async def test_run_forever_reports_info(tmp_path: Path) -> None:
    ready: asyncio.Future[SandboxInfo] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(run_forever(SandboxOptions(root=tmp_path / "sb"), ready.set_result))
    info = await asyncio.wait_for(ready, 10)
    assert set(info.as_json()) == {"xml_api_url", "soap_url", "sftp_host", "sftp_port", "api_username",
                                   "api_password", "sftp_username", "sftp_password",
                                   "host_key_fingerprint", "drop_dir", "member_id",
                                   "ftps_port", "ftps_username", "ftps_password", "ftps_cert_fingerprint"}
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
