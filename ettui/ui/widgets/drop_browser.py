"""The drop browser: files in the secure drop with live expiry countdowns.

Each row shows a file's size, age, a countdown to the retention sweep coloured
by urgency (amber under 12 h, red under 2 h, ``EXPIRED`` once passed), the job
it belongs to, and its download state with a text progress bar, rate and ETA.
The widget only shows; the app's workers list and download and report here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo

from rich.text import Text
from textual.message import Message

from ettui.model import DropFile, Progress
from ettui.safetext import clean
from ettui.ui.filtering import Query
from ettui.ui.formatting import expiry_text, human_size, local_time, progress_text, since
from ettui.ui.widgets.table import Cell, Column, RowKey, VirtualTable

DROP_COLUMNS = [
    Column("name", "File", 24, priority=10, grow=True),
    Column("expires", "Expires in", 10, "right", min_width=8, priority=9),
    Column("state", "Download", 29, min_width=18, priority=8),
    Column("size", "Size", 8, "right", priority=6),
    Column("age", "Age", 7, "right", min_width=6, priority=4),
    Column("batch", "Job", 10, min_width=7, priority=5),
    Column("expires_at", "Expires at", 11, priority=3, optional=True),
]
"""Drop columns: the name takes the spare width; age and job hide first when narrow."""


FILTER_FIELDS = ("file", "batch", "state", "urgency")
"""``field:value`` names the drop's filter knows."""
FILTER_DURATIONS = ("expires", "age")
"""``field<6h`` names the drop's filter knows."""
EMPTY_TEXT = "The drop is empty (or not listed yet)."


@dataclass
class Transfer:
    """What the app knows about one file's download."""

    state: str = "queued"
    """``queued``, ``downloading``, ``downloaded``, ``extracted`` or ``failed``."""
    progress: Progress | None = None
    local_path: str | None = None
    extract_dir: str | None = None
    error: str | None = None


class DropBrowser(VirtualTable):
    """Files of the drop, soonest to expire first; files already gone (expired, not listed) last."""

    class DownloadRequested(Message):
        """The user asked to download the highlighted file."""

        def __init__(self, browser: DropBrowser, drop_file: DropFile) -> None:
            super().__init__()
            self.browser = browser
            self.drop_file = drop_file

        @property
        def control(self) -> DropBrowser:
            """The DropBrowser that sent it (so ``@on(..., "#id")`` selects by its id)."""
            return self.browser

    class ViewChanged(Message):
        """The listing or the filter changed (the pane retitles itself)."""

        def __init__(self, browser: DropBrowser) -> None:
            super().__init__()
            self.browser = browser

        @property
        def control(self) -> DropBrowser:
            """The DropBrowser that sent it (so ``@on(..., "#id")`` selects by its id)."""
            return self.browser

        def can_replace(self, message: Message) -> bool:
            """A burst of changes (a re-sort per update) needs one retitle: a newer one replaces it."""
            return isinstance(message, DropBrowser.ViewChanged) and message.control is self.control

    def __init__(self, now: Callable[[], datetime], *, zone: tzinfo | None = None, id: str | None = None) -> None:
        super().__init__(DROP_COLUMNS, empty_text=EMPTY_TEXT, fit=True, id=id)
        self.now = now
        self.zone = zone
        """Absolute times are shown in it (``[ui] time_zone``; None: the local zone)."""
        self.files: dict[str, DropFile] = {}
        self.transfers: dict[str, Transfer] = {}
        self.filter_query = Query()
        """The active filter (not ``query``: that name is Textual's DOM query)."""

    def natural_width(self, column: Column) -> int | None:
        if column.key != "name":
            return None
        return max((len(clean(f.name)) for f in self.files.values()), default=0)

    @property
    def selected_file(self) -> DropFile | None:
        key = self.cursor_key
        return self.files.get(key) if isinstance(key, str) else None

    def request_download(self) -> bool:
        """Ask for the highlighted file (posts :class:`DownloadRequested`); False when no file is highlighted."""
        drop_file = self.selected_file
        if drop_file is None:
            return False
        self.post_message(self.DownloadRequested(self, drop_file))
        return True

    def load(self, files: Sequence[DropFile]) -> None:
        """Replace the listing, keeping the cursor on its file."""
        self.files = {f.path: f for f in files}
        self.relayout()
        self._apply()

    def set_query(self, query: Query) -> None:
        self.filter_query = query
        self._apply()

    def _apply(self) -> None:
        now = self.now()
        # Gone is gone: a file the drop no longer lists and whose time ran out cannot be fetched.
        files = sorted(self.files.values(), key=lambda f: (not f.listed and f.expires_at <= now, f.expires_at, f.name))
        self.set_rows([f.path for f in files if self._matches(f, now)])
        self.empty_text = (
            f"No file matches {self.filter_query.text}; esc in the filter clears it."
            if not self.filter_query.empty and self.files else EMPTY_TEXT
        )
        self.post_message(self.ViewChanged(self))

    def _matches(self, drop_file: DropFile, now: datetime) -> bool:
        if self.filter_query.empty:
            return True
        transfer = self.transfers.get(drop_file.path)
        values = {
            "file": drop_file.name,
            "batch": drop_file.batch_id or "",
            "state": transfer.state if transfer else "remote",
            "urgency": drop_file.expiry.urgency(now).value,
        }
        durations: dict[str, timedelta | None] = {
            "expires": drop_file.expires_at - now,
            "age": now - drop_file.mtime,
        }
        return self.filter_query.matches(" ".join(values.values()), values, durations)

    def transfer(self, path: str) -> Transfer:
        """The transfer record of a file, created on first use."""
        return self.transfers.setdefault(path, Transfer())

    def update_transfer(self, path: str, **changes: object) -> None:
        """Change a file's download state and redraw its row."""
        transfer = self.transfer(path)
        for name, value in changes.items():
            setattr(transfer, name, value)
        self.refresh_row(path)

    def cells(self, key: RowKey) -> Sequence[Cell]:
        drop_file = self.files[key]  # type: ignore[index]
        now = self.now()
        # The whole width goes to the name (its ends tell files apart); "not listed" goes in the state column.
        # Cleaned first, so the middle cut is measured on what is shown (``\x1b]52...``).
        name = Text(clean(drop_file.name), style="" if drop_file.listed else "dim")
        transfer = self.transfers.get(drop_file.path)
        return [
            name,
            expiry_text(drop_file.expires_at, now),
            self._state_cell(transfer) if transfer is not None or drop_file.listed else Text("not listed", style="dim italic"),
            human_size(drop_file.size) if drop_file.listed else "-",
            since(drop_file.mtime, now),
            drop_file.batch_id or Text("-", style="dim"),
            local_time(drop_file.expires_at, zone=self.zone),
        ]

    @staticmethod
    def _state_cell(transfer: Transfer | None) -> Text:
        if transfer is None:
            return Text("remote", style="dim")
        if transfer.state == "downloading" and transfer.progress is not None:
            return progress_text(transfer.progress)
        styles = {"downloaded": "green", "extracted": "bold green", "failed": "bold red", "queued": "yellow"}
        label = transfer.state if transfer.state != "failed" else f"failed: {transfer.error or ''}"
        return Text(label, style=styles.get(transfer.state, ""))
