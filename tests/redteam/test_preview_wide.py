"""An output of 20,000 columns (a 700 KB file) kept ``ettui preview`` busy for minutes.

The table's column-shrinking loop took one cell from the widest column per
step, scanning every column each time: columns x excess steps.
"""

from __future__ import annotations

import time
from pathlib import Path

from ettui.output.export import format_table
from tests.hostile.hostile import run_cli


def _wide(path: Path, columns: int, rows: int = 3) -> Path:
    row = "<row>" + "".join(f"<c{i}>v</c{i}>" for i in range(columns)) + "</row>"
    path.write_text('<?xml version="1.0"?><r>' + row * rows + "</r>")
    return path


def test_preview_of_twenty_thousand_columns_finishes(tmp_path: Path) -> None:
    done = run_cli(["preview", str(_wide(tmp_path / "wide.xml", 20_000))], tmp_path / "home", timeout=30)
    assert done.returncode == 0, done.stderr
    header = done.stdout.splitlines()[0]
    assert header.startswith(b"c0  c1  c2")


def test_the_shrunk_table_is_what_the_widest_first_rule_gives() -> None:
    columns = ["a", "bb", "c"]
    rows = [{"a": "x" * 50, "bb": "y" * 40, "c": "z"}]
    started = time.monotonic()
    table = format_table(rows, columns, width=40)
    assert time.monotonic() - started < 1
    rule = table.splitlines()[1]
    # 40 - 2 gaps of 2 = 36 cells: 50/40/1 shrink widest-first (ties: the first column first) to 17/18/1
    assert [len(part) for part in rule.split("  ")] == [17, 18, 1]
    assert all(len(line) <= 40 for line in table.splitlines())
