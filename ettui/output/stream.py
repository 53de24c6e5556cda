"""Opening an output file's XML safely: the DOCTYPE refusal, parser options, read-ahead.

A DOCTYPE is where external entities (XXE) and entity-expansion bombs live, and
a bulk-async output has no use for one, so a document that declares one is
refused after reading only its prolog, before lxml sees a byte. Every parser
in ``ettui.output`` also gets :func:`parser_options`: entities are never
resolved, no DTD is loaded, nothing is fetched, huge text nodes are refused.
"""

from __future__ import annotations

import queue
import threading
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from typing import IO, Any, TypeVar

from ettui.api.xmlsafe import HARDENED_OPTIONS
from ettui.errors import OutputError as OutputError  # re-exported: the output readers raise it

PROLOG_LIMIT = 1024 * 1024
"""Bytes of prolog (declaration, comments) tolerated before the root element."""

READ_CHUNK = 256 * 1024
"""Bytes handed to lxml per read; bigger than lxml's default to cut call overhead."""


DAMAGED = (zipfile.BadZipFile, zlib.error, EOFError, OSError)
"""What reading a damaged zip member (a bad CRC, a cut-off or garbled stream) or a failing disk raises."""


def damaged(name: str, exc: BaseException) -> OutputError:
    """The sentence for a file that broke while it was being read."""
    if isinstance(exc, OSError) and not isinstance(exc, zipfile.BadZipFile):
        return OutputError(f"Cannot read {name}: {exc.strerror or exc}; check the disk, then open it again.")
    return OutputError(f"{name} is damaged ({exc}); fetch it again before opening it.")


def parser_options() -> dict[str, Any]:
    """Options every lxml parser here gets: the same hardening as the API replies."""
    return dict(HARDENED_OPTIONS)


class PrefixedStream:
    """A binary stream that replays already-read ``prefix`` bytes before the rest.

    The prolog check must read the start of the file; a zip member cannot seek
    back, so the bytes it read are handed to the parser from here.
    """

    def __init__(self, prefix: bytes, rest: _ReadAhead) -> None:
        self._prefix = prefix
        self._rest = rest
        self.consumed = 0
        """Bytes handed to the parser so far (for an export's progress bar)."""

    def read(self, size: int = -1) -> bytes:
        """Read up to ``size`` bytes (lxml calls this with its chunk size)."""
        data = self._read(size)
        self.consumed += len(data)
        return data

    def _read(self, size: int) -> bytes:
        if self._prefix:
            if size < 0 or size >= len(self._prefix):
                data, self._prefix = self._prefix, b""
                if size < 0:
                    return data + self._rest.read()
                return data
            data, self._prefix = self._prefix[:size], self._prefix[size:]
            return data
        # The read-ahead hands out whole blocks whatever lxml asks for, so the
        # parser is fed in large chunks (lxml's file reader copes with more).
        return self._rest.read(size)

    def close(self) -> None:
        """Close the underlying stream."""
        self._rest.close()


class _ReadAhead:
    """Reads ``raw`` in a helper thread, a few blocks ahead of the parser.

    Inflating a zip member releases the GIL, so on a second core it overlaps
    with parsing instead of adding to it (lxml's parse itself holds the GIL).
    Memory stays bounded: at most ``depth`` blocks wait in the queue. A read
    that fails (a bad CRC in a zip member) raises :class:`OutputError` naming
    ``name`` in the reading thread.
    """

    def __init__(self, raw: IO[bytes], name: str = "the output", block: int = READ_CHUNK, depth: int = 8) -> None:
        self._raw = raw
        self._name = name
        self._block = block
        self._queue: queue.Queue[bytes | BaseException] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._pending = b""
        self._eof = False
        self._thread = threading.Thread(target=self._pump, name="ettui-output-readahead", daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        try:
            while not self._stop.is_set():
                data = self._raw.read(self._block)
                self._offer(data)
                if not data:
                    return
        except BaseException as exc:  # handed to the reading thread, raised there
            self._offer(exc)

    def _offer(self, item: bytes | BaseException) -> None:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def read(self, size: int = -1) -> bytes:
        """Up to one block (or the rest, for ``size < 0``); b"" at the end."""
        if self._pending:
            data, self._pending = self._pending, b""
            return data
        if self._eof:
            return b""
        item = self._queue.get()
        if isinstance(item, BaseException):
            self._eof = True
            if isinstance(item, DAMAGED):
                raise damaged(self._name, item) from item
            raise item
        if not item:
            self._eof = True
        if size < 0 and item:
            parts = [item]
            while chunk := self.read(self._block):
                parts.append(chunk)
            return b"".join(parts)
        return item

    def close(self) -> None:
        """Stop the helper thread and close ``raw``."""
        self._stop.set()
        self._thread.join()
        self._raw.close()


def _prolog_text(head: bytes) -> str:
    """Decode enough of the file start to scan its prolog, whatever its encoding."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return head.decode("utf-16", errors="ignore")
    if head.startswith(b"\xef\xbb\xbf"):
        head = head[3:]
    # Every other encoding XML allows here is ASCII-compatible for markup bytes.
    return head.decode("latin-1")


def _root_offset(text: str, name: str) -> int | None:
    """Where the root element starts in ``text``; raise on a DOCTYPE; None if not yet seen.

    Only declarations, processing instructions, comments and whitespace may come
    before the root element, so the scan is exact, not a guess.
    """
    pos = 0
    while True:
        while pos < len(text) and text[pos] in " \t\r\n":
            pos += 1
        if pos >= len(text):
            return None
        if text[pos] != "<":
            raise OutputError(f"{name} is not XML: text before the first element.")
        if text.startswith("<?", pos):
            end = text.find("?>", pos)
            if end < 0:
                return None
            pos = end + 2
        elif text.startswith("<!--", pos):
            end = text.find("-->", pos)
            if end < 0:
                return None
            pos = end + 3
        elif text.startswith("<!", pos):
            raise OutputError(
                f"{name} declares a DOCTYPE, which ettui refuses to read because it can"
                " pull in external files or expand entities without limit; ask for the"
                " output again or remove the DOCTYPE."
            )
        elif len(text) - pos < 2:
            return None
        else:
            return pos


def guarded_stream(raw: IO[bytes], name: str) -> PrefixedStream:
    """Check the prolog of ``raw`` for a DOCTYPE and return a stream that replays it.

    Raises:
        OutputError: the document declares a DOCTYPE, or its prolog is not XML or
            absurdly long; nothing after the prolog has been read.
    """
    head = b""
    while True:
        try:
            chunk = raw.read(16 * 1024)
        except DAMAGED as exc:
            raise damaged(name, exc) from exc
        head += chunk
        if _root_offset(_prolog_text(head), name) is not None:
            return PrefixedStream(head, _ReadAhead(raw, name))
        if not chunk:
            raise OutputError(f"{name} contains no XML element.")
        if len(head) > PROLOG_LIMIT:
            raise OutputError(f"{name} has more than {PROLOG_LIMIT} bytes before its first element.")


T = TypeVar("T")


def batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """Lists of ``size`` items (the last may be shorter), so a UI worker posts one message per batch."""
    batch: list[T] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
