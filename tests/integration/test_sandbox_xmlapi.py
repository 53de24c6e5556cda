"""The sandbox's XML API from the outside: raw HTTP (httpx), no ettui client code."""

from __future__ import annotations

import re
import urllib.parse
import zipfile
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from lxml import etree

from ettui.sandbox import Sandbox, SandboxOptions

USER, PASSWORD = "sandbox-api", "sandbox-secret"

C1 = """<system>
  <system_name>tracking</system_name>
  <action>BulkAsync</action>
  <sub_action>all_jobs_ToFTP</sub_action>
  <search_type/>
  <daterange>
    <startdate>3/1/2012</startdate>
    <enddate>3/7/2012</enddate>
  </daterange>
</system>"""

C2 = """<system>
  <system_name>tracking</system_name>
  <action>BulkAsyncEnterprise</action>
  <sub_action> all_jobs_ToFTP</sub_action>
  <search_type/>
  <search_value/>
  <search_value2/>
  <daterange><startdate>4/2/2012</startdate><enddate>4/9/2012</enddate></daterange>
  <jobdaterange><startdate>4/2/2012</startdate><enddate>4/3/2012</enddate></jobdaterange>
</system>"""

C3 = """<system>
  <system_name>subscriber</system_name>
  <action>BulkAsync</action>
  <sub_action>SubsStatus_ToFTP</sub_action>
  <search_type>lid</search_type>
  <search_value>40017</search_value>
  <search_value2></search_value2>
</system>"""


def per_send(action: str, sub_action: str, job: str = "8812345", extra: str = "") -> str:
    return (f"<system><system_name>tracking</system_name><action>{action}</action>"
            f"<sub_action>{sub_action}</sub_action><search_type>jobID</search_type>"
            f"<search_value>{job}</search_value>{extra}</system>")


C4 = per_send("BulkAsync", "all_ToFTP",
              extra="<daterange><startdate>05/01/2012</startdate><enddate>05/15/2012</enddate></daterange>")
C5 = per_send("BulkAsync", "all_attributes_ToFTP")
C6 = per_send("Sent_BulkAsync", "all_ToFTP")
C7 = per_send("Sent_BulkAsync", "all_attributes_ToFTP")
C8 = """<system>
  <system_name>list</system_name>
  <action>bulkasync</action>
  <sub_action>Subs_ToFTP</sub_action>
  <search_type>listid</search_type>
  <search_value>40017</search_value>
  <search_status>active</search_status>
</system>"""


def document(system: str, user: str = USER, password: str = PASSWORD) -> str:
    return (f'<?xml version="1.0"?>\n<exacttarget><authorization><username>{user}</username>'
            f"<password>{password}</password></authorization>{system}</exacttarget>")


def inquire(batch_id: int | str) -> str:
    return document(f"<system><system_name>batch</system_name><action>inquire</action>"
                    f"<search_type>batchid</search_type><search_value>{batch_id}</search_value></system>")


@pytest.fixture
async def sandbox(tmp_path: Path) -> AsyncIterator[Sandbox]:
    async with Sandbox(SandboxOptions(root=tmp_path / "sb", records=25, api_password=PASSWORD)) as sb:
        yield sb


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10) as client:
        yield client


