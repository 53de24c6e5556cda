"""A virtual table: only the rows on screen are ever rendered.

Textual's ``DataTable`` builds every row up front (about 1.8 s for 10,000
jobs here); this table keeps a list of row keys and asks its subclass for the
cells of a row only when that row is drawn. That makes 10,000 rows free,
and lets the board re-sort without rebuilding anything. The cursor follows
its row's key across re-sorts, so a live update never moves it.

Redraws are kept to the rows that changed: a cursor move repaints two rows,
a re-sort that leaves the visible rows in place repaints none, and the
once-a-second countdown tick (:meth:`refresh_changed`) repaints only rows
whose text differs from what was last drawn. Over SSH that is also what
keeps the bytes sent per second near zero while nothing happens.

Cells come from outside (file names, reply values, output cells): a ``str``
cell is never parsed as markup, and every cell's controls are made visible
with :func:`ettui.safetext.clean` as the row is laid out, whatever the
subclass handed over. This is the one boundary for every table of the app.

With ``fit=True`` the columns fit the width the table has (the board and the
drop): each column has a priority and a minimum width; when the row is too
wide the lowest-priority columns shrink to their minimum, then hide, so no
horizontal scrollbar ever covers a row; spare width goes to the ``grow``
columns (file names) up to what their longest value needs
(:meth:`VirtualTable.natural_width`).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import ClassVar, Literal

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Region, Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from ettui.safetext import clean, is_clean

RowKey = Hashable
Cell = Text | str
Signature = tuple[object, ...]
MAX_DRAWN = 5000
"""Rows whose last drawing is remembered (a long scroll through the output viewer forgets)."""


def safe_cell(cell: Cell) -> Text:
    """A cell as ``Text`` with no control left in it (a styled cell keeps its style)."""
    if isinstance(cell, Text):
        if is_clean(cell.plain):
            return cell.copy()
        # Rare (a hostile value inside a styled cell): its spans would no longer line up.
        return Text(clean(cell.plain), style=cell.style)
    return Text(clean(cell))


def shorten_middle(text: Text, width: int) -> Text:
    """Cut the middle of a long value (``bulkasync_1…0405_1.zip``), keeping its styles."""
    if width < 3:
        return text[:width]
    head = (width - 1) // 3
    tail = width - 1 - head
    plain = text.plain
    short = text[:head]
    short.append("…")
    short.append_text(text[len(plain) - tail :])
    return short


def _signature(cells: Sequence[Cell]) -> Signature:
    """What a row looks like, cheaply comparable: text and styles of each cell."""
    return tuple((c.plain, c.style, tuple(c.spans)) if isinstance(c, Text) else c for c in cells)


@dataclass(frozen=True)
class Column:
    """One column: its key, header label, width in cells and alignment.

    ``min_width`` and ``priority`` matter in a fitting table: low priorities
    shrink first and hide first. A ``grow`` column takes the spare width and is
    shortened in the middle (both ends of a file name tell files apart).
    """

    key: str
    label: str
    width: int
    justify: Literal["left", "right"] = "left"
    min_width: int | None = None
    priority: int = 5
    grow: bool = False
    optional: bool = False
    """Shown only in the width left once every other column (growing ones included) has what it wants."""

    @property
    def least(self) -> int:
        return min(self.width, self.min_width) if self.min_width is not None else self.width


def fit_columns(
    columns: Sequence[Column], width: int, natural: Callable[[Column], int | None] = lambda c: None
) -> list[tuple[Column, int]]:
    """Lay ``columns`` out in ``width`` cells (one separator cell after each).

    Shrink the lowest-priority columns to their minimum first; if the minimums
    still do not fit, hide the lowest-priority columns (never the last one).
    Spare width widens the ``grow`` columns up to their natural width; what is
    left then shows ``optional`` columns, highest priority first.
    """
    optional = [c for c in columns if c.optional]
    shown = [c for c in columns if not c.optional]
    while len(shown) > 1 and sum(c.least + 1 for c in shown) > width:
        lowest = min(shown, key=lambda c: (c.priority, -shown.index(c)))
        shown.remove(lowest)
    widths = {c.key: c.width for c in shown}
    excess = sum(w + 1 for w in widths.values()) - width
    # Shrink low priorities first, a growing column (the file name) last.
    for column in sorted(shown, key=lambda c: (c.grow, c.priority)):
        if excess <= 0:
            break
        cut = min(excess, widths[column.key] - column.least)
        widths[column.key] -= cut
        excess -= cut
    spare = -excess
    for column in [c for c in shown if c.grow]:
        if spare <= 0:
            break
        wanted = natural(column)
        if wanted is None or wanted <= widths[column.key]:
            continue
        extra = min(spare, wanted - widths[column.key])
        widths[column.key] += extra
        spare -= extra
    for column in sorted(optional, key=lambda c: -c.priority):
        if column.width + 1 <= spare:
            widths[column.key] = column.width
            spare -= column.width + 1
    return [(c, widths[c.key]) for c in columns if c.key in widths]


class VirtualTable(ScrollView, can_focus=True):
    """A keyboard-driven table that renders only visible rows.

    Subclasses implement :meth:`cells`. Rows are set with :meth:`set_rows`
    (keys in display order); the cursor stays on the same key.
    """

    DEFAULT_CSS = """
    VirtualTable {
        height: 1fr;
        background: $surface;
        scrollbar-size-horizontal: 1;
        scrollbar-size-vertical: 1;
    }
    VirtualTable.-fit {
        overflow-x: hidden;
        scrollbar-gutter: stable;
    }
    VirtualTable > .virtual-table--header {
        text-style: bold;
        background: $panel;
        color: $text;
    }
    VirtualTable > .virtual-table--cursor {
        background: $block-cursor-blurred-background;
    }
    VirtualTable:focus > .virtual-table--cursor {
        background: $block-cursor-background;
        color: $block-cursor-foreground;
    }
    VirtualTable > .virtual-table--empty {
        color: $text-muted;
        text-style: italic;
    }
    """

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "virtual-table--header",
        "virtual-table--cursor",
        "virtual-table--empty",
    }

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "cursor_up", "Up", show=False, id="table.up"),
        Binding("down,j", "cursor_down", "Down", show=False, id="table.down"),
        Binding("pageup", "page_up", "Page up", show=False, id="table.page_up"),
        Binding("pagedown", "page_down", "Page down", show=False, id="table.page_down"),
        Binding("home,g", "first", "First", show=False, id="table.first"),
        Binding("end,G", "last", "Last", show=False, id="table.last"),
    ]

    cursor_row: reactive[int] = reactive(0, always_update=True)
    """Index of the highlighted row in display order."""

    class RowHighlighted(Message):
        """The cursor moved to another row."""

        def __init__(self, table: VirtualTable, key: RowKey | None) -> None:
            super().__init__()
            self.table = table
            self.key = key

        @property
        def control(self) -> VirtualTable:
            return self.table

    def __init__(
        self,
        columns: Sequence[Column] = (),
        *,
        empty_text: str = "Nothing here yet.",
        fit: bool = False,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.fit = fit
        self.set_class(fit, "-fit")
        self._columns: list[Column] = list(columns)
        self._layout: list[tuple[Column, int]] = [(c, c.width) for c in self._columns]
        """The columns shown and their widths (all of them, as declared, unless ``fit``)."""
        self._keys: list[RowKey] = []
        self._index: dict[RowKey, int] = {}
        self._drawn: dict[RowKey, tuple[Signature, tuple[object, ...], Strip]] = {}
        """Each row as last drawn: its cells' signature, how it was drawn, the strip."""
        self._base_style: Style | None = None
        self.empty_text = empty_text
        self._update_virtual_size()

    # -- data ---------------------------------------------------------------

    def cells(self, key: RowKey) -> Sequence[Cell]:
        """The cells of one row, in column order (subclasses override)."""
        raise NotImplementedError

    def natural_width(self, column: Column) -> int | None:
        """The width a ``grow`` column's longest value needs (subclasses override)."""
        return None

    @property
    def columns(self) -> list[Column]:
        return list(self._columns)

    @property
    def column_layout(self) -> list[tuple[Column, int]]:
        """The columns shown, with the width each got."""
        return list(self._layout)

    def relayout(self) -> None:
        """Fit the columns to the width again (a resize, or a longer file name arrived)."""
        if self.fit and self.size.width > 0:
            layout = fit_columns(self._columns, self.size.width, self.natural_width)
        else:
            layout = [(c, c.width) for c in self._columns]
        if layout != self._layout:
            self._layout = layout
            self._drawn.clear()  # the cached strips were laid out for the old widths
            self._update_virtual_size()
            self.refresh()

    def on_resize(self) -> None:
        self.relayout()
        self._scroll_cursor_into_view()

    def set_columns(self, columns: Sequence[Column]) -> None:
        """Replace the columns (the output viewer learns them while reading)."""
        self._columns = list(columns)
        self._layout = [(c, c.width) for c in self._columns]
        self._drawn.clear()  # the cached strips were laid out for the old columns
        self.relayout()
        self._update_virtual_size()
        self.refresh()

    @property
    def row_count(self) -> int:
        return len(self._keys)

    @property
    def keys(self) -> list[RowKey]:
        return self._keys

    @property
    def cursor_key(self) -> RowKey | None:
        """The key of the highlighted row, or None when the table is empty."""
        if 0 <= self.cursor_row < len(self._keys):
            return self._keys[self.cursor_row]
        return None

    def set_rows(self, keys: Sequence[RowKey]) -> None:
        """Show these rows in this order; the cursor keeps its row when it is still shown.

        Except at the top: a cursor on the first row, scrolled to the top, stays
        on the first row, so rows arriving above it come into view (as in k9s
        and htop) instead of pushing the view down.
        """
        current = self.cursor_key
        before = self._visible_keys()
        at_top = self.cursor_row == 0 and int(self.scroll_offset.y) == 0
        self._keys = list(keys)
        self._index = {key: i for i, key in enumerate(self._keys)}
        self._update_virtual_size()
        if at_top and self._keys:
            new_row = 0
            if current != self._keys[0]:
                self.post_message(self.RowHighlighted(self, self._keys[0]))
        elif current is not None and current in self._index:
            new_row = self._index[current]
        else:
            new_row = min(self.cursor_row, max(0, len(self._keys) - 1))
        if new_row != self.cursor_row:
            self.set_reactive(VirtualTable.cursor_row, new_row)
            self._scroll_cursor_into_view()
        elif self._visible_keys() == before and self._keys:
            return  # the same rows on screen in the same places: their own updates redraw them
        self.refresh()

    def _visible_keys(self) -> list[RowKey]:
        top = int(self.scroll_offset.y)
        return self._keys[top : top + max(1, self.size.height - 1)]

    def append_rows(self, keys: Sequence[RowKey]) -> None:
        """Add rows at the end (lazy loading) without touching the cursor."""
        start = len(self._keys)
        self._keys.extend(keys)
        for offset, key in enumerate(keys):
            self._index[key] = start + offset
        self._update_virtual_size()
        self.refresh()

    def move_cursor_to(self, key: RowKey) -> bool:
        """Highlight the row with ``key``; False when it is not shown."""
        row = self._index.get(key)
        if row is None:
            return False
        self.cursor_row = row
        return True

    def refresh_row(self, key: RowKey) -> None:
        """Redraw one row if it is on screen."""
        row = self._index.get(key)
        if row is not None:
            self._refresh_index(row)

    def _refresh_index(self, row: int) -> None:
        y = row - int(self.scroll_offset.y) + 1
        if 1 <= y < self.size.height:
            self.refresh(Region(0, y, self.size.width, 1))

    def refresh_changed(self) -> int:
        """Redraw the visible rows whose cells differ from what was drawn (countdowns); returns how many."""
        changed = 0
        for key in self._visible_keys():
            drawn = self._drawn.get(key)
            if drawn is None or drawn[0] != _signature(self.cells(key)):
                self.refresh_row(key)
                changed += 1
        return changed

    def _update_virtual_size(self) -> None:
        width = sum(w + 1 for _, w in self._layout)
        if self.fit:
            width = min(width, max(1, self.size.width))
        self.virtual_size = Size(width, len(self._keys) + 1)

    # -- cursor -------------------------------------------------------------

    def validate_cursor_row(self, row: int) -> int:
        return max(0, min(row, len(self._keys) - 1)) if self._keys else 0

    def watch_cursor_row(self, old_row: int, new_row: int) -> None:
        if not self._scroll_cursor_into_view():
            # Only the rows the cursor left and entered change (a scroll repaints everything anyway).
            self._refresh_index(old_row)
            self._refresh_index(new_row)
        self.post_message(self.RowHighlighted(self, self.cursor_key))

    @property
    def _page(self) -> int:
        return max(1, self.size.height - 2)

    def _scroll_cursor_into_view(self) -> bool:
        """Scroll so the cursor row shows; True when it scrolled."""
        top = int(self.scroll_offset.y)
        visible = max(1, self.size.height - 1)
        row = self.cursor_row
        if row < top:
            self.scroll_to(y=row, animate=False, immediate=True)
        elif row >= top + visible:
            self.scroll_to(y=row - visible + 1, animate=False, immediate=True)
        else:
            return False
        return True

    def action_cursor_up(self) -> None:
        self.cursor_row -= 1

    def action_cursor_down(self) -> None:
        self.cursor_row += 1

    def action_page_up(self) -> None:
        self.cursor_row -= self._page

    def action_page_down(self) -> None:
        self.cursor_row += self._page

    def action_first(self) -> None:
        self.cursor_row = 0

    def action_last(self) -> None:
        self.cursor_row = len(self._keys) - 1

    def on_click(self, event: events.Click) -> None:
        row = int(self.scroll_offset.y) + event.y - 1
        if event.y >= 1 and 0 <= row < len(self._keys):
            self.cursor_row = row

    # -- rendering ------------------------------------------------------------

    def _line_text(self, cells: Sequence[Cell], style: Style) -> Text:
        line = Text(style=style, no_wrap=True, end="")
        # strict=False: a row may have fewer cells than columns; the missing ones draw empty.
        by_key = dict(zip((c.key for c in self._columns), cells, strict=False))
        for column, width in self._layout:
            cell = by_key.get(column.key, "")
            text = safe_cell(cell)
            if column.grow and text.cell_len > width:
                text = shorten_middle(text, width)
            text.truncate(width, overflow="ellipsis")
            pad = width - text.cell_len
            if column.justify == "right":
                line.append(" " * pad)
                line.append_text(text)
            else:
                line.append_text(text)
                line.append(" " * pad)
            line.append(" ")
        return line

    def header_cells(self) -> list[Cell]:
        """The header labels, in column order (the board adds its sort marker)."""
        return [c.label for c in self._columns]

    def render_lines(self, crop: Region) -> list[Strip]:
        # The widget's style is the same for every line of one pass: look it up once, not per line.
        self._base_style = self.rich_style
        try:
            return super().render_lines(crop)
        finally:
            self._base_style = None

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        scroll_x, scroll_y = int(self.scroll_offset.x), int(self.scroll_offset.y)
        base = self._base_style or self.rich_style
        if y == 0:
            style = base + self.get_component_rich_style("virtual-table--header")
            text = self._line_text(self.header_cells(), style)
        else:
            row = scroll_y + y - 1
            if row >= len(self._keys):
                if row == 0 and self.empty_text:
                    style = base + self.get_component_rich_style("virtual-table--empty")
                    return Strip([Segment(clean(self.empty_text)[:width].ljust(width), style)])
                return Strip.blank(width, base)
            style = base
            if row == self.cursor_row:
                style = base + self.get_component_rich_style("virtual-table--cursor")
            key = self._keys[row]
            cells = self.cells(key)
            signature, how = _signature(cells), (style, scroll_x, width)
            drawn = self._drawn.get(key)
            if drawn is not None and drawn[0] == signature and drawn[1] == how:
                return drawn[2]  # unchanged (a scroll or a neighbour's update repaints it): reuse the strip
            strip = self._strip(self._line_text(cells, style), style, scroll_x, width)
            if len(self._drawn) > MAX_DRAWN:
                self._drawn.clear()  # scrolled through many rows: forget them, not the visible ones' future
            self._drawn[key] = (signature, how, strip)
            return strip
        return self._strip(text, style, scroll_x, width)

    def _strip(self, text: Text, style: Style, scroll_x: int, width: int) -> Strip:
        # Rich leaves the base style off a Text without spans: apply it, or a plain row hides the cursor.
        segments = Segment.apply_style(text.render(self.app.console), style=style)
        strip = Strip(segments).crop(scroll_x, scroll_x + width)
        return strip.extend_cell_length(width, style)
