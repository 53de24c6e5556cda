"""CSV / JSON Lines export, the preview table, and constant memory on a big file."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import textwrap
import tracemalloc
from pathlib import Path

import pytest

from ettui.output import open_output
from ettui.output.export import WRITE_BATCH, export_csv, export_jsonl, export_output, format_table
from ettui.output.reader import OutputReader
from ettui.output.stream import OutputError


def source(tmp_path: Path, xml: str) -> OutputReader:
    path = tmp_path / "out.xml"
    path.write_text(xml, encoding="utf-8")
    return OutputReader(path)


TRICKY = (
    "<exacttarget><tracking>"
    "<record><Key>1</Key><Note>a, b</Note></record>"
    '<record><Key>2</Key><Note>say "hi"\nbye</Note></record>'
    "<record><Key>3</Key><Note>caf\u00e9 &amp; &lt;tag&gt;</Note></record>"
    "</tracking></exacttarget>"
)


def test_csv_quotes_and_round_trips(tmp_path: Path) -> None:
    dest = tmp_path / "out.csv"
    assert export_csv(source(tmp_path, TRICKY), dest) == 3
    with open(dest, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert rows == [["Key", "Note"], ["1", "a, b"], ["2", 'say "hi"\nbye'], ["3", "caf\u00e9 & <tag>"]]
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".part")] == []


def test_jsonl_has_one_object_per_record(tmp_path: Path) -> None:
    dest = tmp_path / "out.jsonl"
    assert export_jsonl(source(tmp_path, TRICKY), dest) == 3
    lines = dest.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines][1] == {"Key": "2", "Note": 'say "hi"\nbye'}
    assert "caf\u00e9" in lines[2]  # written as UTF-8, not \u escapes


@pytest.mark.parametrize("late_at", [3, 2500])
def test_csv_with_a_column_first_seen_late(tmp_path: Path, late_at: int) -> None:
    records = [f"<r><a>{i}</a><b/></r>" if i != late_at else f"<r><late>L</late><a>{i}</a></r>" for i in range(3000)]
    dest = tmp_path / "late.csv"
    assert export_csv(source(tmp_path, "<x>" + "".join(records) + "</x>"), dest) == 3000
    with open(dest, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["a", "b", "late"]
    assert all(len(r) == 3 for r in rows)
    assert rows[1] == ["0", "", ""]
    assert rows[late_at + 1] == [str(late_at), "", "L"]


def test_fast_csv_path_matches_csv_module() -> None:
    import io
    import random

    from ettui.output.export import _write_batch

    rng = random.Random(3)
    safe = ["a", "1", " ", "é", ""]
    for _ in range(200):
        alphabet = safe if rng.random() < 0.6 else [*safe, ",", '"', "\n", "\r"]
        width = rng.randrange(1, 4)
        batch = [["".join(rng.choices(alphabet, k=rng.randrange(3))) for _ in range(width)] for _ in range(5)]
        fast, plain = io.StringIO(), io.StringIO()
        _write_batch(fast, csv.writer(fast), batch)
        csv.writer(plain).writerows(batch)
        assert fast.getvalue() == plain.getvalue(), batch


def test_failed_export_leaves_nothing_that_looks_complete(tmp_path: Path) -> None:
    dest = tmp_path / "out.csv"
    dest.write_text("previous export\n")
    broken = source(tmp_path, "<x>" + "<r><a>1</a></r>" * 5000)  # cut short
    with pytest.raises(OutputError, match="not well-formed"):
        export_csv(broken, dest)
    assert dest.read_text() == "previous export\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv", "out.xml"]


def test_unwritable_destination_is_one_sentence(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="Could not write"):
        export_jsonl(source(tmp_path, TRICKY), tmp_path / "no-such-dir" / "out.jsonl")


# ------------------------------------------------- export_output: filter, progress


def many(count: int) -> str:
    return "<x>" + "".join(f"<r><n>{i}</n><kind>{'odd' if i % 2 else 'even'}</kind></r>" for i in range(count)) + "</x>"


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_export_output_writes_only_the_rows_the_predicate_keeps(tmp_path: Path, fmt: str) -> None:
    dest = tmp_path / f"out.{fmt}"
    kept = export_output(source(tmp_path, many(7)), dest, fmt, predicate=lambda row: row.get("kind") == "odd")
    assert kept == 3
    if fmt == "csv":
        with open(dest, newline="", encoding="utf-8") as f:
            assert list(csv.reader(f)) == [["n", "kind"], ["1", "odd"], ["3", "odd"], ["5", "odd"]]
    else:
        assert [json.loads(line)["n"] for line in dest.read_text(encoding="utf-8").splitlines()] == ["1", "3", "5"]


@pytest.mark.parametrize("kind", ["xml", "zipped csv"])
def test_export_progress_climbs_to_the_end(tmp_path: Path, kind: str) -> None:
    """The viewer's progress bar: the fraction read grows, never past 1, and ends at 1 with the row count."""
    import zipfile

    rows = 5 * WRITE_BATCH + 17
    if kind == "xml":
        path = tmp_path / "out.xml"
        path.write_text(many(rows), encoding="utf-8")
    else:
        path = tmp_path / "ops.zip"
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("Sent.csv", "n,kind\r\n" + "".join(f"{i},{'odd' if i % 2 else 'even'}\r\n" for i in range(rows)))
    told: list[tuple[int, float | None]] = []
    kept = export_output(
        open_output(path), tmp_path / "out.csv", predicate=lambda row: row["kind"] == "even",
        progress=lambda count, fraction: told.append((count, fraction)),
    )
    assert kept == (rows + 1) // 2
    assert told[-1] == (kept, 1.0)
    fractions = [f for _, f in told if f is not None]
    assert len(fractions) == len(told) >= 5 and all(0 <= f <= 1 for f in fractions)
    assert fractions == sorted(fractions)
    assert 0 < fractions[0] < 1, "the first figure came only at the end"
    assert [c for c, _ in told] == sorted(c for c, _ in told)


