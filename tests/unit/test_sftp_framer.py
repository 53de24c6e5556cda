"""``_fast_start._Framer``: SFTP replies cut from the channel's chunks however the chunks fall.

The framer's neighbours are asyncssh's handler (its request waiters and
``_cleanup``); here a small stand-in records what the framer does with them.
The real path, against OpenSSH and the sandbox, is every drop test.
"""

from __future__ import annotations

import asyncio
import struct
from typing import Any

import pytest
from asyncssh import SFTPBadMessage, SFTPNoConnection, SFTPNoSuchFile
from asyncssh.logging import logger as asyncssh_logger
from asyncssh.packet import String, UInt32, UInt64
from asyncssh.sftp import MAX_SFTP_PACKET_LEN, SFTPClientHandler

from ettui.drop._fast_start import _Framer


class Handler:
    def __init__(self, loop: asyncio.AbstractEventLoop, ids: range) -> None:
        self._requests: dict[int, asyncio.Future[Any]] = {i: loop.create_future() for i in ids}
        self.cleaned: list[Exception | None] = []
        self.logger: Any = None

    def log_received_packet(self, *args: object) -> None:
        pass

    async def _cleanup(self, exc: Exception | None) -> None:
        self.cleaned.append(exc)


class Conn:
    def create_task(self, coro: Any, logger: object = None) -> asyncio.Task[None]:
        return asyncio.ensure_future(coro)


def reply(pktid: int, body: bytes) -> bytes:
    payload = bytes([103]) + struct.pack(">I", pktid) + struct.pack(">I", len(body)) + body  # FXP_DATA
    return struct.pack(">I", len(payload)) + payload


@pytest.mark.parametrize("chunk", [1, 3, 4, 5, 7, 1000, 65536, 10**9])
async def test_replies_are_whole_however_the_chunks_fall(chunk: int) -> None:
    bodies = [bytes([i]) * (i * 997 % 70000) for i in range(12)]
    stream = b"".join(reply(i, body) for i, body in enumerate(bodies))
    handler = Handler(asyncio.get_running_loop(), range(12))
    waiters = dict(handler._requests)
    framer = _Framer(handler, Conn())  # type: ignore[arg-type]
    for at in range(0, len(stream), chunk):
        framer.feed(stream[at : at + chunk])
    for i, body in enumerate(bodies):
        pkttype, packet = waiters[i].result()
        assert pkttype == 103
        assert packet.get_string() == body
    assert handler._requests == {} and handler.cleaned == []


async def test_a_reply_nobody_asked_for_ends_the_session() -> None:
    handler = Handler(asyncio.get_running_loop(), range(1))
    framer = _Framer(handler, Conn())  # type: ignore[arg-type]
    framer.feed(reply(5, b"x"))
    framer.feed(reply(0, b"late"))  # ignored: the session has ended
    await asyncio.sleep(0)
    assert [str(e) for e in handler.cleaned] == ["Invalid response id"]
    assert not handler._requests[0].done()


async def test_an_oversized_length_ends_the_session_before_buffering_it() -> None:
    handler = Handler(asyncio.get_running_loop(), range(1))
    framer = _Framer(handler, Conn())  # type: ignore[arg-type]
    framer.feed(struct.pack(">I", MAX_SFTP_PACKET_LEN + 1) + b"\0" * 10)
    await asyncio.sleep(0)
    assert len(handler.cleaned) == 1 and isinstance(handler.cleaned[0], SFTPBadMessage)


async def test_the_channel_closing_ends_it_once() -> None:
    handler = Handler(asyncio.get_running_loop(), range(1))
    framer = _Framer(handler, Conn())  # type: ignore[arg-type]
    framer.feed(reply(0, b"abc")[:6])  # half a reply, then the channel goes
    lost = ConnectionResetError("gone")
    framer.end(lost)
    framer.end(None)
    await asyncio.sleep(0)
    assert handler.cleaned == [lost]


# -- reads answered by the framer (``_Framer.read``, what ``read_block`` uses) ----------------------------


class ReadHandler(Handler):
    """The stand-in with asyncssh's own request sending and status handling (its unbound methods)."""

    _send_request = SFTPClientHandler._send_request
    _process_status = SFTPClientHandler._process_status

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(loop, range(0))
        self._loop = loop
        self._next_pktid = 7
        self._version = 3
        self._utf8_decode_errors = "strict"
        self.logger = asyncssh_logger.get_child("sftp")
        self.sent: list[tuple[int, bytes]] = []
        self.closed = False

    def send_packet(self, pkttype: int, pktid: int | None, *args: bytes) -> None:
        if self.closed:
            raise SFTPNoConnection("Connection not open")
        self.sent.append((pkttype, b"".join(args)))


