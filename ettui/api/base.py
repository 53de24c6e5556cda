"""The ``BatchApi`` protocol both dialects implement, and the catalogue types.

A front end never knows which dialect it talks to: it asks ``calls()`` for the
catalogue, builds a ``BatchRequest``, calls ``validate``/``submit`` and polls
with ``inquire``. Every failure is an ``ettui.errors.EttuiError``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from ettui.model import BatchRequest, Dialect, Inquiry, SubmitResult


class ParamKind(str, enum.Enum):
    """How a parameter's text is read and validated."""

    DATE = "date"  # M/D/YYYY (relative forms like -7d / today are resolved by the caller)
    DATETIME = "datetime"
    INT = "int"
    TEXT = "text"
    BOOL = "bool"
    CHOICE = "choice"


@dataclass(frozen=True)
class ParamSpec:
    """One parameter of a call in the catalogue."""

    name: str
    kind: ParamKind
    required: bool = False
    help: str = ""
    default: str | None = None
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class CallSpec:
    """One call of the catalogue (C1..C8 for the XML API, extracts for SOAP)."""

    id: str
    """Short id the CLI takes, e.g. ``C1`` or ``tracking-extract``."""
    name: str
    """The vendor's name for it, e.g. ``Retrieve All Jobs (Tracking Bulk Async)``."""
    params: tuple[ParamSpec, ...] = field(default_factory=tuple)
    help: str = ""
    aliases: tuple[str, ...] = ()
    """Other names a user may type for this call, e.g. ``all-jobs`` for ``C1``."""

    def matches(self, name: str) -> bool:
        """True when ``name`` is this call's id, vendor name or an alias (any case)."""
        wanted = name.strip().lower()
        return wanted in {self.id.lower(), self.name.lower(), *(a.lower() for a in self.aliases)}

    def param(self, name: str) -> ParamSpec | None:
        for spec in self.params:
            if spec.name.lower() == name.lower():
                return spec
        return None


@runtime_checkable
class BatchApi(Protocol):
    """A vendor API that queues batch exports and reports their status."""

    dialect: Dialect

    def calls(self) -> list[CallSpec]:
        """The catalogue of calls this dialect offers."""
        ...

    def validate(self, request: BatchRequest) -> None:
        """Raise ``ValidationError`` (naming the parameter) if the request is not sendable."""
        ...

    def preview(self, request: BatchRequest) -> str:
        """The exact document ``submit`` would send, with the password masked."""
        ...

    async def submit(self, request: BatchRequest) -> SubmitResult:
        """Validate, send, and return the batch (or request) ID the service assigned."""
        ...

    async def inquire(self, batch_id: str) -> Inquiry:
        """Ask for the status of one batch."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...
