"""Reading what the TUI drew: widget lines and toasts as text, and any link or escape in them."""

from __future__ import annotations

from typing import Any

from rich.segment import Segment
from textual.app import App
from textual.content import Content
from textual.widget import Widget

from ettui.ui.app import EttuiApp


def widget_lines(widget: Widget) -> list[list[Segment]]:
    """The segments of every line ``widget`` draws now (what the compositor gets)."""
    return [list(widget.render_line(y)) for y in range(widget.size.height)]


def lines_text(lines: list[list[Segment]]) -> str:
    return "\n".join("".join(s.text for s in line) for line in lines)


def links(lines: list[list[Segment]]) -> list[Any]:
    """Click actions or hyperlinks in the segments (remote text must never make one)."""
    found = []
    for line in lines:
        for seg in line:
            style = seg.style
            if style is None:
                continue
            if style.link or (style.meta and any(k.startswith("@") for k in style.meta)):
                found.append((seg.text, style.link, style.meta))
    return found


def toasts(app: EttuiApp) -> list[str]:
    """The text of every live notification, rendered as its ``Toast`` renders it.

    Rendering is where a markup toast crashed (``MarkupError``) or became a link,
    so each is rendered here and checked for click actions too.
    """
    shown = []
    for notification in app.shown_toasts:
        # As Toast.render does it (a Toast not mounted cannot look up its title style).
        content = Content.from_markup(notification.message) if notification.markup else Content(notification.message)
        assert not [s for s in content.spans if "@" in str(s.style)], f"a toast holds an action: {content!r}"
        shown.append(f"{notification.title}\n{content.plain}")
    return shown


class ToastLog:
    """Every toast seen so far: toasts time out (sooner than a loaded test machine moves on)."""

    def __init__(self, app: EttuiApp) -> None:
        self.app = app
        self.seen: dict[str, str] = {}

    def __call__(self) -> list[str]:
        for notification, text in zip(self.app.shown_toasts, toasts(self.app), strict=True):
            self.seen.setdefault(notification.identity, text)
        return list(self.seen.values())


def screen_svg(app: App[Any]) -> str:
    """The whole screen as Textual exports it (what the terminal would show)."""
    return app.export_screenshot()


def assert_no_escape(text: str, what: str) -> None:
    bad = [hex(ord(c)) for c in text if ord(c) == 0x1B or 0x80 <= ord(c) <= 0x9F or c == "\r"]
    assert not bad, f"controls {bad} reached {what}"
