"""A hardened lxml parser for replies from the network.

Both API dialects (and anything else that reads XML a server sent us) parse
through here. The parser never resolves entities, never touches the network,
never loads a DTD and keeps libxml2's size limits on. On top of that, any
document that carries a DOCTYPE is refused outright: no reply of the vendor's
needs one, and a DOCTYPE is where every entity-expansion and external-entity
attack lives.

Errors are a plain ``XmlRejected`` (a ``ValueError``) so each caller can map it
into its own place in the ``ettui.errors`` family with its own wording.
"""

from __future__ import annotations

import re
from typing import TypedDict

from lxml import etree

__all__ = ["HARDENED_OPTIONS", "XmlRejected", "hardened_parser", "local_name", "local_tag", "parse_xml"]

# A DOCTYPE can only appear before the root element, but comments and PIs may
# precede it, so search the whole prologue region generously. Matching bytes
# is cheap and stops a hostile document before libxml2 looks at its DTD. The
# post-parse ``docinfo`` check below catches encodings this scan cannot see
# (UTF-16, for one).
_DOCTYPE = re.compile(rb"<!\s*DOCTYPE", re.IGNORECASE)
_PROLOGUE_SCAN = 64 * 1024

MAX_ELEMENTS = 100_000
"""A reply with more elements is refused: the largest the vendor sends (a Retrieve
page of 2,500 results) holds a few tens of thousands, and every lookup in a
reply walks its elements in Python, so a flat 16 MiB reply of empty elements
(four million of them) would otherwise cost a minute of CPU per poll."""


class XmlRejected(ValueError):
    """The bytes are not well-formed XML, or they carry a forbidden DOCTYPE."""

    def __init__(self, reason: str, *, doctype: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.doctype = doctype
        """True when the document was refused for carrying a DOCTYPE."""


class ParserOptions(TypedDict):
    """Keyword options of ``lxml.etree.XMLParser`` that ettui fixes."""

    resolve_entities: bool
    no_network: bool
    load_dtd: bool
    dtd_validation: bool
    huge_tree: bool
    remove_comments: bool
    remove_pis: bool


HARDENED_OPTIONS: ParserOptions = {
    "resolve_entities": False,
    "no_network": True,
    "load_dtd": False,
    "dtd_validation": False,
    "huge_tree": False,
    "remove_comments": True,
    "remove_pis": True,
}
"""The lxml parser options every client-side parse uses (replies here, outputs in
``ettui.output``): nothing is fetched, loaded or expanded."""


def hardened_parser() -> etree.XMLParser:
    """A new lxml parser with entity resolution, network, DTDs and huge trees off.

    Parsers are not shared between threads in lxml, so hand out a fresh one
    per call rather than a module-level singleton.
    """
    return etree.XMLParser(**HARDENED_OPTIONS)


def parse_xml(data: bytes | str, *, max_elements: int = MAX_ELEMENTS) -> etree._Element:
    """Parse a document with the hardened parser and return its root element.

    Safe to call in a worker thread (a fresh parser per call; lxml parses
    without the GIL), which is how the API clients call it.

    Raises:
        XmlRejected: the data is empty, not well-formed, has a DOCTYPE, or
            holds more than ``max_elements`` elements.
    """
    raw = data.encode("utf-8") if isinstance(data, str) else data
    if not raw.strip():
        raise XmlRejected("the body is empty")
    if _DOCTYPE.search(raw, 0, _PROLOGUE_SCAN):
        raise XmlRejected("the document declares a DOCTYPE, which is never accepted", doctype=True)
    try:
        root = etree.fromstring(raw, parser=hardened_parser())
    except etree.XMLSyntaxError as exc:
        raise XmlRejected(f"it is not well-formed XML ({exc.msg})") from None
    except ValueError as exc:  # e.g. a str with an encoding declaration
        raise XmlRejected(f"it could not be read as XML ({exc})") from None
    if root is None:
        raise XmlRejected("the document has no root element")
    docinfo = root.getroottree().docinfo
    # lxml-stubs 0.5 lacks DocInfo.doctype, which lxml has had since 2.0.
    has_doctype = bool(docinfo.doctype)  # type: ignore[union-attr]
    if has_doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise XmlRejected("the document declares a DOCTYPE, which is never accepted", doctype=True)
    counted = root.xpath("count(//*)")  # in C: a fraction of a second for millions
    count = int(counted) if isinstance(counted, float) else 0
    if count > max_elements:
        raise XmlRejected(f"it holds {count:,} elements, more than the {max_elements:,} ettui accepts in one reply")
    return root


def local_tag(tag: str) -> str:
    """A tag or attribute name without its ``{namespace}``, case kept (column names keep theirs)."""
    return tag.rpartition("}")[2]


def local_name(element: etree._Element) -> str:
    """The element's tag without namespace, lower-cased ('' for comments and PIs).

    The vendor's replies are inconsistent about case (``batchID``/``batchid``,
    ``Batch``/``batch``), so every lookup compares lower-cased local names.
    String slicing, not ``etree.QName``: the status read runs on every poll.
    """
    tag = element.tag
    return local_tag(tag).lower() if isinstance(tag, str) else ""
