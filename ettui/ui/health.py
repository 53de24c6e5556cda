"""Each endpoint's state for the status line: connected, retrying, or down since HH:MM.

Pure code fed by the app: a successful exchange calls :meth:`EndpointHealth.ok`,
a failed one :meth:`EndpointHealth.failed`. The first failures count as
"retrying" (the poller and the drop refresh try again by themselves); after
``DOWN_AFTER`` in a row the endpoint is "down since" the first of them, until
one exchange succeeds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, tzinfo

DOWN_AFTER = 3
"""Failures in a row before an endpoint counts as down."""


def clock_time(moment: datetime, seconds: bool = False, zone: tzinfo | None = None) -> str:
    """``14:05`` (or ``14:05:09``) in ``zone`` (None: the computer's local time zone)."""
    return moment.astimezone(zone).strftime("%H:%M:%S" if seconds else "%H:%M")


@dataclass
class EndpointHealth:
    """What the status line says about one endpoint (``API`` or ``drop``)."""

    name: str
    state: str = "connecting"
    """``connecting``, ``connected``, ``retrying`` or ``down``."""
    failures: int = 0
    failing_since: datetime | None = None
    last_ok: datetime | None = None
    last_error: str | None = None

    def ok(self, at: datetime) -> bool:
        """An exchange succeeded; True when the state changed."""
        changed = self.state != "connected"
        self.state, self.failures, self.failing_since, self.last_ok = "connected", 0, None, at
        return changed

    def failed(self, at: datetime, message: str) -> bool:
        """An exchange failed; True when the state changed."""
        before = self.state
        self.failures += 1
        self.failing_since = self.failing_since or at
        self.last_error = message
        self.state = "down" if self.failures >= DOWN_AFTER else "retrying"
        return self.state != before

    def describe(self, zone: tzinfo | None = None) -> str:
        """``API connected``, ``drop retrying``, ``drop down since 14:02`` (in ``zone``)."""
        if self.state == "down" and self.failing_since is not None:
            return f"{self.name} down since {clock_time(self.failing_since, zone=zone)}"
        return f"{self.name} {self.state}"