def test_export_output_refuses_an_unknown_format(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="'xlsx' is not supported; use csv or jsonl"):
        export_output(source(tmp_path, TRICKY), tmp_path / "out.xlsx", "xlsx")
    assert not (tmp_path / "out.xlsx").exists()


def test_format_table_truncates_to_width() -> None:
    rows = [{"Key": "1", "Email": "someone.with.a.long.address@example.com"}, {"Key": "22"}]
    text = format_table(rows, ["Key", "Email"], width=20)
    lines = text.splitlines()
    assert lines[0].startswith("Key  Email")
    assert all(len(line) <= 20 for line in lines)
    assert "…" in lines[2] and lines[3].rstrip() == "22"
    assert format_table([], [], 20) == "(no columns)\n"


# ------------------------------------------------------------- constant memory

RECORD = (
    "<record><SubscriberKey>{i:016x}</SubscriberKey><EmailAddress>user{i}@example.com</EmailAddress>"
    "<EventType>Open</EventType><EventDate>2024-05-01T10:00:00</EventDate></record>\n"
)


def big_file(path: Path, megabytes: int) -> int:
    """Write an output file of about ``megabytes`` MB, streaming; return its record count."""
    count = 0
    with open(path, "w", encoding="utf-8") as f:
        f.write("<exacttarget><tracking>\n")
        while f.tell() < megabytes * 1_000_000:
            f.write("".join(RECORD.format(i=count + k) for k in range(2000)))
            count += 2000
        f.write("</tracking></exacttarget>\n")
    return count


@pytest.fixture(scope="module")
def fifty_mb(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    path = tmp_path_factory.mktemp("big") / "big.xml"
    return path, big_file(path, 50)


def test_python_heap_stays_small_on_50_mb(fifty_mb: tuple[Path, int]) -> None:
    path, expected = fifty_mb
    reader = OutputReader(path)
    tracemalloc.start()
    try:
        seen = sum(1 for _ in reader.iter_values())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert seen == expected
    assert peak < 5_000_000, f"Python heap peaked at {peak} bytes"


def test_process_memory_stays_small_on_50_mb(fifty_mb: tuple[Path, int], tmp_path: Path) -> None:
    """libxml2's own allocations are invisible to tracemalloc, so measure peak RSS too."""
    path, expected = fifty_mb
    script = textwrap.dedent(
        f"""
        import resource, sys
        from pathlib import Path
        from ettui.output.reader import OutputReader
        from ettui.output.export import export_csv
        start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        n = export_csv(OutputReader(Path({str(path)!r})), Path({str(tmp_path / 'big.csv')!r}))
        print(n, start, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120)
    rows, start_kib, peak_kib = map(int, done.stdout.split())
    assert rows == expected
    # A tree kept whole would be several hundred MB for this file.
    assert peak_kib - start_kib < 30_000, f"peak RSS grew by {peak_kib - start_kib} KiB"
