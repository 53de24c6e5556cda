"""What the hostile-peer tests throw at ettui, and how they check what reached the terminal."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

OSC52 = "\x1b]52;c;cm0gLXJmIH4K\x1b\\"
"""Writes ``rm -rf ~`` to the operator's clipboard when a terminal sees it."""
CLEAR = "\x1b[2J"
OSC8 = "\x1b]8;;https://evil.example/\x1b\\click\x1b]8;;\x1b\\"
OSC8_NAME = "\x1b]8;;https:evil.example\x1b\\click\x1b]8;;\x1b\\"
"""OSC 8 without a "/" (a file name cannot hold one)."""
CSI_C1 = "\x9b31m"
"""A one-character CSI (C1), then SGR red."""
BARE_CR = "ok\rFAKE"
MARKUP_CRASH = 'x[b="]y'
MARKUP_LINK = "[@click=app.quit]x[/]"

# File names cannot hold "/", so the link's closing tag is left off (Rich applies an
# unclosed tag to the rest of the text, which is just as much an attack).
HOSTILE_FILE_NAMES = {
    "osc52": f"a{OSC52}.zip",
    "clear": f"b{CLEAR}.zip",
    "osc8": f"c{OSC8_NAME}.zip",
    "bare-cr": f"d{BARE_CR}.zip",
    "c1-csi": f"e{CSI_C1}.zip",
    "markup-crash": f"{MARKUP_CRASH}.zip",
    "markup-link": "[@click=app.quit]f.zip",
}
"""Drop file names, by attack."""

HOSTILE_VALUES = {
    "osc52": OSC52,
    "clear": CLEAR,
    "osc8": OSC8,
    "bare-cr": BARE_CR,
    "c1-csi": CSI_C1,
    "markup-crash": MARKUP_CRASH,
    "markup-link": MARKUP_LINK,
}
"""Reply values and output cells, by attack (no file-name limits)."""

_BARE_CR = re.compile(rb"\r(?!\n)")


def assert_terminal_safe(data: bytes, what: str = "output") -> None:
    """No ESC, no C1 control (as a code point), no bare CR in bytes meant for a terminal."""
    assert b"\x1b" not in data, f"ESC in {what}: {data!r}"
    text = data.decode("utf-8", errors="replace")
    c1 = [hex(ord(c)) for c in text if 0x80 <= ord(c) <= 0x9F]
    assert not c1, f"C1 controls {c1} in {what}: {data!r}"
    assert not _BARE_CR.search(data), f"bare CR in {what}: {data!r}"


def run_cli(
    args: list[str], home: Path, timeout: float = 60, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[bytes]:
    """``python -m ettui ARGS`` in its own home; stdout and stderr as bytes."""
    full = {**os.environ, "ETTUI_HOME": str(home), "PYTHONUNBUFFERED": "1", **(env or {})}
    full.pop("ETTUI_CONFIG", None)
    full.pop("ETTUI_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "ettui", *args], capture_output=True, timeout=timeout, env=full, check=False)
