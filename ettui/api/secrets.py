"""Masking secrets in text a person or the job store sees: one mask, one rule.

A service may echo a password or token back in an error, a reply or a log
line, XML-escaped or URL-encoded as the request carried it; every spelling is
masked, the longest first so a shorter secret inside a longer one cannot leave
part of the longer one showing.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterable

__all__ = ["MASK", "mask_secrets", "xml_escape"]

MASK = "********"
"""What stands in for a password or token in every document a person or the store sees."""


def xml_escape(text: str) -> str:
    """``text`` as it appears inside an XML element or a double-quoted attribute."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def mask_secrets(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every spelling of every secret (plain, XML-escaped, URL-encoded) masked."""
    if not text:
        return text
    spellings: set[str] = set()
    for secret in secrets:
        if secret:
            spellings |= {
                secret,
                xml_escape(secret),
                urllib.parse.quote(secret, safe=""),
                urllib.parse.quote_plus(secret),
            }
    for spelling in sorted(spellings, key=len, reverse=True):
        text = text.replace(spelling, MASK)
    return text
