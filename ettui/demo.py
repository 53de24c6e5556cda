"""``ettui demo``: the whole job, headless, on the embedded sandbox.

It runs exactly the code a real account runs: the session submits over HTTP,
the poller inquires until Complete, the drop client downloads over SFTP, the
zip is verified and extracted, and the output reader shows the first records.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
from datetime import timedelta
from pathlib import Path

from ettui import config as config_mod
from ettui.errors import EttuiError, ExitCode
from ettui.model import BatchRequest, JobStatus


def _request(dialect: str, today: str, week_ago: str) -> BatchRequest:
    if dialect == "soap":
        return BatchRequest(
            "tracking-extract",
            {"StartDate": week_ago, "EndDate": today, "OutputFileName": "ettui_demo_tracking.zip"},
        )
    return BatchRequest("C1", {"start_date": week_ago, "end_date": today})


async def run_demo(args: argparse.Namespace) -> int:
    """Submit a C1 (or a SOAP tracking extract), poll, fetch, verify, extract, preview."""
    from ettui.safetext import clean
    from ettui.sandbox import SandboxOptions
    from ettui.session import Session

    with tempfile.TemporaryDirectory(prefix="ettui-demo-") as tmp:
        root = Path(args.root).expanduser() if args.root else Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        profile = dataclasses.replace(
            config_mod.sandbox_profile(args.api),
            download_dir=str(root / "downloads"),
            poll_initial=0.2,
            poll_max=1.0,
        )
        cfg = config_mod.Config(path=root / "none.toml", exists=False, default_profile=profile.name,
                                profiles={profile.name: profile})
        options = SandboxOptions(root=root / "sandbox", scheduled_seconds=0.5, processing_seconds=1.0, records=500)
        def say(text: str) -> None:
            if not args.json:
                print(clean(text), flush=True)  # file names and output cells: terminal-safe

        session = await Session.open(cfg, store_path=root / "jobs.sqlite3", sandbox_options=options)
        try:
            now = session.clock.now()
            today = f"{now.month}/{now.day}/{now.year}"
            before = now - timedelta(days=7)
            week_ago = f"{before.month}/{before.day}/{before.year}"
            request = _request(args.api, today, week_ago)
            say(f"sandbox   {session.profile.endpoint if args.api == 'xml' else session.profile.soap_url}")
            job = await session.submit(request)
            say(f"submitted {request.call} -> batch {job.batch_id}")
            (job,) = await session.wait_until_terminal([job.id], timeout=60)
            for change in job.history:
                say(f"  {change.at:%H:%M:%S}  {change.status_raw}")
            if job.status is not JobStatus.COMPLETE:
                raise EttuiError(f"Batch {job.batch_id} ended in {job.status_raw}: {job.last_error or 'no reason given'}.")
            outcome = await session.fetch(job, dest=root / "downloads")
            say(f"file      {outcome.zip_path.name} ({outcome.size:,} bytes, zip verified)")
            say(f"sha256    {outcome.sha256}")
            data_file = outcome.files[0]
            reader = session.open_output(data_file)
            count = reader.count()
            rows = list(reader.iter_rows(limit=3))
            say(f"records   {count:,} <{reader.record_tag}> in {data_file.name}")
            for row in rows:
                say("  " + ", ".join(f"{k}={v}" for k, v in list(row.items())[:5]))
            if args.json:
                print(json.dumps({
                    "batch_id": job.batch_id,
                    "status": job.status.value,
                    "file": outcome.zip_path.name,
                    "size": outcome.size,
                    "sha256": outcome.sha256,
                    "records": count,
                    "record_element": reader.record_tag,
                    "first_records": rows,
                }))
            return ExitCode.OK
        finally:
            await session.close()