def status(pktid: int, code: int, message: str = "") -> bytes:
    payload = bytes([101]) + struct.pack(">II", pktid, code) + String(message) + String("")  # FXP_STATUS
    return struct.pack(">I", len(payload)) + payload


async def test_a_read_is_sent_as_asyncssh_sends_it_and_gets_its_data_as_a_view() -> None:
    handler = ReadHandler(asyncio.get_running_loop())
    framer = _Framer(handler, Conn())  # type: ignore[arg-type]
    bodies = [bytes([i + 1]) * size for i, size in enumerate((1, 70000, 262144))]
    reads = [framer.read(b"h1", offset, len(body)) for offset, body in zip((0, 10, 99), bodies, strict=True)]
    assert handler.sent == [(5, struct.pack(">I", 7 + i) + String(b"h1") + UInt64(offset) + UInt32(len(body)))
                            for i, (offset, body) in enumerate(zip((0, 10, 99), bodies, strict=True))]
    stream = b"".join(reply(7 + i, body) for i, body in enumerate(bodies))
    scratch = bytearray(5000)  # fed as views of one reused buffer, as the receive path feeds it
    for at in range(0, len(stream), len(scratch)):
        piece = stream[at : at + len(scratch)]
        scratch[: len(piece)] = piece
        framer.feed(memoryview(scratch)[: len(piece)])
        scratch[:] = b"\xee" * len(scratch)  # reused at once: nothing of it may have been kept
    for waiter, body in zip(reads, bodies, strict=True):
        data = waiter.result()
        assert isinstance(data, memoryview) and data == body
    assert handler._requests == {} and handler.cleaned == []


async def test_a_read_ends_or_fails_as_asyncssh_s_read_would_and_the_session_goes_on() -> None:
    handler = ReadHandler(asyncio.get_running_loop())
    framer = _Framer(handler, Conn())  # type: ignore[arg-type]
    at_end, missing, ok, wrong_type, bad_length, later = (framer.read(b"h", 0, 10) for _ in range(6))
    bad_data = bytes([103]) + struct.pack(">II", 11, 99) + b"short"  # says 99 bytes, holds 5
    framer.feed(status(7, 1, "End of file") + status(8, 2, "No such file") + status(9, 0)
                + reply(10, b"")[:4] + bytes([102]) + reply(10, b"")[5:]  # FXP_HANDLE to a read
                + struct.pack(">I", len(bad_data)) + bad_data + reply(12, b"fine"))
    assert at_end.result() == b""
    with pytest.raises(SFTPNoSuchFile, match="No such file"):
        missing.result()
    for waiter, why in ((ok, "Unexpected FX_OK response"), (wrong_type, "Unexpected response type: 102"),
                        (bad_length, "Invalid data response")):
        with pytest.raises(SFTPBadMessage, match=why):
            waiter.result()
    assert later.result() == b"fine"
    await asyncio.sleep(0)
    assert handler.cleaned == [] and handler._requests == {}


async def test_a_cancelled_read_s_reply_is_dropped_and_a_closed_session_fails_a_read_at_once() -> None:
    handler = ReadHandler(asyncio.get_running_loop())
    framer = _Framer(handler, Conn())  # type: ignore[arg-type]
    gone, kept = framer.read(b"h", 0, 3), framer.read(b"h", 3, 3)
    gone.cancel()
    framer.feed(reply(7, b"abc") + reply(8, b"def"))
    assert gone.cancelled() and kept.result() == b"def"
    handler.closed = True
    failed = framer.read(b"h", 6, 3)
    with pytest.raises(SFTPNoConnection):
        failed.result()
    assert handler._requests == {} and handler.cleaned == []


async def test_a_recycled_reply_holds_a_later_one_and_its_old_view_fails_loudly() -> None:
    handler = ReadHandler(asyncio.get_running_loop())
    framer = _Framer(handler, Conn())  # type: ignore[arg-type]
    first, second, third = (framer.read(b"h", at, 4) for at in (0, 4, 8))
    framer.feed(reply(7, b"aaaa"))
    old = first.result()
    assert isinstance(old, memoryview)
    buffer = old.obj
    framer.recycle(old)
    with pytest.raises(ValueError, match="released memoryview"):
        bytes(old)  # released: a late reader cannot see the next reply's bytes
    framer.feed(reply(8, b"bbbb"))
    data, other = second.result(), third
    assert isinstance(data, memoryview) and bytes(data) == b"bbbb" and data.obj is buffer
    framer.feed(reply(9, b"cc"))  # another size: a buffer of its own
    last = other.result()
    assert isinstance(last, memoryview) and bytes(last) == b"cc" and last.obj is not buffer
    framer.recycle(b"not a reply")  # bytes (asyncssh's own read): nothing to take back