async def post(http: httpx.AsyncClient, sb: Sandbox, xml: str) -> etree._Element:
    body = "qf=xml&xml=" + urllib.parse.quote(xml, safe="")
    reply = await http.post(sb.info.xml_api_url, content=body,
                            headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert reply.status_code == 200
    return etree.fromstring(reply.content)


def error_of(root: etree._Element) -> tuple[int, str] | None:
    code = root.find(".//error")
    if code is None:
        return None
    return int(code.text or 0), root.findtext(".//error_description") or ""


async def submit(http: httpx.AsyncClient, sb: Sandbox, system: str) -> int:
    root = await post(http, sb, document(system))
    assert error_of(root) is None, etree.tostring(root)
    return int(root.findtext(".//batchID") or 0)


@pytest.mark.parametrize(("system", "element"), [
    (C1, "tracking"), (C2, "tracking"), (C3, "subscriber"), (C4, "tracking"),
    (C5, "tracking"), (C6, "tracking"), (C7, "tracking"), (C8, "list"),
])
async def test_every_catalogue_call_is_accepted(sandbox: Sandbox, http: httpx.AsyncClient, system: str, element: str) -> None:
    root = await post(http, sandbox, document(system))
    holder = root.find(f"system/{element}")
    assert holder is not None, etree.tostring(root)
    assert holder.findtext("info") == "Your request has been recorded"
    assert int(holder.findtext("batchID") or 0) >= 552210


async def test_get_form_and_monotonic_ids(sandbox: Sandbox, http: httpx.AsyncClient) -> None:
    first = await submit(http, sandbox, C1)
    reply = await http.get(sandbox.info.xml_api_url, params={"qf": "xml", "xml": document(C3)})
    assert reply.status_code == 200
    second = int(etree.fromstring(reply.content).findtext(".//batchID") or 0)
    assert second > first


async def test_state_machine_file_name_and_zip(sandbox: Sandbox, http: httpx.AsyncClient) -> None:
    batch_id = await submit(http, sandbox, C1)
    status = lambda root: root.findtext("system/Batch/status")  # noqa: E731
    root = await post(http, sandbox, inquire(batch_id))
    assert status(root) == "Scheduled" and root.find(".//filename") is None
    assert root.findtext("system/Batch/batchid") == str(batch_id)
    sandbox.clock.advance(5)
    assert status(await post(http, sandbox, inquire(batch_id))) == "Processing"
    sandbox.clock.advance(8)
    await sandbox.queue.settle()
    root = await post(http, sandbox, inquire(batch_id))
    assert status(root) == "Complete"
    name = root.findtext("system/Batch/filename") or ""
    assert re.fullmatch(r"bulkasync_10012345_\d{17}_1\.zip", name)
    path = Path(sandbox.info.drop_dir) / name
    batch = sandbox.queue.get(batch_id)
    assert batch is not None and batch.completed_at is not None
    assert name[19:36] == batch.completed_at.strftime("%Y%m%d%H%M%S%f")[:17]
    assert abs(path.stat().st_mtime - batch.completed_at.timestamp()) < 1
    assert not list(Path(sandbox.root / "work").iterdir())  # the temp file was renamed away
    with zipfile.ZipFile(path) as zf:
        (member,) = zf.namelist()
        assert member.endswith(".xml")
        xml = etree.fromstring(zf.read(member))
    assert xml.findtext("tracking/batchid") == str(batch_id)
    records = xml.findall("tracking/record")
    assert len(records) == 25
    first = {child.tag: child.text for child in records[0]}
    assert {"SubscriberKey", "EmailAddress", "EventType", "EventDate", "JobID", "ListID", "FirstName"} <= set(first)
    assert first["EventType"] in {"Open", "Click", "Bounce", "Unsubscribe"}
    assert (first["EventDate"] or "").startswith("3/")


async def test_statuses_and_list_members_content(sandbox: Sandbox, http: httpx.AsyncClient) -> None:
    ids = [await submit(http, sandbox, C3), await submit(http, sandbox, C8)]
    sandbox.clock.advance(60)
    await sandbox.queue.settle()
    rows = []
    for batch_id in ids:
        name = (await post(http, sandbox, inquire(batch_id))).findtext(".//filename")
        with zipfile.ZipFile(Path(sandbox.info.drop_dir) / str(name)) as zf:
            rows.append(etree.fromstring(zf.read(zf.namelist()[0])).findall("*/record"))
    statuses = {r.findtext("Status") for r in rows[0]}
    assert statuses <= {"Active", "Unsubscribed", "Undeliverable", "Returned"} and "Active" in statuses
    assert {r.findtext("ListID") for r in rows[0]} == {"40017"}
    assert {r.findtext("Status") for r in rows[1]} == {"Active"}  # search_status filter


async def test_multi_account_subfolder_and_determinism(tmp_path: Path, http: httpx.AsyncClient) -> None:
    """Two runs with one seed give the same batch and records; event dates follow each run's completion time.

    C5 has no date range, so its events fall in the week before the moment
    the export completed: two runs a moment apart may differ there and only
    there. Bytes for one completion
    instant are fixed: ``tests/unit/test_sandbox_data.py``.
    """
    runs = []
    for run in ("a", "b"):
        async with Sandbox(SandboxOptions(root=tmp_path / run, multi_account=True, seed=7, records=10,
                                          api_password=PASSWORD)) as sb:
            batch_id = await submit(http, sb, C5)
            sb.clock.advance(20)
            await sb.queue.settle()
            name = (await post(http, sb, inquire(batch_id))).findtext(".//filename")
            path = Path(sb.info.drop_dir) / "10012345" / str(name)
            with zipfile.ZipFile(path) as zf:
                root = etree.fromstring(zf.read(zf.namelist()[0]))
            dates = root.xpath("//EventDate")
            assert isinstance(dates, list) and len(dates) == 10
            for node in dates:
                assert isinstance(node, etree._Element)
                stamp = datetime.strptime(str(node.text), "%m/%d/%Y %I:%M:%S %p").replace(tzinfo=UTC)
                assert sb.clock.now() - timedelta(days=7, minutes=1) <= stamp <= sb.clock.now(), node.text
                node.text = "(this run's)"
            runs.append((batch_id, etree.tostring(root)))
    assert runs[0] == runs[1]


@pytest.mark.parametrize(("system", "code"), [
    (C1.replace("<daterange>\n    <startdate>3/1/2012</startdate>\n    <enddate>3/7/2012</enddate>\n  </daterange>", ""), 306),
    (C1.replace("3/7/2012", "2/7/2012"), 307),
    (C1.replace("3/7/2012", "2012-03-07"), 305),
    (C1.replace("3/7/2012", "13/40/2012"), 305),
    (C2.replace("<jobdaterange><startdate>4/2/2012</startdate><enddate>4/3/2012</enddate></jobdaterange>", ""), 306),
    (C2.replace("<enddate>4/3/2012</enddate>", "<enddate>4/1/2012</enddate>"), 307),
    (C3.replace("<search_value>40017</search_value>", "<search_value/>"), 309),
    (per_send("BulkAsync", "all_ToFTP", job=""), 308),
    (per_send("BulkAsync", "all_attributes_ToFTP", job=""), 308),
    (per_send("Sent_BulkAsync", "all_ToFTP", job=""), 308),
    (per_send("Sent_BulkAsync", "all_attributes_ToFTP", job="abc"), 308),
    (per_send("BulkAsync", "all_ToFTP",
              extra="<daterange><startdate>5/9/2012</startdate><enddate>5/1/2012</enddate></daterange>"), 307),
    (C8.replace("<search_value>40017</search_value>", ""), 309),
    (C8.replace("listid", "email"), 311),
    (C1.replace("tracking", "newsletter"), 303),
    (C1.replace("all_jobs_ToFTP", "everything_ToFTP"), 304),
    (C1.replace("BulkAsync", "Sync"), 304),
])
async def test_validation_errors(sandbox: Sandbox, http: httpx.AsyncClient, system: str, code: int) -> None:
    root = await post(http, sandbox, document(system))
    found = error_of(root)
    assert found is not None and found[0] == code, etree.tostring(root)
    assert found[1]
    assert len(sandbox.queue) == 0


async def test_zero_padded_dates_accepted(sandbox: Sandbox, http: httpx.AsyncClient) -> None:
    await submit(http, sandbox, C1.replace("3/1/2012", "03/01/2012").replace("3/7/2012", "03/07/2012"))


@pytest.mark.parametrize(("xml", "code"), [
    ("<exacttarget><authorization>", 301),
    ("not xml at all", 301),
    ('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><exacttarget>&e;</exacttarget>', 301),
    (document(C1, password="wrong"), 302),
    (document(C1, user="someone-else"), 302),
    (document(C1).replace("<authorization>", "<nothing>").replace("</authorization>", "</nothing>"), 302),
    (inquire(999), 310),
    (inquire("abc"), 310),
    (inquire(""), 310),
])
async def test_bad_requests_get_error_xml_with_200(sandbox: Sandbox, http: httpx.AsyncClient, xml: str, code: int) -> None:
    root = await post(http, sandbox, xml)
    found = error_of(root)
    assert found is not None and found[0] == code, etree.tostring(root)
    assert b"root:" not in etree.tostring(root)
    assert root.tag == "exacttarget" and root.find("system") is not None


async def test_wrong_password_error_is_inside_the_system_element(sandbox: Sandbox, http: httpx.AsyncClient) -> None:
    root = await post(http, sandbox, document(C3, password="nope"))
    assert root.find("system/subscriber/error") is not None
    root = await post(http, sandbox, document(C1.replace("3/7/2012", "2/1/2012")))
    assert root.find("system/tracking/error_description") is not None


async def test_missing_xml_field_and_raw_body(sandbox: Sandbox, http: httpx.AsyncClient) -> None:
    reply = await http.post(sandbox.info.xml_api_url, data={"qf": "xml"})
    assert reply.status_code == 200 and b"<error>301</error>" in reply.content
    reply = await http.get(sandbox.info.xml_api_url)
    assert reply.status_code == 200 and b"<error>301</error>" in reply.content


async def test_error_share_turns_jobs_to_error(sandbox: Sandbox, http: httpx.AsyncClient) -> None:
    sandbox.faults.error_share = 1.0
    batch_id = await submit(http, sandbox, C6)
    sandbox.clock.advance(30)
    await sandbox.queue.settle()
    root = await post(http, sandbox, inquire(batch_id))
    assert root.findtext("system/Batch/status") == "Error"
    assert root.find(".//filename") is None
    assert not any(Path(sandbox.info.drop_dir).iterdir())


async def test_many_inquiries_stay_cheap(sandbox: Sandbox, http: httpx.AsyncClient) -> None:
    batch_id = await submit(http, sandbox, C1)
    for _ in range(200):  # a fifth of the benchmark keeps the suite fast; the path is the same
        root = await post(http, sandbox, inquire(batch_id))
        assert root.findtext("system/Batch/status") == "Scheduled"


async def test_burst_of_jobs_gets_distinct_files(sandbox: Sandbox) -> None:
    batches = [sandbox.queue.submit("sent-send", {"job_id": "1"}, member_id="10012345", folder="/", records=2)
               for _ in range(30)]
    assert len({b.file_name for b in batches}) == 30
    sandbox.clock.advance(20)
    await sandbox.queue.settle()
    assert len(list(Path(sandbox.info.drop_dir).iterdir())) == 30
    assert all(b.status == "Complete" for b in batches)
