"""The sandbox's synthetic output stays plausible: no activity after the export ran."""

from __future__ import annotations

import zipfile
from datetime import UTC, datetime
from pathlib import Path

from lxml import etree

from ettui.sandbox.data import OutputRequest, write_zip


def test_events_of_a_range_ending_today_stop_at_completion(tmp_path: Path) -> None:
    done = datetime(2026, 3, 9, 4, 30, tzinfo=UTC)
    request = OutputRequest(
        kind="tracking-all-jobs",
        params={"startdate": "3/2/2026", "enddate": "3/9/2026"},
        batch_id=1,
        member_id="10012345",
        seed=7,
        completed_at=done,
        member_name="out.xml",
        records=300,
        target_bytes=None,
    )
    write_zip(tmp_path / "out.zip", request)
    with zipfile.ZipFile(tmp_path / "out.zip") as zf:
        root = etree.fromstring(zf.read("out.xml"))
    texts = root.xpath("//EventDate/text()")
    assert isinstance(texts, list)
    stamps = [datetime.strptime(str(t), "%m/%d/%Y %I:%M:%S %p").replace(tzinfo=UTC) for t in texts]
    assert len(stamps) == 300
    assert max(stamps) <= done
    assert min(stamps) >= datetime(2026, 3, 2, tzinfo=UTC)
