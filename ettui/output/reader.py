"""Streaming reader for the XML inside a bulk-async output file.

The vendor never published the output schema (spec section 5.4), so the reader
*discovers* the record element instead of expecting one:

**Record discovery rule.** The first part of the document (the *discovery
window*: up to ``DISCOVERY_ELEMENTS`` elements, or the whole file if smaller)
is parsed into a small tree. A *repeating group* is a set of >= 2 sibling
elements with the same tag under one parent, tags compared case-insensitively
and without namespace. The record is the group that

1. has element children (a row with columns beats a list of bare values),
2. is nearest the root (so a repeated ``<attribute>`` inside the first record
   never wins over the records themselves), then
3. has the most members in the window (records outnumber header fields), then
4. appears first.

With no repeating group (a file with one record) the record is found by
walking down from the root through single-child wrappers: the first element
that has several children, or whose only child is a leaf. A file whose root
has no children has no records.

Records are then every element with the record's tag (any case, any
namespace) whose parent path matches the discovered one.

**Columns.** A record's leaf children become columns in first-seen order;
nested leaves are flattened ``Parent.Child``; attributes become ``@name`` on
the record and ``Child@name`` on a child; a name seen again in the same
record gets ``Name[2]``, ``Name[3]``... so nothing is lost. Names are matched
case-insensitively: ``EmailAddress`` and ``emailaddress`` are one column,
shown with the first spelling seen.

**Safety.** Documents with a DOCTYPE are refused before the parser sees a
byte of them (that is where external entities and entity-expansion bombs
live); the parser itself never resolves entities, loads a DTD, touches the
network, or accepts huge text nodes. See :mod:`ettui.output.stream`.

**Memory.** Each record is removed from the tree as soon as its row is built,
so memory stays constant whatever the file size.

**Threads.** Everything here is synchronous. One ``OutputReader`` may be
iterated from a worker thread (or several: each iteration opens its own
stream and parser); the column registry is guarded by a lock.
"""

from __future__ import annotations

import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, cast

from lxml import etree

from ettui.api.xmlsafe import local_tag
from ettui.output.base import Row, uncompressed_size, zip_members
from ettui.output.stream import OutputError, PrefixedStream, batched, guarded_stream, parser_options

DISCOVERY_ELEMENTS = 4000
"""Elements parsed before the record element is chosen (bounded, so first rows are fast)."""

DISCOVERY_CHUNK = 64 * 1024
"""Bytes fed to the discovery parser at a time."""


class _Missing(str):
    """Type of :data:`MISSING`: a str, so a row joins and writes as CSV as it is."""

    __slots__ = ()


MISSING: str = _Missing("")
"""The value of a column a record does not have: equal to "", told apart with ``is``."""


# ------------------------------------------------------------------ discovery


def _attributes(elem: etree._Element) -> list[tuple[str, str]]:
    """The element's attributes as (name, value) pairs, in document order."""
    # lxml-stubs says ``str | bytes``; on Python 3 lxml always returns str here.
    return cast("list[tuple[str, str]]", elem.attrib.items())


def _path(elem: etree._Element) -> tuple[str, ...]:
    """Lower-case local names from the root down to ``elem``."""
    names: list[str] = []
    node: etree._Element | None = elem
    while node is not None:
        names.append(local_tag(node.tag).lower())
        node = node.getparent()
    return tuple(reversed(names))


def discover(root: etree._Element) -> etree._Element | None:
    """Pick the record element of a (partial) tree by the rule in the module docstring.

    Returns one example record, or None when the document has no records.
    """
    best: tuple[tuple[int, int, int, int], etree._Element] | None = None
    order = 0
    for parent in root.iter():
        groups: dict[str, list[etree._Element]] = {}
        for child in parent:
            groups.setdefault(local_tag(child.tag).lower(), []).append(child)
        for members in groups.values():
            order += 1
            if len(members) < 2:
                continue
            has_columns = any(len(m) or m.attrib for m in members)
            depth = len(_path(members[0]))
            # Lower sorts first: columns, then shallow, then many, then early.
            score = (0 if has_columns else 1, depth, -len(members), order)
            if best is None or score < best[0]:
                best = (score, members[0])
    if best is not None:
        return best[1]
    node = root
    while len(node) == 1 and len(node[0]) > 0:
        node = node[0]
    return node if len(node) > 0 or node is not root else None


# --------------------------------------------------------------------- reader


