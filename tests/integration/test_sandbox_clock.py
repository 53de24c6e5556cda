"""The sandbox's fast clock applies only while fast runs last (issue 11.6), across real sandbox runs on one root.

A ``time_scale`` run used to leave the root's clock 22 h ahead for good: the next
normal run showed files 22 h in the future (``AGE -22h``) and batches done
"tomorrow". Now a normal run starts at the wall clock and first brings the fast
runs' stored stamps (the batch journal, the drop files' mtimes) back to real time;
fast runs still share one timeline between processes.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ettui.sandbox import Sandbox, SandboxOptions

LEAD = 22 * 3600.0
SLACK = timedelta(minutes=5)
"""How far two readings of "now" on this machine may be apart: generous, it only separates "now" from "22 h ahead"."""


def options(root: Path, scale: float) -> SandboxOptions:
    return SandboxOptions(root=root, time_scale=scale, scheduled_seconds=1, processing_seconds=1,
                          sweep_interval_seconds=3600)


async def finished_batch(sb: Sandbox) -> tuple[int, Path]:
    """A batch submitted and completed on ``sb``'s clock; its drop file."""
    batch = sb.queue.submit("tracking-all-jobs", {}, member_id=sb.info.member_id, folder="/")
    sb.clock.advance(60)
    sb.queue.refresh_all()
    await sb.queue.settle_writes()
    done = sb.queue.get(batch.batch_id)
    assert done is not None and done.status == "Complete" and done.file_name
    return batch.batch_id, sb.drop_dir / done.file_name


async def test_a_normal_run_after_a_fast_one_sees_real_time(tmp_path: Path) -> None:
    root = tmp_path / "sb"
    began = time.time()
    async with Sandbox(options(root, 3600)) as fast:
        fast.clock.advance(LEAD)  # what 22 real seconds at 3600x do, without the wait
        batch_id, zip_path = await finished_batch(fast)
    # The fast run's own stamps are on its clock: 22 h ahead (so the check below can fail).
    assert zip_path.stat().st_mtime > time.time() + LEAD - 3600
    submitted = [json.loads(line) for line in (root / "batches.jsonl").read_text().splitlines()]
    assert datetime.fromisoformat(submitted[0]["submitted_at"]) > datetime.now(UTC) + timedelta(hours=21)

    async with Sandbox(options(root, 1)) as normal:
        now = datetime.now(UTC)
        assert abs(normal.clock.now() - now) < SLACK, "the clock is the wall clock again"
        mtime = zip_path.stat().st_mtime
        assert began - 1 <= mtime <= time.time(), "the file is dated when it really arrived"
        batch = normal.queue.get(batch_id)
        assert batch is not None and batch.status == "Complete"
        assert datetime.fromtimestamp(began - 1, UTC) <= batch.submitted_at <= now
        assert batch.due_at <= now, "a batch the fast run finished is not done 'tomorrow'"
        # The normal run's own files are stamped on the real clock too.
        _, second = await finished_batch(normal)
        assert abs(second.stat().st_mtime - time.time()) < SLACK.total_seconds() + 60
    async with Sandbox(options(root, 1)) as again:  # and it stays so: nothing is taken back twice
        assert abs(again.clock.now() - datetime.now(UTC)) < SLACK
        assert began - 1 <= zip_path.stat().st_mtime <= time.time()


async def test_fast_runs_still_share_one_timeline(tmp_path: Path) -> None:
    root = tmp_path / "sb"
    async with Sandbox(options(root, 3600)) as first:
        first.clock.advance(LEAD)
        batch_id, _ = await finished_batch(first)
        left_at = first.clock.now()
    async with Sandbox(options(root, 3600)) as second:
        assert second.clock.now() >= left_at, "a fast run carries on from where the last one left the clock"
        batch = second.queue.get(batch_id)
        assert batch is not None and batch.status == "Complete" and batch.due_at <= second.clock.now()
