"""Write an output file's rows as CSV or JSON Lines, and format a preview table.

Exports stream: memory stays constant whatever the file size, and the
destination appears only complete (written to a temp file beside it, then
``os.replace``), so a crash or a full disk never leaves a half file that looks
finished.

**Columns found late (CSV).** The header must come first, but a column may first
appear in row 900,000. Two full passes would double the parse, the dominant cost;
instead the export holds the first ``HEADER_AFTER`` rows in memory (bounded),
writes the header with the columns known by then, and streams the rest. Real
files show every column in the first record, so that is the only pass. If a
column does show up later, the rows keep their positions (a column's index never
changes), and at the end the temp file is rewritten once with the full header
and every short row padded: still constant memory, and the cost is paid only by
files that need it.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any

from ettui.output.base import Row, RowReader
from ettui.output.stream import OutputError
from ettui.safetext import clean

Predicate = Callable[[Row], bool]
"""Which rows an export keeps (the viewer's filter)."""
ExportProgress = Callable[[int, float | None], None]
"""Told (rows kept so far, fraction of the file read or None) every ``WRITE_BATCH`` rows read, and at the end."""

HEADER_AFTER = 1000
"""Rows read before the CSV header is written (so early late-columns cost nothing)."""

WRITE_BATCH = 2000
"""Rows handed to ``csv.writer.writerows`` at once (fewer Python-level calls)."""


def _temp_beside(dest: Path, tag: str = "") -> Path:
    """A temp path in the destination's folder, so ``os.replace`` is atomic."""
    return dest.with_name(f".{dest.name}.{os.getpid()}{tag}.part")


def _write_error(dest: Path, exc: OSError) -> OutputError:
    reason = exc.strerror or str(exc)
    return OutputError(f"Could not write {dest}: {reason}; free some space or choose another folder.")


@contextlib.contextmanager
def _atomic(dest: Path) -> Iterator[Path]:
    """A temp path beside ``dest``, renamed over it only when the body succeeds.

    A failure leaves ``dest`` untouched and the temp removed; a write error
    becomes one sentence naming ``dest``.
    """
    temp = _temp_beside(dest)
    try:
        yield temp
        os.replace(temp, dest)
    except OSError as exc:
        temp.unlink(missing_ok=True)
        raise _write_error(dest, exc) from exc
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def _padded(rows: Iterable[list[str]], width: int) -> Iterator[list[str]]:
    """Rows made exactly ``width`` long (short rows predate columns seen later)."""
    for row in rows:
        if len(row) < width:
            row = row + [""] * (width - len(row))
        yield row


def _values(reader: RowReader, predicate: Predicate | None, progress: ExportProgress | None) -> Iterator[list[str]]:
    """The values (in ``columns`` order) of the rows ``predicate`` keeps, telling ``progress`` as rows are read."""
    if predicate is None and progress is None:
        yield from reader.iter_values()  # the fast path: no dict per row
        return
    kept = 0
    if predicate is None:
        for read, values in enumerate(reader.iter_values(), 1):
            if progress is not None and read % WRITE_BATCH == 0:
                progress(read, reader.fraction_read)
            kept = read
            yield values
    else:
        for read, row in enumerate(reader.iter_rows(), 1):
            if progress is not None and read % WRITE_BATCH == 0:
                progress(kept, reader.fraction_read)
            if predicate(row):
                kept += 1
                columns = reader.columns  # only ever appended to: a column's index never changes
                yield [row.get(name, "") for name in columns]
    if progress is not None:
        progress(kept, 1.0)


def export_csv(
    reader: RowReader, dest: Path, *, predicate: Predicate | None = None, progress: ExportProgress | None = None
) -> int:
    """Write the rows of ``reader`` (those ``predicate`` keeps) to ``dest`` as CSV with a header; return the count.

    Raises:
        OutputError: the source cannot be read or ``dest`` cannot be written;
            ``dest`` is then left untouched.
    """
    dest = Path(dest)
    rows_written = 0
    with _atomic(dest) as temp:
        with open(temp, "w", newline="", encoding="utf-8") as out:
            writer = csv.writer(out)
            values = _values(reader, predicate, progress)
            head: list[list[str]] = []
            for row in values:
                head.append(row)
                if len(head) >= HEADER_AFTER:
                    break
            header = reader.columns
            writer.writerow(header)
            writer.writerows(_padded(head, len(header)))
            rows_written = len(head)
            del head
            batch: list[list[str]] = []
            for row in values:
                batch.append(row)
                if len(batch) >= WRITE_BATCH:
                    _write_batch(out, writer, batch)
                    rows_written += len(batch)
                    batch = []
            _write_batch(out, writer, batch)
            rows_written += len(batch)
        final_columns = reader.columns
        if len(final_columns) > len(header):
            _rewrite_header(temp, dest, final_columns)
    return rows_written


_NEEDS_QUOTES = (",", '"', "\r", "\n")


def _write_batch(out: IO[str], writer: Any, batch: list[list[str]]) -> None:
    """Write ``batch`` as CSV exactly as ``csv.writer`` would, faster when nothing needs quoting.

    Most output values are keys, numbers and dates: the batch is joined with
    the control characters US/RS (which XML 1.0 cannot carry, so no value holds
    them) and, if no value needs quoting, the separators become "," and "\r\n"
    in a few C-level passes instead of per-field Python work.
    """
    if not batch:
        return
    blob = "\x1e".join(["\x1f".join(row) for row in batch])
    if min(map(len, batch)) < 2 or any(ch in blob for ch in _NEEDS_QUOTES):
        writer.writerows(batch)  # a single-column row of "" must become '""' too
        return
    out.write(blob.replace("\x1f", ",").replace("\x1e", "\r\n"))
    out.write("\r\n")


def _rewrite_header(temp: Path, dest: Path, columns: list[str]) -> None:
    """Replace ``temp``'s header with ``columns`` and pad its rows (the rare late-column case)."""
    second = _temp_beside(dest, ".wide")
    try:
        with open(temp, newline="", encoding="utf-8") as old, open(second, "w", newline="", encoding="utf-8") as new:
            rows = csv.reader(old)
            next(rows, None)
            writer = csv.writer(new)
            writer.writerow(columns)
            width = len(columns)
            writer.writerows(r + [""] * (width - len(r)) if len(r) < width else r for r in rows)
        os.replace(second, temp)
    except BaseException:
        second.unlink(missing_ok=True)
        raise


def export_jsonl(
    reader: RowReader, dest: Path, *, predicate: Predicate | None = None, progress: ExportProgress | None = None
) -> int:
    """Write the rows of ``reader`` (those ``predicate`` keeps) to ``dest``, one JSON object per line; return the count.

    A row holds only the columns its record has, so late columns need no second pass.

    Raises:
        OutputError: the source cannot be read or ``dest`` cannot be written.
    """
    dest = Path(dest)
    with _atomic(dest) as temp:
        with open(temp, "w", encoding="utf-8", newline="\n") as out:
            return _write_jsonl(reader, out, predicate, progress)


def _write_jsonl(reader: RowReader, out: IO[str], predicate: Predicate | None, progress: ExportProgress | None) -> int:
    encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    count = 0
    for batch in reader.batches(WRITE_BATCH):
        kept = batch if predicate is None else [row for row in batch if predicate(row)]
        out.write("".join(encode(row) + "\n" for row in kept))
        count += len(kept)
        if progress is not None:
            progress(count, reader.fraction_read)
    if progress is not None:
        progress(count, 1.0)
    return count


EXPORTERS = {"csv": export_csv, "jsonl": export_jsonl}
"""Export formats by name."""


def export_output(
    reader: RowReader, dest: Path, fmt: str = "csv", *, predicate: Predicate | None = None,
    progress: ExportProgress | None = None,
) -> int:
    """Write the rows of ``reader`` that ``predicate`` keeps (every row when None) to ``dest`` as ``fmt``.

    Streams in constant memory; ``dest`` appears only complete. ``progress``
    hears (rows written, fraction of the file read) every ``WRITE_BATCH``
    rows read and once at the end. Returns the number of rows written.

    Raises:
        OutputError: an unknown format, an unreadable source, or a ``dest``
            that cannot be written (left untouched then).
    """
    exporter = EXPORTERS.get(fmt)
    if exporter is None:
        raise OutputError(f"Export format {fmt!r} is not supported; use {' or '.join(EXPORTERS)}.")
    return exporter(reader, dest, predicate=predicate, progress=progress)


# ------------------------------------------------------------------- table


def _cell_width(text: str) -> int:
    """Terminal columns ``text`` takes (wide East-Asian characters count double)."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _safe(text: str) -> str:
    # CRLF inside a quoted cell is ordinary data; a lone CR is not and stays visible.
    return clean(text.replace("\r\n", "\n"), multiline=True)


def _fit(text: str, width: int) -> str:
    """``text`` on one line, cut to ``width`` columns with an ellipsis, padded to ``width``."""
    text = " ".join(text.split()) if any(c in text for c in "\r\n\t") else text
    if _cell_width(text) > width:
        out, used = [], 0
        for ch in text:
            w = _cell_width(ch)
            if used + w > width - 1:
                break
            out.append(ch)
            used += w
        text = "".join(out) + "…"
    return text + " " * (width - _cell_width(text))


def _shrink(widths: list[int], budget: int) -> list[int]:
    """``widths`` with the widest cut first, one cell at a time, until they fit ``budget``.

    The result of taking one from the first widest column until the sum fits
    (never below 3), computed directly: the step-by-step loop costs columns x
    excess, which for an output with 20,000 columns (a 700 KB file) ran for
    minutes. ``budget`` is at least 3 per column, so a level of 3 always fits.
    """
    if sum(widths) <= budget:
        return widths

    def fitted(level: int) -> int:
        return sum(min(w, level) for w in widths)

    low, high = 3, max(widths)  # fitted(low) <= budget < fitted(high)
    while high - low > 1:
        mid = (low + high) // 2
        if fitted(mid) <= budget:
            low = mid
        else:
            high = mid
    # Every column wider than ``low`` stands at ``low + 1``; the first ``excess`` of them
    # (in column order, as the widest-first loop takes them) give up one more.
    excess = fitted(low + 1) - budget
    out = []
    for w in widths:
        if w > low:
            out.append(low if excess > 0 else low + 1)
            excess -= 1
        else:
            out.append(w)
    return out


def format_table(rows: Sequence[dict[str, str]], columns: Sequence[str], width: int = 100) -> str:
    """Plain-text table of ``rows`` for ``ettui preview --format table``.

    Columns get their content's width, capped; when the total exceeds ``width``
    the widest columns shrink first and cells are cut with "…". Missing cells
    are blank. The table is for a terminal, so every cell and column name goes
    through :func:`ettui.safetext.clean` (line breaks inside a cell become spaces).
    """
    gap = "  "
    if not columns:
        return "(no columns)\n"
    columns = [_safe(c) for c in columns]
    rows = [{_safe(k): _safe(v) for k, v in row.items()} for row in rows]
    widths = [_cell_width(c) for c in columns]
    for row in rows:
        for i, name in enumerate(columns):
            widths[i] = max(widths[i], min(_cell_width(row.get(name, "")), 60))
    budget = max(width - len(gap) * (len(columns) - 1), 3 * len(columns))
    widths = _shrink(widths, budget)
    lines = [gap.join(_fit(c, w) for c, w in zip(columns, widths, strict=True)).rstrip()]
    lines.append(gap.join("-" * w for w in widths))
    for row in rows:
        lines.append(gap.join(_fit(row.get(c, ""), w) for c, w in zip(columns, widths, strict=True)).rstrip())
    return "\n".join(lines) + "\n"
