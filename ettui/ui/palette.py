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


def sixteen_colours(color_system: str | None) -> bool:
    """True on a 16-colour terminal (Rich's ``standard``), or when ``TEXTUAL_COLOR_SYSTEM`` asks for one."""
    return (os.environ.get("TEXTUAL_COLOR_SYSTEM") or color_system or "") == "standard"
