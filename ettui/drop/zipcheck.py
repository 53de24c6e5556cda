"""Check a zip's member CRCs while it downloads, so the finished file is not read again.

``zipfile.testzip`` after the download reads (and inflates) the whole file a
second time: 0.3-0.4 s of a 256 MiB fetch measured here, after the last byte
and on the critical path. :class:`StreamingZipCheck` is fed the same bytes as
the sha256, in file order (the download's writer thread, so the CRC and the
inflating run beside the transfer; both release the GIL), and walks the local
headers: for each member it records where it starts and the CRC and sizes of
what its data really holds. At the end :meth:`confirm` reads only the central
directory and demands that every member it lists starts where a streamed one
did, with that CRC and those sizes: the same proof ``testzip`` gives.

Anything it does not follow (a data descriptor, encryption, a method other
than stored or deflate, bytes that are not a local header) makes it give up
quietly; the caller then runs ``testzip`` as before. Inflating is bounded per
call, so a zip bomb costs time, never memory.

CRC-32 and inflate come from ISA-L (``isal``, the same results as ``zlib``):
measured here 8.3 GB/s against zlib's 2.6 for the CRC and 2.4x zlib's inflate
rate, CPU the writer thread shares with the decrypting loop and sshd.
"""

from __future__ import annotations

import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from isal import isal_zlib

_LOCAL = b"PK\x03\x04"
_HEADER = struct.Struct("<4sHHHHHIIIHH")
_BAD_DATA: tuple[type[BaseException], ...] = (
    zlib.error, cast("type[BaseException]", isal_zlib.error), struct.error, ValueError,  # isal's stub types it as an instance
)
_OUT_STEP = 1 << 20
"""At most this many inflated bytes per step (bounded memory whatever the ratio)."""


@dataclass
class _Member:
    offset: int
    method: int
    packed: int
    """Compressed size from the local header (bytes of data to follow)."""
    crc: int = 0
    size: int = 0
    """Inflated bytes seen."""
    seen: int = 0
    """Compressed bytes seen."""


class StreamingZipCheck:
    """Fed a zip from its first byte, in order; knows each member's real CRC once its data passed."""

    def __init__(self) -> None:
        self.gave_up = False
        self._pos = 0
        self._buf = bytearray()
        self._need_header = True
        self._member: _Member | None = None
        self._inflate: isal_zlib.Decompress | None = None
        self._done: dict[int, _Member] = {}
        self._finished = False
        """Past the last member (the central directory began)."""

    def update(self, data: bytes | memoryview, /) -> None:
        if self.gave_up or self._finished:
            return
        try:
            self._feed(memoryview(data))
        except _BAD_DATA:
            self.gave_up = True

    def _feed(self, view: memoryview) -> None:
        while view and not (self.gave_up or self._finished):
            member = self._member
            if member is None:
                view = self._header(view)
                continue
            take = min(len(view), member.packed - member.seen)
            chunk, view = view[:take], view[take:]
            member.seen += take
            self._pos += take
            if member.method == zipfile.ZIP_STORED:
                member.crc = isal_zlib.crc32(chunk, member.crc)
                member.size += take
            else:
                self._inflate_chunk(member, bytes(chunk))
            if member.seen == member.packed:
                if self._inflate is not None and not self._inflate.eof:
                    self.gave_up = True
                    return
                self._done[member.offset] = member
                self._member, self._inflate = None, None

    def _inflate_chunk(self, member: _Member, chunk: bytes) -> None:
        assert self._inflate is not None
        while chunk:
            out = self._inflate.decompress(chunk, _OUT_STEP)
            member.crc = isal_zlib.crc32(out, member.crc)
            member.size += len(out)
            chunk = self._inflate.unconsumed_tail

    def _header(self, view: memoryview) -> memoryview:
        """Collect one local header (30 bytes + name + extra); start its member."""
        want = _HEADER.size
        if len(self._buf) >= 4 and bytes(self._buf[:4]) == _LOCAL and len(self._buf) >= _HEADER.size:
            fields = _HEADER.unpack_from(self._buf)
            want += fields[9] + fields[10]
        take = min(len(view), want - len(self._buf))
        self._buf += view[:take]
        view = view[take:]
        if len(self._buf) >= 4 and bytes(self._buf[:4]) != _LOCAL:
            self._finished = True  # the central directory (or anything after the members)
            return view
        if len(self._buf) < _HEADER.size:
            return view
        _sig, _ver, flags, method, _t, _d, _crc, packed, _size, name_len, extra_len = _HEADER.unpack_from(self._buf)
        if len(self._buf) < _HEADER.size + name_len + extra_len:
            return view
        if flags & 0x1 or flags & 0x8 or method not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            self.gave_up = True  # encrypted, sizes only after the data, or a method we do not inflate
            return view
        if packed == 0xFFFFFFFF:
            packed = _zip64_packed(bytes(self._buf[_HEADER.size + name_len :]))
            if packed is None:
                self.gave_up = True
                return view
        offset = self._pos
        self._pos += len(self._buf)
        self._buf = bytearray()
        self._member = _Member(offset=offset, method=method, packed=packed)
        self._inflate = isal_zlib.decompressobj(-15) if method == zipfile.ZIP_DEFLATED else None
        if packed == 0:
            self._done[offset] = self._member
            self._member, self._inflate = None, None
        return view

    def confirm(self, part: Path) -> bool | str:
        """True: every member of the central directory matched; a str: what is wrong; False: not checked here.

        Reads only the central directory of ``part``; raises what ``zipfile`` raises for a broken one.
        """
        if self.gave_up or self._member is not None:
            return False
        with zipfile.ZipFile(part) as archive:
            for info in archive.infolist():
                got = self._done.get(info.header_offset)
                if got is None:
                    return False  # a layout this check did not follow: let testzip decide
                if (got.crc, got.size, got.packed) != (info.CRC, info.file_size, info.compress_size):
                    return f"member {info.filename} fails its CRC check"
        return True


def _zip64_packed(extra: bytes) -> int | None:
    """The compressed size from a local header's zip64 extra field (the second 8-byte value)."""
    at = 0
    while at + 4 <= len(extra):
        tag, length = struct.unpack_from("<HH", extra, at)
        if tag == 0x0001 and length >= 16:
            return int(struct.unpack_from("<Q", extra, at + 4 + 8)[0])
        at += 4 + length
    return None


__all__ = ["StreamingZipCheck"]
