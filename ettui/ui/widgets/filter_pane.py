"""A pane with a `/` filter over its table: live as you type, a match count, `esc` clears.

The Jobs and the Drop pane both are one. The pane owns its field, the line
under it (the match count, or the one sentence saying which term cannot be
read), and what ``enter`` and ``esc`` do; the app only opens the filter of
the pane in use and remembers the texts kept (:class:`FilterPane.FilterKept`).

The pane also keeps its border title true (counts, sort, filter): its table
posts a ``ViewChanged`` and the pane retitles itself. A message posted while
the pane's own handler runs stops at the pane (Textual does not bubble a
message back past its sender), so the title is the pane's job, not the app's.
"""

from __future__ import annotations

from typing import ClassVar, Protocol

from textual import on
from textual.containers import Vertical
from textual.message import Message
from textual.notifications import SeverityLevel
from textual.widgets import Input, Static

from ettui.safetext import clean_text
from ettui.ui.filtering import FilterError, Query
from ettui.ui.formatting import plural
from ettui.ui.widgets.filter_input import FilterInput


class Filtered(Protocol):
    """The table a filter narrows (``JobBoard``, ``DropBrowser``)."""

    filter_query: Query

    @property
    def row_count(self) -> int: ...

    def set_query(self, query: Query) -> None: ...

    def focus(self, scroll_visible: bool = True) -> object: ...


class FilterPane(Vertical):
    """Base of a pane whose table filters as the user types."""

    FILTER_FIELDS: ClassVar[tuple[str, ...]] = ()
    """``field:value`` names the filter knows."""
    FILTER_DURATIONS: ClassVar[tuple[str, ...]] = ()
    """``field<6h`` names the filter knows."""
    NOUN: ClassVar[str] = "row"
    """What a row is, for the match count ("3 of 12 jobs match")."""

    class FilterKept(Message):
        """``enter`` kept a filter: the app adds its text to the shared history."""

        def __init__(self, pane: FilterPane, text: str) -> None:
            super().__init__()
            self.pane = pane
            self.text = text

        @property
        def control(self) -> FilterPane:
            return self.pane

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = False,
    ) -> None:
        """A toast from this pane; markup is off (Textual's widgets default it on), as its text quotes remote names."""
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=markup)

    zoom_note = ""
    """`` · zoomed (z)`` while the screen shows this pane alone."""

    def title(self) -> str:
        """The border title without the zoom note."""
        raise NotImplementedError

    def retitle(self) -> None:
        """Set the border title (as Text: the filter is typed text and must not be read as markup)."""
        text = clean_text(self.title() + self.zoom_note)
        if self.border_title != text.markup:  # every re-sort asks; a border repaint only when it reads differently
            self.border_title = text

    @property
    def filtered(self) -> Filtered:
        """The table the filter narrows."""
        raise NotImplementedError

    @property
    def total(self) -> int:
        """Rows before the filter."""
        raise NotImplementedError

    @property
    def filter_field(self) -> FilterInput:
        return self.query_one(FilterInput)

    @property
    def filter_status(self) -> Static:
        """The line under the field: the match count, or why the filter cannot be read."""
        return self.query_one(".filter-status", Static)

    def open_filter(self) -> None:
        """Show the field and put the cursor in it (``/``)."""
        self.filter_field.add_class("-visible")
        self.filter_field.focus()

    @on(Input.Changed, ".filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        """Filter as the user types; a term that cannot be read is one sentence under the field."""
        event.stop()
        try:
            query = Query.parse(event.value, self.FILTER_FIELDS, self.FILTER_DURATIONS)
        except FilterError as exc:
            self.filter_status.set_classes("filter-status -visible -bad")
            self.filter_status.update(clean_text(exc.message))  # it quotes what was typed: never markup
            return
        self.filtered.set_query(query)
        self.show_match_count()

    def show_match_count(self) -> None:
        """``3 of 12 jobs match`` under the field while a filter is on."""
        status = self.filter_status
        if self.filtered.filter_query.empty:
            status.set_classes("filter-status")
            status.update("")
            return
        status.set_classes("filter-status -visible")
        status.update(f"{self.filtered.row_count:,} of {plural(self.total, self.NOUN)} match · enter keeps it · esc clears")

    @on(Input.Submitted, ".filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if self.filter_status.has_class("-bad"):
            return  # the sentence stays until the term is fixed or esc clears it
        if not self.filtered.filter_query.empty:
            self.post_message(self.FilterKept(self, self.filtered.filter_query.text))
        else:
            event.input.remove_class("-visible")
        self.filter_status.set_classes("filter-status")
        self.filtered.focus()

    @on(FilterInput.Closed)
    def _filter_closed(self, event: FilterInput.Closed) -> None:
        event.stop()
        self.filtered.set_query(Query())
        event.field.remove_class("-visible")
        self.filter_status.set_classes("filter-status")
        self.filtered.focus()
