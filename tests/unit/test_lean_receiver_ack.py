"""``_fast_start._LeanReceiver`` acknowledges each read at once (TCP_QUICKACK) on a TCP socket.

Why: sshd keeps Nagle on for a session without a terminal, so a small packet
it writes while an earlier one is unacknowledged waits for our ACK, which
Linux delays up to 40 ms in a request/response exchange (tcpdump on loopback:
the channel-open confirmation after a login waited 44 ms). The effect on a
whole fetch is in docs/benchmarks.md; here, that the receiver asks for it on
real TCP sockets and leaves other sockets alone.
"""

from __future__ import annotations

import socket
from typing import Any

import pytest

from ettui.drop._fast_start import LeanReadStats, _LeanReceiver

pytestmark = pytest.mark.skipif(not hasattr(socket, "TCP_QUICKACK"), reason="TCP_QUICKACK is Linux's")


class Conn:
    """What the receiver reads of asyncssh's connection when it hands every byte back (not yet encrypted)."""

    def __init__(self) -> None:
        self._recv_pkthdr, self._recv_packet = object(), object()
        self._recv_encryption = None
        self._transport = object()
        self.received: list[bytes] = []

    def _reset_keepalive_timer(self) -> None:
        pass

    def data_received(self, data: bytes) -> None:
        self.received.append(data)


class Recording(socket.socket):
    calls: list[tuple[int, int, int]]

    def setsockopt(self, *args: Any) -> None:  # type: ignore[override]
        self.calls.append(args)
        super().setsockopt(*args)


def feed(receiver: _LeanReceiver, data: bytes) -> None:
    room = receiver.get_buffer(len(data))
    room[: len(data)] = data
    receiver.buffer_updated(len(data))


def test_each_read_on_tcp_sends_its_ack_at_once() -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        peer = Recording(socket.AF_INET, socket.SOCK_STREAM)
        peer.calls = []
        with peer:
            peer.connect(server.getsockname())
            conn = Conn()
            receiver = _LeanReceiver(conn, LeanReadStats(), peer)
            feed(receiver, b"SSH-2.0-OpenSSH_9.2\r\n")
            feed(receiver, b"more")
            assert peer.calls == [(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)] * 2
            assert peer.getsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK) == 1
            assert conn.received == [b"SSH-2.0-OpenSSH_9.2\r\n", b"more"]  # and the bytes went on as before


def test_a_socket_that_is_not_tcp_is_left_alone() -> None:
    left, right = socket.socketpair()  # AF_UNIX
    unix = Recording(left.family, left.type, fileno=left.detach())
    unix.calls = []
    with unix, right:
        conn = Conn()
        receiver = _LeanReceiver(conn, LeanReadStats(), unix)
        feed(receiver, b"data")
        assert unix.calls == [] and conn.received == [b"data"]
    receiver = _LeanReceiver(Conn(), LeanReadStats(), None)  # a transport with no socket (an in-process pipe)
    feed(receiver, b"data")
