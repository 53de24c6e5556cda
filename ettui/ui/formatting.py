"""How the UI words and colours domain values: statuses, durations, sizes, expiry.

Pure functions over ``ettui.model`` types, so the widgets stay small and the
rules (amber under 12 h, red under 2 h) live in one place.
"""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo

from rich.text import Text

from ettui.model import Expiry, JobStatus, Progress, Urgency, format_duration
from ettui.safetext import clean

STATUS_STYLES: dict[JobStatus, str] = {
    JobStatus.SCHEDULED: "bold blue",
    JobStatus.PROCESSING: "bold yellow",
    JobStatus.COMPLETE: "bold green",
    JobStatus.ERROR: "bold red",
    JobStatus.UNKNOWN: "bold magenta",
}
"""Colour of each status on the board and in details."""

URGENCY_STYLES: dict[Urgency, str] = {
    Urgency.OK: "green",
    Urgency.SOON: "bold #ffaf00",  # amber: under 12 h
    Urgency.URGENT: "bold red",  # under 2 h
    Urgency.EXPIRED: "bold white on red",
}
"""Colour of an expiry countdown by how close the file is to being swept."""

BAR_WIDTH = 8
"""Cells of the text progress bar drawn in a drop row."""


def status_text(status: JobStatus, raw: str | None = None) -> Text:
    """The status word in its colour (the vendor's own spelling when known, cleaned: it is reply text)."""
    return Text(clean(raw or status.value), style=STATUS_STYLES.get(status, ""))


def since(start: datetime | None, now: datetime) -> str:
    """Age of ``start`` at ``now`` (``-`` when unknown)."""
    if start is None:
        return "-"
    return format_duration(max(timedelta(0), now - start))


def until(moment: datetime | None, now: datetime) -> str:
    """Countdown to ``moment`` (``now`` once it has passed, ``-`` when unknown)."""
    if moment is None:
        return "-"
    left = moment - now
    return "now" if left <= timedelta(0) else format_duration(left)


def expiry_text(expires_at: datetime | None, now: datetime) -> Text:
    """A countdown to expiry coloured by urgency; ``EXPIRED`` when it has passed."""
    if expires_at is None:
        return Text("-", style="dim")
    expiry = Expiry(expires_at)
    urgency = expiry.urgency(now)
    if urgency is Urgency.EXPIRED:
        return Text("EXPIRED", style=URGENCY_STYLES[urgency])
    return Text(format_duration(expiry.time_left(now)), style=URGENCY_STYLES[urgency])


def local_time(moment: datetime | None, fmt: str = "%m-%d %H:%M", zone: tzinfo | None = None) -> str:
    """``03-08 12:10`` in ``zone`` (``[ui] time_zone``; None: the computer's local zone); ``-`` when unknown."""
    return moment.astimezone(zone).strftime(fmt) if moment is not None else "-"


def expiry_at_text(expires_at: datetime | None, now: datetime, zone: tzinfo | None = None) -> Text:
    """The coloured countdown and the absolute moment in ``zone``: ``2d 21h (Sun 2026-03-08 12:10 CET)``."""
    text = expiry_text(expires_at, now)
    if expires_at is not None:
        text.append(f" ({local_time(expires_at, '%a %Y-%m-%d %H:%M %Z', zone)})", style="")
    return text


def human_size(size: int | float) -> str:
    """Bytes in a short human unit: ``512 B``, ``3.4 KB``, ``12.0 MB``."""
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"  # pragma: no cover - loop always returns


def progress_text(progress: Progress) -> Text:
    """``[████░░░░]  52% 3.1 MB/s 4m 09s`` (bar, share, rate, time left) for a running download."""
    fraction = min(1.0, max(0.0, progress.fraction))
    filled = round(fraction * BAR_WIDTH)
    text = Text("[", style="dim")
    text.append("█" * filled, style="bold cyan")
    text.append("░" * (BAR_WIDTH - filled), style="dim")
    text.append("]", style="dim")
    text.append(f" {fraction * 100:3.0f}% {human_size(progress.rate)}/s")
    eta = progress.eta_seconds
    if eta is not None:
        text.append(f" {format_duration(timedelta(seconds=int(eta)))}", style="dim")
    return text


def plural(count: int, noun: str) -> str:
    """``1 file``, ``2 files``, ``1,204 jobs``."""
    return f"{count:,} {noun}" if count == 1 else f"{count:,} {noun}s"


def shorten(name: str, width: int) -> str:
    """Cut the middle of a long name (``bulkasync_1…0405_1.zip``): both ends tell files apart."""
    if len(name) <= width:
        return name
    head = (width - 1) // 3
    tail = width - 1 - head
    return f"{name[:head]}…{name[-tail:]}"

