"""What each config value must be: its type (from the field's annotation) and its range.

``RULES`` is the one place ranges and choices live; ``ettui.config`` applies
them to the file, and a command-line flag that sets the same thing (e.g.
``ettui sandbox --time-scale``) applies the same rule. A new config key needs
a line here only when its type alone does not say enough.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ettui.model import DIALECTS


@dataclass(frozen=True)
class Rule:
    """What a value must be beyond its type: bounds (inclusive, or ``above``) or choices."""

    minimum: float | None = None
    above: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()

    def problem(self, value: Any) -> str | None:
        """``must be ...`` when ``value`` breaks the rule, else None."""
        if self.choices:
            if value not in self.choices:
                return "must be " + " or ".join(f'"{c}"' for c in self.choices)
            return None
        if self.above is not None and not value > self.above:
            return f"must be more than {self.above:g}"
        low, high = self.minimum, self.maximum
        if (low is not None and value < low) or (high is not None and value > high):
            if low is not None and high is not None:
                return f"must be between {low:g} and {high:g}"
            return f"must be at least {low:g}" if low is not None else f"must be at most {high:g}"
        return None


POSITIVE = Rule(above=0)
NOT_NEGATIVE = Rule(minimum=0)
PORT = Rule(minimum=1, maximum=65535)

RULES: dict[str, dict[str, Rule]] = {
    "profiles": {
        "dialect": Rule(choices=DIALECTS),
        "soap_auth": Rule(choices=("usernametoken", "oauth")),
        "sftp_port": PORT,
        "drop_protocol": Rule(choices=("sftp", "ftps")),
        "ftps_port": PORT,
        "retention_hours": POSITIVE,
        "export_retention_hours": POSITIVE,
        "poll_initial": POSITIVE,
        "poll_max": POSITIVE,
        "poll_concurrency": Rule(minimum=1),
        "connect_timeout": POSITIVE,
        "read_timeout": POSITIVE,
        "request_deadline": POSITIVE,
        "transfer_stall_timeout": POSITIVE,
        "max_reply_bytes": Rule(minimum=1),
        "submit_retries": NOT_NEGATIVE,
        "drop_max_connections": Rule(minimum=1),
    },
    "ui": {"expiring_soon_hours": POSITIVE},
    "sandbox": {
        "time_scale": POSITIVE,
        "scheduled_seconds": NOT_NEGATIVE,
        "processing_seconds": NOT_NEGATIVE,
        "records": NOT_NEGATIVE,
        "error_share": Rule(minimum=0, maximum=1),
    },
}
"""Ranges and choices per table (``profiles`` applies to every profile); the one place they live."""

_KINDS = {"str": "a string", "int": "a whole number", "float": "a number", "bool": "true or false"}


def typed_value(value: Any, annotation: str) -> tuple[Any, str | None]:
    """``value`` converted to the field's type, or the ``should be ...`` text when it is not one."""
    base = annotation.replace(" | None", "").strip()
    if base == "float" and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    ok = {
        "bool": isinstance(value, bool),
        "int": isinstance(value, int) and not isinstance(value, bool),
        "float": isinstance(value, float),
        "str": isinstance(value, str),
    }.get(base)
    if ok is None:
        raise TypeError(f"config field type {annotation!r} has no check; add one to config_rules.typed_value")
    if ok and base == "float" and not math.isfinite(value):
        return value, f"should be a finite number, not {value!r}"
    return (value, None) if ok else (value, f"should be {_KINDS[base]}, not {value!r}")
