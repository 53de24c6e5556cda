"""Hostile drop file names in the TUI: the app keeps running and shows them, escaped and inert."""

from __future__ import annotations

import os
import time
from pathlib import Path

from rich.text import Text

from ettui.safetext import clean
from ettui.ui.widgets.table import shorten_middle
from tests.hostile.hostile import HOSTILE_FILE_NAMES
from tests.hostile.screen import (
    ToastLog,
    assert_no_escape,
    lines_text,
    links,
    screen_svg,
    widget_lines,
)
from tests.ui.conftest import make_app, wait_for


def _plant(drop: Path, names: list[str], hours_old: float) -> None:
    drop.mkdir(parents=True, exist_ok=True)
    stamp = time.time() - hours_old * 3600
    for name in names:
        path = drop / name
        path.write_bytes(b"PK\x05\x06" + b"\0" * 18)
        os.utime(path, (stamp, stamp))


async def test_drop_pane_with_hostile_names(tmp_path: Path) -> None:
    names = list(HOSTILE_FILE_NAMES.values())
    # 70 h old of 72: every file is "expiring soon" at start-up, so each name also goes into a
    # toast at once (the crash that repeated on every start).
    _plant(tmp_path / "sandbox" / "drop", names[:4], hours_old=70)
    app = make_app(tmp_path)
    async with app.run_test(size=(160, 50)) as pilot:
        seen = ToastLog(app)
        await wait_for(pilot, lambda: app.drop.row_count >= 4, "the first listing")
        await wait_for(pilot, seen, "the expiry toasts")
        # More files land, one per listing: each "File landed" toast names its file
        # (markup and C1 among them; several at once would be one toast that counts them).
        await pilot.press("3")
        for count, name in enumerate(names[4:], start=5):
            _plant(tmp_path / "sandbox" / "drop", [name], hours_old=1)
            await pilot.press("R")
            # B023: wait_for is awaited at once, inside this iteration.
            await wait_for(pilot, lambda: app.drop.row_count >= count, f"listing {count}")  # noqa: B023
            await wait_for(
                pilot, lambda: any(clean(name) in t and "in the drop" in t for t in seen()), f"{name!r} landed"  # noqa: B023
            )
        await pilot.pause()
        assert app.is_running
        lines = widget_lines(app.drop)
        shown = lines_text(lines)
        name_width = next(width for column, width in app.drop.column_layout if column.key == "name")
        for name in names:
            cleaned = clean(name)
            expected = cleaned if len(cleaned) <= name_width else shorten_middle(Text(cleaned), name_width).plain
            assert expected in shown, name
        assert_no_escape(shown, "the Drop pane")
        assert not links(lines), "remote text became a link"
        for toast in seen():
            assert_no_escape(toast, "a toast")
        all_toasts = "\n".join(seen())
        assert clean(names[0]) in all_toasts or "more files expire" in all_toasts
        assert clean(HOSTILE_FILE_NAMES["markup-crash"]) in all_toasts
        assert_no_escape(screen_svg(app), "the screen")
        # Details, activity log and help open and close without a crash.
        await pilot.press("a")
        await pilot.pause()
        activity = "\n".join(app.activity.lines)
        assert clean(HOSTILE_FILE_NAMES["osc52"]) in activity
        assert_no_escape(activity, "the activity log")
        await pilot.press("escape")
        await pilot.pause()
        assert app.is_running
