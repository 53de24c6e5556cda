"""The main screen: the three panes, laid out for the terminal, with their titles.

Three panes side by side when there is room (Compose | Jobs over Drop);
below ``WIDE_MIN_WIDTH`` columns or ``WIDE_MIN_HEIGHT`` rows one pane shows
at a time under tabs, re-laid out at once on a resize. ``z`` shows the pane
in use alone (lazygit's screen mode). The app builds the panes and hands
them over; this screen only places them, moves the focus between them and
adds the zoom note to their border titles (each pane keeps its own title true).
"""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.geometry import Size
from textual.message import Message
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer, Header, Tab, Tabs

from ettui.ui.notices import StatusLine
from ettui.ui.widgets.compose import ComposePane
from ettui.ui.widgets.drop_pane import DropPane
from ettui.ui.widgets.jobs_pane import JobsPane

WIDE_MIN_WIDTH = 100
"""Narrower terminals get tabs instead of three panes."""
WIDE_MIN_HEIGHT = 30
PANES = ("compose", "jobs", "drop")


def narrow_at(size: Size) -> bool:
    """One pane at a time on a terminal this size."""
    return size.width < WIDE_MIN_WIDTH or size.height < WIDE_MIN_HEIGHT


class MainScreen(Screen[object]):
    """Compose, Jobs and Drop, with the tabs, the status line and the footer."""

    class Ready(Message):
        """The panes are mounted: the app may open the session and start its timers."""

    def __init__(self, compose_pane: ComposePane, jobs_pane: JobsPane, drop_pane: DropPane) -> None:
        super().__init__(id="_default")
        self.compose_pane = compose_pane
        self.jobs_pane = jobs_pane
        self.drop_pane = drop_pane
        self.active_pane = "jobs"
        """The pane on show when one shows at a time."""
        self.zoomed = False
        """``z``: the active pane alone, full screen."""

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False)
        yield Tabs(Tab("1 Compose", id="tab-compose"), Tab("2 Jobs", id="tab-jobs"), Tab("3 Drop", id="tab-drop"), id="pane-tabs")
        with Horizontal(id="panes"):
            with Vertical(id="compose-pane", classes="pane"):
                yield self.compose_pane
            with Vertical(id="right"):
                yield self.jobs_pane
                yield self.drop_pane
        yield StatusLine("", id="status-line")
        yield Footer()

    def on_mount(self) -> None:
        self.retitle()
        self.apply_layout()
        self.jobs_pane.board.focus()
        self.post_message(self.Ready())

    @property
    def laid_out(self) -> bool:
        """False while starting or shutting down: late messages then have nowhere to go."""
        return self.is_attached and bool(self.query("#board")) and bool(self.query("#drop"))

    @property
    def narrow(self) -> bool:
        return narrow_at(self.app.size)

    def apply_layout(self, size: Size | None = None) -> None:
        """Three panes when there is room, else one pane at a time under tabs."""
        if not self.laid_out:
            return  # starting or shutting down
        narrow = narrow_at(size or self.app.size)
        if narrow and not self.has_class("-narrow"):
            self.active_pane = self.current_pane()  # the pane in use stays the one on show
        single = narrow or self.zoomed
        self.set_class(narrow, "-narrow")
        self.set_class(single, "-single")
        self.set_class(self.zoomed and not narrow, "-zoomed")
        self.query_one("#pane-tabs").display = narrow
        for pane in PANES:
            self.query_one(f"#{pane}-pane").display = not single or pane == self.active_pane
        self.query_one("#right").display = not single or self.active_pane != "compose"
        tabs = self.query_one("#pane-tabs", Tabs)
        if narrow and tabs.active != f"tab-{self.active_pane}":
            tabs.active = f"tab-{self.active_pane}"

    def toggle_zoom(self) -> None:
        """Show the pane in use alone, or all panes again; the app says so when narrow."""
        if not self.zoomed:
            self.active_pane = self.current_pane()
        self.zoomed = not self.zoomed
        self.apply_layout()
        self.retitle()

    @on(Tabs.TabActivated, "#pane-tabs")
    def _tab_activated(self, event: Tabs.TabActivated) -> None:
        if self.app.screen is not self or event.tabs.active != event.tab.id:
            return  # a stale activation (we set the tab ourselves since): acting on it would ping-pong
        if not self.narrow:
            return  # hidden tabs activate their first tab on mount: that must not pull the focus to Compose
        pane = (event.tab.id or "tab-jobs").removeprefix("tab-")
        if pane != self.active_pane:
            self.focus_pane(pane)

    def current_pane(self) -> str:
        """The pane holding the focus (the active pane when nothing is focused)."""
        node: Widget | None = self.focused
        while node is not None:
            if node.id in ("compose-pane", "jobs-pane", "drop-pane"):
                return node.id.removesuffix("-pane")
            node = node.parent  # type: ignore[assignment]
        return self.active_pane

    def focus_pane(self, pane: str) -> None:
        """Show ``pane`` (when one shows at a time) and focus its first field or its table."""
        self.active_pane = pane
        self.apply_layout()
        if pane == "compose":
            fields = self.query("#params Input")
            target: Widget = fields.first() if fields else self.query_one("#call-select")
        else:
            target = self.jobs_pane.board if pane == "jobs" else self.drop_pane.browser
        target.focus()
        if self.narrow:
            # A pane that was just un-hidden can take the focus only once it is laid out.
            self.call_after_refresh(target.focus)

    def retitle(self) -> None:
        """Every pane's border title, with `` · zoomed (z)`` on the one shown alone."""
        if not self.laid_out:
            return
        zoom = " · zoomed (z)" if self.zoomed and not self.narrow else ""
        self.query_one("#compose-pane").border_title = f"1 Compose{zoom}"
        for pane in (self.jobs_pane, self.drop_pane):
            pane.zoom_note = zoom
            pane.retitle()
