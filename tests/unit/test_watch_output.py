"""How ``ettui watch`` lines look: stdout for events, stderr for problems, journald priorities, JSON."""

from __future__ import annotations

import io
import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ettui.cli_watch import EventPrinter
from ettui.watch import VENDOR_NAME, WatchEvent

AT = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
FETCHED = WatchEvent("fetched", "prod", "Fetched a.zip (10 bytes, sha256 ab).", AT, batch_id="552210", details={"sha256": "ab"})
FAILED = WatchEvent("failed", "prod", "Fetching a.zip failed: gone.", AT, level="error")


def test_plain_lines_events_on_stdout_problems_on_stderr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JOURNAL_STREAM", raising=False)
    out, err = io.StringIO(), io.StringIO()
    printer = EventPrinter(as_json=False, out=out, err=err)
    printer(FETCHED)
    printer(FAILED)
    assert out.getvalue() == "2026-01-02 03:04:05 prod fetched: Fetched a.zip (10 bytes, sha256 ab).\n"
    assert err.getvalue() == "2026-01-02 03:04:05 prod failed: Fetching a.zip failed: gone.\n", "no colour off a terminal"


def test_json_lines_with_problems_also_on_stderr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JOURNAL_STREAM", raising=False)
    out, err = io.StringIO(), io.StringIO()
    printer = EventPrinter(as_json=True, out=out, err=err)
    printer(FETCHED)
    printer(FAILED)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [(e["event"], e["level"], e["batch_id"]) for e in lines] == [("fetched", "info", "552210"), ("failed", "error", None)]
    assert lines[0]["sha256"] == "ab" and lines[0]["at"] == AT.isoformat()
    assert err.getvalue().count("\n") == 1 and "failed" in err.getvalue()


def test_under_journald_each_line_carries_its_syslog_priority(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with open(tmp_path / "journal", "w") as journal:
        st = os.fstat(journal.fileno())
        monkeypatch.setenv("JOURNAL_STREAM", f"{st.st_dev}:{st.st_ino}")
        printer = EventPrinter(as_json=False, out=journal, err=journal)
        printer(FETCHED)
        printer(FAILED)
    assert (tmp_path / "journal").read_text().splitlines() == [
        "<6>prod fetched: Fetched a.zip (10 bytes, sha256 ab).",
        "<3>prod failed: Fetching a.zip failed: gone.",
    ]


def test_the_vendor_name_pattern() -> None:
    assert VENDOR_NAME.fullmatch("bulkasync_68652290_20051005141044465_1.zip")
    assert VENDOR_NAME.fullmatch("BULKASYNC_1_20051005141044465_12.ZIP")
    for name in ("bulkasync_68652290_2005100514104446_1.zip", "bulkasync_x_20051005141044465_1.zip", "ops.zip",
                 "bulkasync_68652290_20051005141044465_1.zip.part"):
        assert not VENDOR_NAME.fullmatch(name), name
