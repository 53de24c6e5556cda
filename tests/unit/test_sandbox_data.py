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


def test_one_request_at_one_instant_gives_the_same_bytes(tmp_path: Path) -> None:
    """Determinism: the seed, the batch and the completion instant fix the output, byte for byte."""
    done = datetime(2026, 3, 9, 4, 30, tzinfo=UTC)
    outputs = []
    for name in ("a.zip", "b.zip"):
        request = OutputRequest(kind="tracking-send-attributes", params={"jobID": "8812345"}, batch_id=5, member_id="1",
                                seed=7, completed_at=done, member_name="out.xml", records=50, target_bytes=None)
        write_zip(tmp_path / name, request)
        with zipfile.ZipFile(tmp_path / name) as zf:
            outputs.append(zf.read("out.xml"))
    assert outputs[0] == outputs[1] and outputs[0].count(b"<record>") == 50
