"""The `/` filter language shared by the board, the drop browser and the output viewer.

A query is whitespace-separated terms, all of which must match:

* ``word`` — case-insensitive substring of the row's text;
* ``field:value`` — the field contains ``value`` (``status:error``,
  ``call:c1``); several values separated by commas mean any of them
  (``status:error,unknown``);
* ``field<6h`` / ``field>2d`` — a duration field compared with a duration
  (units ``s``, ``m``, ``h``, ``d``, ``w``): ``expires<6h`` keeps files and jobs
  with under six hours left.

A caller that knows its fields passes them to :meth:`Query.parse`; then an
unknown qualifier (``foo:bar``, ``nxt<30s``) or a bad value (``expires<6x``)
is one sentence naming the term, instead of a silent word that matches nothing.

Pure code (no Textual), so it is unit-tested on its own.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from ettui.errors import FilterError as FilterError  # re-exported: the panes catch it from here
from ettui.model import SECONDS_PER_UNIT

_COMPARE = re.compile(r"([a-z_]+)\s*([<>])\s*(\d+(?:\.\d+)?)\s*([smhdw]?)", re.IGNORECASE)
_LOOKS_COMPARED = re.compile(r"([a-z_]*)\s*([<>])(.*)", re.IGNORECASE)
_UNITS = {**SECONDS_PER_UNIT, "": 3600}  # a bare number means hours (expires<6)


def _check_name(term: str, name: str, known: Collection[str] | None, kind: str) -> None:
    """Raise a sentence when ``name`` is not one of ``known`` (a guess at what was meant, if close)."""
    if known is None or name in known:
        return
    close = difflib.get_close_matches(name, list(known), n=1)
    hint = f" Did you mean {close[0]}?" if close else ""
    raise FilterError(f"{name!r} in {term!r} is not a {kind} to filter by; use {', '.join(sorted(known))}.{hint}")


@dataclass(frozen=True)
class Comparison:
    """``field < limit`` or ``field > limit`` on a duration."""

    field: str
    less: bool
    limit: timedelta

    def test(self, value: timedelta | None) -> bool:
        if value is None:
            return False
        return value < self.limit if self.less else value > self.limit


@dataclass(frozen=True)
class Query:
    """A parsed filter; ``Query.parse("")`` matches everything."""

    text: str = ""
    words: tuple[str, ...] = ()
    fields: tuple[tuple[str, tuple[str, ...]], ...] = ()
    comparisons: tuple[Comparison, ...] = field(default_factory=tuple)

    @classmethod
    def parse(
        cls,
        text: str,
        fields: Collection[str] | None = None,
        durations: Collection[str] | None = None,
    ) -> Query:
        """Read the filter text; raise ``FilterError`` naming a bad term.

        Args:
            text: What the user typed.
            fields: The ``field:value`` names this view knows (None: any name).
            durations: The ``field<6h`` names this view knows (None: any name).
        """
        words: list[str] = []
        found: list[tuple[str, tuple[str, ...]]] = []
        comparisons: list[Comparison] = []
        for term in text.split():
            if match := _COMPARE.fullmatch(term):
                name, op, number, unit = match.groups()
                _check_name(term, name.lower(), durations, "duration")
                seconds = float(number) * _UNITS[unit.lower()]
                comparisons.append(Comparison(name.lower(), op == "<", timedelta(seconds=seconds)))
            elif ":" in term and not term.startswith(":"):
                name, _, value = term.partition(":")
                _check_name(term, name.lower(), fields, "field")
                values = tuple(v.lower() for v in value.split(",") if v)
                if not values:
                    raise FilterError(f"The filter term {term!r} has no value; write it like status:error.")
                found.append((name.lower(), values))
            elif compared := _LOOKS_COMPARED.fullmatch(term):
                name, op, value = compared.groups()
                if not name or not value:
                    raise FilterError(f"The filter term {term!r} is incomplete; write it like expires<6h.")
                _check_name(term, name.lower(), durations, "duration")
                raise FilterError(
                    f"In {term!r}, {value!r} is not a duration; write a number and a unit s, m, h, d or w, like {name}{op}6h."
                )
            else:
                words.append(term.lower())
        return cls(text.strip(), tuple(words), tuple(found), tuple(comparisons))

    @property
    def empty(self) -> bool:
        return not (self.words or self.fields or self.comparisons)

    def matches(
        self,
        text: str,
        values: Mapping[str, str] | None = None,
        durations: Mapping[str, timedelta | None] | None = None,
    ) -> bool:
        """True when every term matches.

        Args:
            text: Everything searchable in the row, for plain words.
            values: Field name -> text, for ``field:value`` terms.
            durations: Field name -> duration, for ``field<6h`` terms.
        """
        if self.empty:
            return True
        lowered = text.lower()
        if any(word not in lowered for word in self.words):
            return False
        values = values or {}
        for name, wanted in self.fields:
            have = values.get(name)
            if have is None:
                return False
            have = have.lower()
            if not any(w in have for w in wanted):
                return False
        durations = durations or {}
        return all(c.test(durations.get(c.field)) for c in self.comparisons)
