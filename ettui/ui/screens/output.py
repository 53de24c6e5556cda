"""The output viewer: an extracted XML output as a table, loaded lazily, filterable, exportable.

A thread worker streams rows from ``Session.open_output`` in batches and posts
one message per batch. It reads only as far ahead as the cursor needs
(``LOOKAHEAD`` rows), so a 300 MB file shows its first rows at once and
never holds more than what was scrolled through. A filter restarts the
stream with a predicate, scanning the whole file in the background.

``e`` exports the rows the filter keeps (every row without one) to CSV beside
the output, with a progress bar (its updates merge: ``can_replace``); an
existing file is replaced only when the user says so.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Protocol, cast

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Input, ProgressBar, Static
from textual.worker import get_current_worker

from ettui.errors import EttuiError
from ettui.safetext import clean, clean_text
from ettui.ui.filtering import FilterError, Query
from ettui.ui.formatting import plural
from ettui.ui.widgets.table import Cell, Column, RowKey, VirtualTable

if TYPE_CHECKING:
    from ettui.output.base import Row, RowReader
    from ettui.output.export import ExportProgress, Predicate

BATCH = 500
"""Rows per message from the reading thread."""
LOOKAHEAD = 2000
"""Rows read beyond the cursor before the reader waits."""
MAX_COLUMN_WIDTH = 40


class OutputSource(Protocol):
    """The part of ``Session`` the viewer uses."""

    def open_output(self, path: Path) -> RowReader: ...

    def export_output(
        self, path: Path, dest: Path, fmt: str = "csv", *,
        predicate: Predicate | None = None, progress: ExportProgress | None = None,
    ) -> int: ...


def keeps(query: Query) -> Predicate:
    """The rows ``query`` keeps: its words anywhere in the row, ``Column:value`` by (case-blind) column name."""

    def predicate(row: Row) -> bool:
        return query.matches(" ".join(row.values()), {k.lower(): v for k, v in row.items()})

    return predicate


def export_destination(output: Path) -> Path:
    """Where ``e`` writes: ``<name>.csv`` beside the output, or ``<name>.export.csv`` when the output is that CSV."""
    dest = output.with_suffix(".csv")
    return output.with_name(f"{output.stem}.export.csv") if dest == output else dest


class OutputTable(VirtualTable):
    """Rows of the output, as dicts keyed by column name."""

    def __init__(self) -> None:
        super().__init__(empty_text="Reading…", id="output-table")
        self.rows: list[dict[str, str]] = []

    def cells(self, key: RowKey) -> list[Cell]:
        row = self.rows[cast(int, key)]  # rows are keyed by their index
        return [row.get(c.key, "") for c in self.columns]

    def add(self, rows: list[dict[str, str]], names: list[str]) -> None:
        """Append rows, widening columns to fit what was seen."""
        known = {c.key: c for c in self.columns}
        if len(names) != len(known) or not self.rows:
            widths = {n: len(clean(n)) for n in names}
            for row in rows[:200]:
                for name, value in row.items():
                    widths[name] = max(widths.get(name, 0), len(clean(value)))
            self.set_columns([known.get(n) or Column(n, n, min(MAX_COLUMN_WIDTH, max(3, widths.get(n, 3)))) for n in names])
        start = len(self.rows)
        self.rows.extend(rows)
        self.append_rows(range(start, start + len(rows)))

    def reset(self) -> None:
        self.rows = []
        self.set_rows([])


class OutputViewer(Screen[None]):
    """One output file as a table; ``/`` filters, ``e`` exports CSV, ``escape`` closes."""

    DEFAULT_CSS = """
    OutputViewer #output-title { background: $panel; padding: 0 1; text-style: bold; }
    OutputViewer #output-status { background: $panel; padding: 0 1; color: $text-muted; }
    OutputViewer #output-filter { display: none; }
    OutputViewer #output-filter.-visible { display: block; }
    OutputViewer #export-progress { display: none; background: $panel; padding: 0 1; }
    OutputViewer #export-progress.-running { display: block; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "close", "Close", id="output.close"),
        Binding("slash", "filter", "Filter", id="output.filter"),
        Binding("e", "export", "Export CSV", id="output.export"),
        Binding("y", "copy_row", "Copy row", id="output.copy"),
    ]

    class RowsLoaded(Message):
        """A batch of rows from the reading thread."""

        def __init__(self, generation: int, rows: list[dict[str, str]], columns: list[str], record_tag: str | None) -> None:
            super().__init__()
            self.generation = generation
            self.rows = rows
            self.columns = columns
            self.record_tag = record_tag

    class LoadFinished(Message):
        """The reading thread reached the end (or failed)."""

        def __init__(self, generation: int, error: EttuiError | None = None) -> None:
            super().__init__()
            self.generation = generation
            self.error = error

    class Exporting(Message):
        """How far the export is: rows kept so far, fraction of the file read (None: not known)."""

        def __init__(self, rows: int, fraction: float | None) -> None:
            super().__init__()
            self.rows = rows
            self.fraction = fraction

        def can_replace(self, message: Message) -> bool:
            """Only the latest figure matters: a newer one replaces a waiting one."""
            return isinstance(message, OutputViewer.Exporting)

    def __init__(self, source: OutputSource, path: Path) -> None:
        super().__init__()
        self.source = source
        self.path = Path(path)
        self.query_filter = Query()
        self._generation = 0
        self._wanted = LOOKAHEAD
        self._demand = threading.Event()
        self.finished = False
        """True once every row (that the filter keeps) has been read."""
        self._record_tag: str | None = None

    def compose(self) -> ComposeResult:
        yield Static(clean_text(f"Output: {self.path.name}"), id="output-title")
        yield Input(placeholder="filter rows: words, or Column:value", id="output-filter")
        yield OutputTable()
        yield ProgressBar(total=1.0, show_eta=False, id="export-progress")
        yield Static("Opening…", id="output-status")
        yield Footer()

    @property
    def table(self) -> OutputTable:
        return self.query_one(OutputTable)

    def on_mount(self) -> None:
        self.table.focus()
        self._restart()

    def _restart(self) -> None:
        self._generation += 1
        self.finished = False
        self._wanted = LOOKAHEAD
        self.table.reset()
        self.table.empty_text = "Reading…"
        self._demand.set()
        self._stream(self._generation, self.query_filter)

    @work(thread=True, exclusive=True, group="output-read")
    def _stream(self, generation: int, query: Query) -> None:
        worker = get_current_worker()
        predicate = keeps(query)
        try:
            reader = self.source.open_output(self.path)
            sent = 0
            for batch in reader.batches(size=BATCH):
                if worker.is_cancelled or generation != self._generation:
                    return
                if not query.empty:
                    batch = [r for r in batch if predicate(r)]
                    if not batch:
                        continue
                self.post_message(self.RowsLoaded(generation, batch, list(reader.columns), reader.record_tag))
                sent += len(batch)
                while sent >= self._wanted and not worker.is_cancelled and generation == self._generation:
                    self._demand.wait(0.25)
                    self._demand.clear()
            self.post_message(self.LoadFinished(generation))
        except EttuiError as exc:
            self.post_message(self.LoadFinished(generation, exc))

    @on(RowsLoaded)
    def _rows_loaded(self, message: RowsLoaded) -> None:
        if message.generation != self._generation:
            return
        self._record_tag = message.record_tag
        self.table.add(message.rows, message.columns)
        self._update_status()

    @on(LoadFinished)
    def _load_finished(self, message: LoadFinished) -> None:
        if message.generation != self._generation:
            return
        self.finished = True
        if message.error is not None:
            self.table.empty_text = message.error.message
            self.app.notify(message.error.message, title=message.error.title, severity="error")
        else:
            self.table.empty_text = "No rows match." if not self.query_filter.empty else "This output has no records."
        self.table.refresh()
        self._update_status()

    @on(VirtualTable.RowHighlighted)
    def _cursor_moved(self) -> None:
        if not self.finished and self.table.cursor_row + LOOKAHEAD // 2 >= self.table.row_count:
            self._wanted = self.table.row_count + LOOKAHEAD
            self._demand.set()
        self._update_status()

    def _update_status(self) -> None:
        table = self.table
        more = "all rows read" if self.finished else "more as you scroll"
        tag = f"<{self._record_tag}> records · " if self._record_tag else ""
        filtered = f" · filter: {self.query_filter.text}" if not self.query_filter.empty else ""
        row = f"row {table.cursor_row + 1:,} of " if table.row_count else ""
        # The record tag comes from the file and the filter from the keyboard: Text, never markup.
        self.query_one("#output-status", Static).update(
            clean_text(f"{tag}{row}{table.row_count:,} loaded ({more}) · {len(table.columns)} columns{filtered}")
        )

    # -- actions --------------------------------------------------------------

    def action_close(self) -> None:
        self._generation += 1
        self._demand.set()
        self.dismiss(None)

    def action_filter(self) -> None:
        field = self.query_one("#output-filter", Input)
        field.add_class("-visible")
        field.focus()

    @on(Input.Submitted, "#output-filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        try:
            self.query_filter = Query.parse(event.value)
        except FilterError as exc:
            self.app.notify(exc.message, title=exc.title, severity="error")
            return
        if self.query_filter.empty:
            event.input.remove_class("-visible")
        self.table.focus()
        self._restart()

    def action_export(self) -> None:
        """Export the rows the filter keeps to CSV beside the output; an existing file is replaced only if the user says so."""
        from ettui.ui.screens.dialogs import ConfirmScreen

        dest = export_destination(self.path)
        query = self.query_filter
        scope = "every row" if query.empty else f"the rows matching {query.text}"

        def go(confirmed: bool | None) -> None:
            if confirmed:
                self.app.notify(f"Exporting {scope} to {dest}…", title="CSV export", timeout=3, markup=False)
                self._export(dest, query)

        if dest.exists():
            self.app.push_screen(ConfirmScreen("Overwrite", f"{dest} exists; exporting replaces it. Overwrite?", "Overwrite"), go)
        else:
            go(True)

    @work(thread=True, exclusive=True, group="output-export")
    def _export(self, dest: Path, query: Query) -> None:
        self.app.call_from_thread(self._show_export, True)
        try:
            rows = self.source.export_output(
                self.path, dest, predicate=None if query.empty else keeps(query),
                progress=self._report_export,
            )
        except EttuiError as exc:
            self.app.call_from_thread(self.app.notify, exc.message, title=exc.title, severity="error")
            return
        finally:
            self.app.call_from_thread(self._show_export, False)
        self.app.call_from_thread(self.app.notify, f"Wrote {plural(rows, 'row')} to {dest}", title="CSV export")

    def _report_export(self, rows: int, fraction: float | None) -> None:
        """From the export thread: the latest figure, posted (a waiting one is replaced)."""
        self.post_message(self.Exporting(rows, fraction))

    def _show_export(self, running: bool) -> None:
        bar = self.query_one("#export-progress", ProgressBar)
        bar.set_class(running, "-running")
        bar.update(total=1.0 if running else bar.total, progress=0.0 if running else bar.progress)

    @on(Exporting)
    def _exporting(self, message: Exporting) -> None:
        self.query_one("#export-progress", ProgressBar).update(
            total=1.0 if message.fraction is not None else None, progress=message.fraction or 0.0
        )

    def action_copy_row(self) -> None:
        key = self.table.cursor_key
        if isinstance(key, int) and key < len(self.table.rows):
            row = self.table.rows[key]
            self.app.copy_to_clipboard("\t".join(row.get(c.key, "") for c in self.table.columns))
            self.app.notify("Row copied to the clipboard (OSC 52).")
