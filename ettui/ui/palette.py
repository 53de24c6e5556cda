"""The 16-colour palette: what ettui looks like where the terminal has only the ANSI colours.

With ``TERM=xterm`` (no ``COLORTERM``) a truecolour theme is squeezed onto
the nearest of 16 colours, which turned focused borders and key hints bright
red and the cursor row white on cyan. This theme picks each role's ANSI colour
on purpose: cyan for focus and keys, blue for the cursor row, the terminal's
own background, bright black for what is not focused.
"""

from __future__ import annotations

import os

from textual.theme import Theme

SIXTEEN = "ettui-16"

SIXTEEN_COLOURS = Theme(
    name=SIXTEEN,
    ansi=True,
    primary="ansi_blue",
    secondary="ansi_cyan",
    accent="ansi_cyan",
    warning="ansi_yellow",
    error="ansi_red",
    success="ansi_green",
    foreground="ansi_default",
    background="ansi_default",
    surface="ansi_default",
    panel="ansi_default",
    boost="ansi_default",
    dark=True,
    variables={
        "ansi-background": "ansi_black",
        "ansi-foreground": "ansi_white",
        "border": "ansi_cyan",
        "border-blurred": "ansi_bright_black",
        "block-cursor-foreground": "ansi_bright_white",
        "block-cursor-background": "ansi_blue",
        "block-cursor-text-style": "bold",
        "block-cursor-blurred-foreground": "ansi_white",
        "block-cursor-blurred-background": "ansi_bright_black",
        "footer-key-foreground": "ansi_cyan",
        "footer-description-foreground": "ansi_default",
        "footer-background": "ansi_default",
        "input-cursor-background": "ansi_white",
        "input-cursor-foreground": "ansi_black",
        "input-selection-background": "ansi_blue",
        "scrollbar": "ansi_bright_black",
        "scrollbar-background": "ansi_default",
        "text-muted": "ansi_bright_black",
    },
)
"""The theme used when the terminal offers 16 colours (and the user chose no other)."""


RICH_TERMS = ("256color", "direct", "kitty", "alacritty", "wezterm", "foot", "ghostty")
"""``TERM`` values (or parts) of terminals with more than 16 colours."""


def sixteen_colours(headless: bool) -> bool:
    """True on a 16-colour terminal, or when ``TEXTUAL_COLOR_SYSTEM=standard`` asks for one.

    Read from the environment as Rich does (``COLORTERM``, then ``TERM``); a
    headless run (tests, screenshots) has no terminal and says no unless asked.
    """
    asked = os.environ.get("TEXTUAL_COLOR_SYSTEM")
    if asked and asked != "auto":
        return asked == "standard"
    if headless or os.environ.get("COLORTERM", "").lower() in ("truecolor", "24bit"):
        return False
    term = os.environ.get("TERM", "").lower()
    return not any(part in term for part in RICH_TERMS)
