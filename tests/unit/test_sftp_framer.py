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
from asyncssh import SFTPBadMessage
from asyncssh.sftp import MAX_SFTP_PACKET_LEN

from ettui.drop._fast_start import _Framer


class Handler:
    def __init__(self, loop: asyncio.AbstractEventLoop, ids: range) -> None:
        self._requests: dict[int, asyncio.Future[Any]] = {i: loop.create_future() for i in ids}
        self.cleaned: list[Exception | None] = []
        self.logger = None

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
