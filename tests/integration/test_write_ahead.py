"""Write-ahead submits against a service that throttles, delays, times out and is killed mid-exchange.

The sandbox is the service; ``FaultProxy`` (127.0.0.1) sits in front of it.
For every submit the service received there must be a job in the store,
Scheduled or Unconfirmed, and no message may promise what does not happen.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ettui import config
from ettui.config import Profile, SecretSource
from ettui.errors import SubmitUnconfirmed, ThrottledError
from ettui.jobs.base import open_store
from ettui.jobs.store import JobStore
from ettui.model import BatchRequest, Job, JobStatus
from ettui.sandbox import Sandbox, SandboxOptions
from ettui.session import Session, SubmitWait
from tests.integration.faultproxy import FaultProxy


@pytest.fixture
async def sandbox(tmp_path: Path) -> AsyncIterator[Sandbox]:
    async with Sandbox(SandboxOptions(root=tmp_path / "sb", scheduled_seconds=0.2, processing_seconds=0.2)) as sb:
        yield sb


@pytest.fixture
async def proxy(sandbox: Sandbox) -> AsyncIterator[FaultProxy]:
    upstream = "/".join(sandbox.info.xml_api_url.split("/", 3)[:3])
    async with FaultProxy(upstream) as p:
        yield p


def profile_via(proxy: FaultProxy, sb: Sandbox, dialect: str = "xml", **overrides: object) -> Profile:
    """A real-account profile whose API goes through the proxy."""
    info = sb.info
    values: dict[str, object] = dict(
        name="acct", sandbox=False,
        endpoint=proxy.url(info.xml_api_url), soap_url=proxy.url(info.soap_url),
        api_username=info.api_username, api_password=SecretSource(literal=info.api_password),
        member_id=info.member_id, poll_initial=0.05, poll_max=0.2, read_timeout=5.0,
    )
    values.update(overrides)
    return dataclasses.replace(config.sandbox_profile(dialect), **values)  # type: ignore[arg-type]


def cfg(tmp_path: Path, profile: Profile) -> config.Config:
    return config.Config(path=tmp_path / "none.toml", exists=False, default_profile=profile.name,
                         profiles={profile.name: profile})


def request_for(dialect: str) -> BatchRequest:
    if dialect == "soap":
        return BatchRequest("tracking-extract", {"StartDate": "-7d", "EndDate": "today", "OutputFileName": "t.zip"})
    return BatchRequest("C3", {})


@pytest.mark.parametrize("dialect", ["xml", "soap"])
async def test_a_throttled_submit_is_retried_to_acceptance_and_recorded_once(
    tmp_path: Path, sandbox: Sandbox, proxy: FaultProxy, dialect: str
) -> None:
    proxy.throttle_submits = 2
    store = tmp_path / "jobs.sqlite3"
    session = await Session.open(cfg(tmp_path, profile_via(proxy, sandbox, dialect)), store_path=store, start_poller=False)
    waits: list[SubmitWait] = []
    notes: list[str] = []
    session.subscribe(lambda e: notes.append(e.note) if e.kind == "submitting" and e.note else None)
    try:
        job = await session.submit(request_for(dialect), on_wait=waits.append)
    finally:
        await session.close()
    assert job.status is JobStatus.SCHEDULED and job.batch_id
    assert [(w.attempt, w.retries) for w in waits] == [(1, 4), (2, 4)]
    assert all(isinstance(w.error, ThrottledError) for w in waits)
    assert notes == ["Submitting", "Submitting (retry 1 of 4)", "Submitting (retry 2 of 4)"]
    assert proxy.throttled == 2 and proxy.forwarded_submits == 1
    with JobStore(store) as s:
        (stored,) = s.list()
        assert stored.batch_id == job.batch_id
        assert [h.status for h in s.get(stored.id).history] == [JobStatus.UNCONFIRMED, JobStatus.SCHEDULED]  # type: ignore[union-attr]


async def test_a_submit_throttled_past_its_retries_leaves_no_job_and_says_so(
    tmp_path: Path, sandbox: Sandbox, proxy: FaultProxy
) -> None:
    proxy.throttle_submits = 10
    store = tmp_path / "jobs.sqlite3"
    profile = profile_via(proxy, sandbox, submit_retries=1)
    session = await Session.open(cfg(tmp_path, profile), store_path=store, start_poller=False)
    try:
        with pytest.raises(ThrottledError) as caught:
            await session.submit(request_for("xml"))
    finally:
        await session.close()
    assert "nothing was submitted" in caught.value.message and "backs off" not in caught.value.message
    assert proxy.throttled == 2 and proxy.forwarded_submits == 0
    with JobStore(store) as s:
        assert s.count() == 0


async def test_a_reply_timeout_after_queueing_leaves_an_unconfirmed_job_to_resubmit(
    tmp_path: Path, sandbox: Sandbox, proxy: FaultProxy
) -> None:
    proxy.hold_replies = True
    store = tmp_path / "jobs.sqlite3"
    profile = profile_via(proxy, sandbox, read_timeout=0.5)
    session = await Session.open(cfg(tmp_path, profile), store_path=store, start_poller=False)
    try:
        with pytest.raises(SubmitUnconfirmed) as caught:
            await session.submit(request_for("xml"))
        assert proxy.forwarded_submits == 1, "the service queued it"
        job = caught.value.job
        sentence = caught.value.message
        assert f"Job {job.id}" in sentence and "may have accepted" in sentence
        assert "resubmit" in sentence and "dismiss" in sentence
        stored = await session.job(job.id)
        assert stored is not None and stored.status is JobStatus.UNCONFIRMED and stored.batch_id is None
        assert stored.last_error and sandbox.info.api_password not in stored.request_doc
        proxy.hold_replies = False
        again = await session.resubmit(job.id)
        assert again.status is JobStatus.SCHEDULED and again.replaces_id == job.id
        old = await session.job(job.id)
        assert old is not None and old.status is JobStatus.DISMISSED
    finally:
        proxy.release.set()
        await session.close()


def _write_config(tmp_path: Path, proxy: FaultProxy, sb: Sandbox) -> Path:
    info = sb.info
    values = {
        "endpoint": proxy.url(info.xml_api_url),
        "api_username": info.api_username,
        "api_password_env": "ET_TEST_API_PW",
        "read_timeout": 60.0,
        "poll_initial": 0.1,
        "poll_max": 0.5,
    }
    lines = ['default_profile = "acct"', "[profiles.acct]"] + [f"{k} = {json.dumps(v)}" for k, v in values.items()]
    path = tmp_path / "config.toml"
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)
    return path


async def _stored_jobs(config_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch) -> list[Job]:
    """The jobs in the CLI's store (its HOME's), on whichever backend the config (or the test pass) gives it."""
    monkeypatch.setenv("ETTUI_HOME", str(home))
    store = await open_store(config.load(config_path))
    try:
        return await store.list()
    finally:
        await store.aclose()


@pytest.mark.parametrize("when", ["before the reply", "after the reply"])
async def test_a_killed_submit_leaves_a_job_for_every_submit_the_service_received(
    tmp_path: Path, sandbox: Sandbox, proxy: FaultProxy, when: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy.hold_replies = True
    config_path = _write_config(tmp_path, proxy, sandbox)
    env = {**os.environ, "ETTUI_HOME": str(tmp_path / "home"), "ET_TEST_API_PW": sandbox.info.api_password}
    for _ in range(2):
        proxy.forwarded.clear()
        proxy.replied.clear()
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "ettui", "--config", str(config_path), "submit", "C3",
            env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        await asyncio.wait_for(proxy.forwarded.wait(), 60)  # the service has queued it; no reply yet
        if when == "after the reply":
            proxy.release.set()
            await asyncio.wait_for(proxy.replied.wait(), 60)
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
        proxy.release.clear()
    jobs = await _stored_jobs(config_path, tmp_path / "home", monkeypatch)
    assert proxy.forwarded_submits == 2
    assert len(jobs) == 2, "a job for every submit the service received"
    assert {j.status for j in jobs} <= {JobStatus.UNCONFIRMED, JobStatus.SCHEDULED}
    if when == "before the reply":
        assert {j.status for j in jobs} == {JobStatus.UNCONFIRMED}
    assert all(sandbox.info.api_password not in j.request_doc for j in jobs)


async def test_an_interrupted_submit_names_the_job_it_leaves(
    tmp_path: Path, sandbox: Sandbox, proxy: FaultProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy.hold_replies = True
    config_path = _write_config(tmp_path, proxy, sandbox)
    env = {**os.environ, "ETTUI_HOME": str(tmp_path / "home"), "ET_TEST_API_PW": sandbox.info.api_password}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "ettui", "--config", str(config_path), "submit", "C3",
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    await asyncio.wait_for(proxy.forwarded.wait(), 60)
    proc.send_signal(signal.SIGINT)  # Ctrl+C while the reply is on its way
    _, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode != 0
    text = err.decode()
    (job,) = await _stored_jobs(config_path, tmp_path / "home", monkeypatch)
    assert job.status is JobStatus.UNCONFIRMED
    assert f"Job {job.id}" in text and f"ettui jobs dismiss {job.id}" in text, text