class OutputReader:
    """Rows from one output XML file, plain or inside a zip, in constant memory.

    Args:
        source: an ``.xml`` file or a ``.zip`` holding one (read from the zip
            stream, never extracted).
        member: the zip member to read; default the only (or first) XML member.

    Raises:
        OutputError: the file is missing, not a zip/XML, or has no such member.
    """

    def __init__(self, source: Path, member: str | None = None) -> None:
        self.source = Path(source)
        self._lock = threading.Lock()
        self._is_zip = self._check_source()
        self.member = self._pick_member(member) if self._is_zip else None
        self._columns: list[str] = []
        self._index: dict[str, int] = {}  # lower-case flattened name -> column
        self._top: dict[str, int] = {}  # raw child tag -> column, the hot path
        self._discovered = False
        self._record_tag: str | None = None
        self._record_spellings: list[str] = []
        self._parent_path: tuple[str, ...] = ()
        self._pass: PrefixedStream | None = None
        """The stream of the pass under way (its ``consumed`` is the progress)."""
        self._size: int | None = None

    # ---- source handling

    @property
    def name(self) -> str:
        """How errors name this file: ``file.zip:member.xml`` or ``file.xml``."""
        return f"{self.source.name}:{self.member}" if self.member else self.source.name

    def _check_source(self) -> bool:
        if not self.source.is_file():
            raise OutputError(f"Output file {self.source} does not exist; fetch it again.")
        return zipfile.is_zipfile(self.source)

    def members(self) -> list[str]:
        """XML members of a zip source (every file member if none ends in .xml); [] for XML."""
        if not self._is_zip:
            return []
        files = zip_members(self.source)
        xml = [n for n in files if n.lower().endswith(".xml")]
        return xml or files

    def _pick_member(self, member: str | None) -> str:
        names = self.members()
        if member is not None:
            if member not in names:
                held = ", ".join(names) or "nothing"
                raise OutputError(f"{self.source.name} has no member {member!r}; it holds {held}.")
            return member
        if not names:
            raise OutputError(f"{self.source.name} holds no file to read.")
        return names[0]

    def _open(self) -> PrefixedStream:
        """A fresh, prolog-checked byte stream of the XML (each iteration has its own)."""
        try:
            if self._is_zip:
                archive = zipfile.ZipFile(self.source)
                raw: IO[bytes] = archive.open(self.member or "")
                archive.close()  # the member stream keeps the file open on its own
            else:
                raw = open(self.source, "rb")  # noqa: SIM115 -- returned; the caller closes it with `with`
        except (zipfile.BadZipFile, OSError, KeyError) as exc:
            raise OutputError(f"Cannot open {self.name}: {exc}.") from exc
        try:
            return guarded_stream(raw, self.name)
        except BaseException:
            raw.close()
            raise

    # ---- discovery

    def _discover(self) -> None:
        """Parse the discovery window and fix the record tag and its parent path."""
        with self._lock:
            if self._discovered:
                return
            stream = self._open()
            try:
                parser = etree.XMLPullParser(events=("end",), **parser_options())
                seen = 0
                last: etree._Element | None = None
                try:
                    while seen < DISCOVERY_ELEMENTS:
                        chunk = stream.read(DISCOVERY_CHUNK)
                        if chunk:
                            parser.feed(chunk)
                        else:
                            parser.close()  # raises if the document is cut short
                        for _event, item in parser.read_events():
                            seen += 1
                            if isinstance(item, etree._Element):  # always, for "end" events
                                last = item
                        if not chunk:
                            break
                except etree.XMLSyntaxError as exc:
                    raise OutputError(f"{self.name} is not well-formed XML: {exc}.") from exc
            finally:
                stream.close()
            # A window that stops mid-document still has a (partial) tree to look at.
            root = last.getroottree().getroot() if last is not None else None
            record = discover(root) if root is not None else None
            if root is not None and record is not None:
                self._record_tag = local_tag(record.tag).lower()
                self._parent_path = _path(record)[:-1]
                spellings = {local_tag(e.tag) for e in root.iter() if local_tag(e.tag).lower() == self._record_tag}
                self._record_spellings = sorted(spellings)
            self._discovered = True

    @property
    def record_tag(self) -> str | None:
        """The record element's tag (lower case, no namespace); None if the file has no records."""
        self._discover()
        return self._record_tag

    @property
    def columns(self) -> list[str]:
        """Column names in first-seen order; grows as rows with new columns are read."""
        with self._lock:
            return list(self._columns)

    def _column(self, name: str) -> int:
        """Index of the column ``name`` (case-insensitive), registering it when new."""
        key = name.lower()
        with self._lock:
            index = self._index.get(key)
            if index is None:
                index = self._index[key] = len(self._columns)
                self._columns.append(name)
            return index

    # ---- streaming

    def _records(self) -> Iterator[etree._Element]:
        """Every record element in document order; each is dropped from the tree after use."""
        self._discover()
        if self._record_tag is None:
            return
        # A C-level tag filter keeps per-element Python work off the hot path; `{*}`
        # matches any namespace. Spellings not seen in the window are caught below
        # as leftover siblings, so they are read, not lost.
        tags = [f"{{*}}{s}" for s in self._record_spellings]
        record_tag, parent_path = self._record_tag, self._parent_path
        stream = self._pass = self._open()
        good_parent: etree._Element | None = None
        root: etree._Element | None = None
        try:
            events = etree.iterparse(stream, events=("end",), tag=tags, **parser_options())
            try:
                for _event, elem in events:
                    parent = elem.getparent()
                    if parent is not good_parent:
                        if parent is None or _path(parent) != parent_path:
                            continue  # same tag elsewhere (e.g. nested): not a record
                        if good_parent is not None:
                            yield from _leftovers(good_parent, record_tag)
                        good_parent = parent
                    if elem.getprevious() is not None:
                        yield from _leftovers(parent, record_tag, before=elem)
                    yield elem
                    parent.remove(elem)
                root = events.root
            except etree.XMLSyntaxError as exc:
                raise OutputError(f"{self.name} is not well-formed XML: {exc}.") from exc
        finally:
            stream.close()
        if good_parent is not None:
            yield from _leftovers(good_parent, record_tag)
        if root is not None:
            # Records under another parent with the same path whose spelling the
            # window never saw: rare, read last rather than lost.
            for elem in list(root.iter()):
                if local_tag(elem.tag).lower() == record_tag and _path(elem)[:-1] == parent_path:
                    yield elem

    def _values(self, record: etree._Element) -> list[str]:
        """One row as values by column index; :data:`MISSING` where the record lacks a column."""
        values: list[str] = [MISSING] * len(self._columns)
        if record.attrib:  # attributes come first in the document, so first in columns
            for attr, value in _attributes(record):
                self._put("@" + local_tag(attr), value, values)
        top = self._top
        # The hot loop: one plain leaf per iteration, nothing but lookups and stores.
        for child in record:
            if len(child) or child.attrib:
                self._flatten(child, "", values)
                continue
            index = top.get(child.tag)
            if index is None:
                index = top[child.tag] = self._column(local_tag(child.tag))
            try:
                if values[index] is MISSING:
                    values[index] = child.text or ""
                    continue
            except IndexError:  # a column newer than this row's list
                self._put(local_tag(child.tag), child.text or "", values)
                continue
            self._put(local_tag(child.tag), child.text or "", values)  # a repeated name
        return values

    def _flatten(self, elem: etree._Element, prefix: str, values: list[str]) -> None:
        """Slow path: a child with attributes or children of its own."""
        name = prefix + local_tag(elem.tag)
        for attr, value in _attributes(elem):
            self._put(f"{name}@{local_tag(attr)}", value, values)
        if len(elem):
            for child in elem:
                self._flatten(child, name + ".", values)
        else:
            self._put(name, elem.text or "", values)

    def _put(self, name: str, value: str, values: list[str]) -> None:
        """Store ``value`` under ``name``, or ``name[2]``, ``name[3]``... if already set."""
        candidate, n = name, 1
        while True:
            index = self._column(candidate)
            if index >= len(values):
                values.extend([MISSING] * (index + 1 - len(values)))
            if values[index] is MISSING:
                values[index] = value
                return
            n += 1
            candidate = f"{name}[{n}]"

    def iter_values(self, limit: int | None = None) -> Iterator[list[str]]:
        """Rows as lists indexed like :attr:`columns` (the fast form exports use).

        A list may be shorter than the final column list; :data:`MISSING` (an
        empty string, tested with ``is``) marks a column the record lacks.
        """
        if limit is not None and limit <= 0:
            return
        values = self._values
        for produced, record in enumerate(self._records(), 1):
            yield values(record)
            if limit is not None and produced >= limit:
                return

    def iter_rows(self, limit: int | None = None) -> Iterator[Row]:
        """Rows as ``{column: text}`` in document order; the first arrive before the file is read.

        Columns a record lacks are absent from its dict; an empty element gives "".
        """
        for values in self.iter_values(limit):
            names = self._columns  # only ever appended to, so indices stay valid
            yield {names[i]: v for i, v in enumerate(values) if v is not MISSING}

    def batches(self, size: int = 500, limit: int | None = None) -> Iterator[list[Row]]:
        """Rows in lists of ``size``, for a UI thread worker to post one message per batch."""
        return batched(self.iter_rows(limit), size)

    def count(self) -> int:
        """Number of records, without building rows."""
        return sum(1 for _ in self._records())

    @property
    def fraction_read(self) -> float | None:
        """How far the pass under way is through the XML's bytes, 0 to 1; None before one."""
        if self._pass is None:
            return None
        if self._size is None:
            self._size = uncompressed_size(self.source, self.member)
        return min(1.0, self._pass.consumed / self._size) if self._size else 1.0



def _leftovers(
    parent: etree._Element, record_tag: str, before: etree._Element | None = None
) -> Iterator[etree._Element]:
    """Unread children of ``parent`` (up to ``before``): records yielded, the rest dropped.

    Records whose spelling the tag filter did not know end up here, in order.
    """
    while len(parent):
        child = parent[0]
        if child is before:
            return
        if local_tag(child.tag).lower() == record_tag:
            yield child
        parent.remove(child)
