"""Fewer round trips between connect and the first byte (asyncssh internals, kept in one place).

Counted through ``bench/roundtrips.py`` (a delay proxy logging every chunk),
``ettui fetch`` of a 1 KiB file waited 14 round trips, each one a full
round trip of a far drop. Four of them are asyncssh waiting where the
protocol does not require it; this module removes those, and nothing else:

* **no ``none`` login**: asyncssh always opens authentication with the
  ``none`` method just to learn the server's list. With a password or key
  configured we know the method, so the first request is the real one
  (:func:`skip_none_auth`; a server refusing it answers with its list, and
  asyncssh carries on as before). One less request that a strict server
  could count against the account, too.
* **a signed public-key request straight away**: asyncssh first asks
  whether the key would be accepted (RFC 4252 allows, and OpenSSH accepts,
  a signature without that query); :class:`_SignFirstPublicKeyAuth` does so
  for connections marked by :func:`skip_none_auth`.
* **SFTP limits in the background**: asyncssh's ``start_sftp_client`` waits
  for the ``limits@openssh.com`` reply before returning; :func:`start_sftp`
  returns at once and the reply travels with the next requests.

Fewer packets and system calls per request (CPU on both ends, which share
the cores on loopback): see :func:`lean_writes`. Fewer copies and wake-ups
per byte received (most of a download's CPU on a fast path): see
:func:`lean_reads` (the SSH packets, decrypted into one reused buffer, each
read acknowledged at once) and :class:`_Framer` (the SFTP replies, one copy
each; :func:`read_block` hands a read's data on as a view of it).

The remaining waits (version, key exchange, service, channel open,
subsystem, SFTP version, stat + open, first read) each depend on the
server's answer. Written against asyncssh 2.24 (``pyproject`` pins >=2.14);
every internal touched is named here so an upgrade breaks loudly in tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from dataclasses import dataclass
from typing import Any, cast

from asyncssh import auth as _auth
from asyncssh import sftp as _sftp
from asyncssh.constants import FXP_DATA, FXP_READ, FXP_STATUS, MSG_CHANNEL_DATA, MSG_IGNORE
from asyncssh.encryption import GCMEncryption
from asyncssh.misc import DisconnectError
from asyncssh.packet import PacketDecodeError as _PacketDecodeError
from asyncssh.packet import SSHPacket as _SSHPacket
from asyncssh.packet import String, UInt32, UInt64
from asyncssh.stream import SSHClientStreamSession
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ettui.drop._asyncssh_import import asyncssh

_MARK = "_ettui_known_method"


def skip_none_auth(conn: asyncssh.SSHClientConnection, method: str) -> None:
    """Start authentication of ``conn`` with ``method`` (``password``/``publickey``), not ``none``.

    Call from ``SSHClient.begin_auth`` (just before asyncssh picks the first method).
    """
    internals = cast(Any, conn)
    if getattr(internals, "_auth_methods", None) == [b"none"]:
        internals._auth_methods = [method.encode("ascii")]
        setattr(internals, _MARK, True)


class _SignFirstPublicKeyAuth(_auth._ClientPublicKeyAuth):
    """Public-key auth that sends the signed request without the "would you accept" query first."""

    async def _start(self) -> None:
        if not getattr(self._conn, _MARK, False):
            await super()._start()
            return
        self._keypair = await self._conn.public_key_auth_requested()
        if self._keypair is None:
            self._conn.try_next_auth(next_method=True)
            return
        await self._send_signed_request()


_auth._client_auth_handlers[b"publickey"] = _SignFirstPublicKeyAuth

_AEAD = frozenset({"aes128-gcm@openssh.com", "aes256-gcm@openssh.com", "chacha20-poly1305@openssh.com"})
_EMPTY_IGNORE = (b"\0\0\0\0",)  # String(b""): the payload of asyncssh's padding MSG_IGNORE


def lean_writes(conn: asyncssh.SSHClientConnection) -> None:
    """Send ``conn``'s packets with fewer system calls, and without padding packets an AEAD cipher does not need.

    Call from ``SSHClient.connection_made``. Two asyncssh habits cost CPU per
    SFTP read request on both ends (measured in ``bench/download.py``):

    * before every packet it sends after key exchange, asyncssh sends an empty
      ``MSG_IGNORE`` (a countermeasure for CBC ciphers); with AES-GCM or
      chacha20-poly1305 it protects nothing, so it is dropped: half the
      packets to encrypt here and to decrypt at the server;
    * every packet is its own ``transport.write``, so its own ``send`` system
      call (and a wake-up of the server): the 8 requests of a top-up were 16.
      Packets written in one turn of the event loop now leave in one write at
      the start of the next turn, in order (no wait for the network between).
    """
    internals = cast(Any, conn)
    loop: asyncio.AbstractEventLoop = internals._loop
    queued: list[bytes] = []
    into: list[Any] = []

    def flush() -> None:
        data, transport = b"".join(queued), into.pop()
        queued.clear()
        if transport.is_closing():
            return  # lost meanwhile: asyncio would count (and, from the 5th, log) each write to it
        with contextlib.suppress(ConnectionError):
            transport.write(data)

    def send(data: bytes) -> None:
        transport = internals._transport
        if transport is None:
            return
        if not queued:
            into.append(transport)  # the one it was written for, even if a close clears _transport meanwhile
            loop.call_soon(flush)
        queued.append(data)

    send_packet = internals.send_packet

    def lean_send_packet(pkttype: int, *args: bytes, handler: Any = None) -> None:
        if pkttype == MSG_IGNORE and args == _EMPTY_IGNORE and conn.get_extra_info("send_cipher") in _AEAD:
            return
        send_packet(pkttype, *args, handler=handler)

    internals._send = send
    internals.send_packet = lean_send_packet



@dataclass
class LeanReadStats:
    """What :func:`lean_reads` did on one connection (``conn.get_extra_info("ettui_lean_reads")``)."""

    packets: int = 0
    """Channel-data packets received by the fast path."""
    data_bytes: int = 0
    """Channel data those packets carried."""
    handed_back: int = 0
    """Times asyncssh's own receive code took over (a packet the fast path does not take)."""


_GCM_TAG = 16
"""Bytes of the AES-GCM tag after each packet (its length field is in the clear)."""

_DECRYPT_INTO = hasattr(AESGCM, "decrypt_into")
"""cryptography >= 47 decrypts into a buffer we give it; before, into a new ``bytes`` per packet."""

_RECEIVE_INTERNALS = ("_recv_pkthdr", "_recv_packet", "_recv_handler", "_inpbuf", "_packet", "_recv_encryption",
                      "_recv_seq", "_max_recv_pktlen", "_channels", "_auth_complete", "_decompressor", "_transport",
                      "_reset_keepalive_timer", "_send_disconnect", "_force_close", "internal_error")


def lean_reads(conn: asyncssh.SSHClientConnection) -> None:
    """Receive ``conn``'s AES-GCM channel data into one buffer and decrypt it in place.

    Call from ``SSHClient.connection_made``. asyncssh keeps its input as one
    ``bytes`` and re-slices it for every packet (the whole remainder, twice),
    then concatenates header, body and tag again for the cipher, builds a new
    ``AESGCM`` (a key schedule) per packet, and slices the payload out twice
    more: for 256 MiB that is ~2.5 GB of copying, and it is most of the CPU a
    download costs on a fast path. Here the socket is read straight into one
    reused buffer (``BufferedProtocol``: no new 256 KiB object per read, and a
    packet cut by the end of a read waits where it is), each packet is
    decrypted from a view of it with one ``AESGCM`` per key, and a
    ``CHANNEL_DATA`` packet for an open channel within its window is handed
    to that channel as asyncssh would (``SSHChannel._accept_data``).

    Anything else (the handshake, another cipher, a rekey, any other packet
    type, a bad tag or length) is left to asyncssh itself: the fast path stops
    *before* that packet, its state (sequence number, IV) untouched by it, and
    asyncssh's own receive code takes the rest, errors included. The fast path
    takes over again at the next bytes received (mid-packet too).
    """
    internals = cast(Any, conn)
    stats = LeanReadStats()
    conn.set_extra_info(ettui_lean_reads=stats)
    transport = getattr(internals, "_transport", None)
    if not all(hasattr(internals, name) for name in _RECEIVE_INTERNALS) or not hasattr(transport, "set_protocol"):
        return  # another asyncssh (or transport) than this was written against: its own receive path
    sock = cast(asyncio.Transport, transport).get_extra_info("socket")
    cast(asyncio.Transport, transport).set_protocol(_LeanReceiver(internals, stats, sock))


_QUICKACK: int | None = getattr(socket, "TCP_QUICKACK", None)
"""Linux's TCP_QUICKACK (other systems: None)."""
_TCP = (socket.AF_INET, socket.AF_INET6)


def _ack_now(sock: Any) -> None:
    """Acknowledge what was just read now, not after the delayed-ACK timer (40 ms on Linux).

    sshd leaves Nagle on for a session without a terminal, so a small
    packet it writes while an earlier one is unacknowledged waits for our
    ACK; Linux delays that ACK when the exchange looks like ping-pong. On
    loopback (tcpdump) the channel-open confirmation waited 44 ms for it,
    after the hostkeys notice that follows a login. Setting TCP_QUICKACK
    sends a pending ACK at once (it is not sticky, so: after every read).
    """
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.IPPROTO_TCP, _QUICKACK, 1)


class _LeanReceiver(asyncio.BufferedProtocol):
    """The socket's protocol for :func:`lean_reads`: fills one buffer, hands what it does not take to asyncssh."""

    SIZE = 4 << 20
    FREE = 512 << 10
    """Never offer the socket less room than this (a read is at most 256 KiB in asyncio's own path)."""
    FRONT = 512 << 10
    """Room kept before new bytes after asyncssh had them, for the part of a packet it still holds."""

    def __init__(self, conn: Any, stats: LeanReadStats, sock: Any = None) -> None:
        self._conn, self._stats = conn, stats
        self._sock = sock if _QUICKACK is not None and getattr(sock, "family", None) in _TCP else None
        self._buf = bytearray(self.SIZE)
        self._view = memoryview(self._buf)
        self._start = self._end = 0
        self._header_state, self._body_state = conn._recv_pkthdr, conn._recv_packet
        self._ciphers: dict[bytes, AESGCM] = {}
        self._plain = memoryview(bytearray(0))
        """Where each packet is decrypted (reused: what is handed on from it is copied or taken at once)."""

    # The transport's other calls go to the connection, as before.
    def connection_lost(self, exc: Exception | None) -> None:
        self._conn.connection_lost(exc)

    def eof_received(self) -> bool | None:
        return cast("bool | None", self._conn.eof_received())

    def pause_writing(self) -> None:
        self._conn.pause_writing()

    def resume_writing(self) -> None:
        self._conn.resume_writing()

    def get_buffer(self, sizehint: int) -> memoryview:
        if self.SIZE - self._end < self.FREE:
            # Move the packet cut by the last read (at most one) to the front.
            held = bytes(self._view[self._start : self._end])
            self._buf[: len(held)] = held
            self._start, self._end = 0, len(held)
        return self._view[self._end :]

    def buffer_updated(self, nbytes: int) -> None:
        conn = self._conn
        self._end += nbytes
        if self._sock is not None:
            _ack_now(self._sock)
        conn._reset_keepalive_timer()
        while True:
            enc = self._fast_enough()
            if enc is None:
                self._hand_back()
                return
            try:
                self._start = self._drain(enc)
            except DisconnectError as exc:
                conn._send_disconnect(exc.code, exc.reason, exc.lang)
                conn._force_close(exc)
                return
            except Exception:
                conn.internal_error()
                return
            if self._start == self._end:
                self._start = self._end = 0
                return
            whole = self._whole_packet()
            if whole is None:
                return  # the rest of this packet is still on its way
            # A packet the fast path does not take (a key exchange step, a bad tag): asyncssh receives
            # just that one, then the fast path goes on if asyncssh is ready for the next.
            self._stats.handed_back += 1
            packet = bytes(self._view[self._start : self._start + whole])
            self._start += whole
            conn.data_received(packet)

    def _hand_back(self) -> None:
        """Give every byte held to asyncssh's own receive path; the next read lands after the front room."""
        data = bytes(self._view[self._start : self._end])
        self._start = self._end = self.FRONT
        if data and self._conn._transport is not None:
            self._conn.data_received(data)

    def _whole_packet(self) -> int | None:
        """The size of the whole packet at the start (all of what is held, if its length is not believable)."""
        left = self._end - self._start
        if left < 4:
            return None
        pktlen = int.from_bytes(self._view[self._start : self._start + 4], "big")
        if pktlen > self._conn._max_recv_pktlen:
            return left  # asyncssh refuses it in its own words
        size = 4 + pktlen + _GCM_TAG
        return size if size <= left else None

    def _fast_enough(self) -> GCMEncryption | None:
        conn = self._conn
        enc = conn._recv_encryption
        if type(enc) is not GCMEncryption or not conn._auth_complete or conn._decompressor is not None:
            return None
        if conn._transport is None:
            return None
        held = b""
        if conn._recv_handler == self._body_state:
            # asyncssh stopped inside a packet: for GCM its header step only set the
            # first block aside (nothing decrypted, no state moved), so take it back.
            held, conn._packet = conn._packet, b""
            conn._recv_handler = self._header_state
        if conn._recv_handler != self._header_state:
            return None  # asyncssh is busy with a packet of its own (a key exchange step)
        held += conn._inpbuf
        conn._inpbuf = b""
        if held and not self._put_in_front(held):
            conn._inpbuf = held  # too much to line up: asyncssh goes on with it, and with what follows
            return None
        return enc

    def _put_in_front(self, held: bytes) -> bool:
        """Put bytes asyncssh held back before the new ones; False if they do not fit (then asyncssh keeps all)."""
        if len(held) <= self._start:
            self._buf[self._start - len(held) : self._start] = held
            self._start -= len(held)
            return True
        joined = held + bytes(self._view[self._start : self._end])  # more than the front room: line them up
        if len(joined) > self.SIZE - self.FREE:
            return False
        self._buf[: len(joined)] = joined
        self._start, self._end = 0, len(joined)
        return True

    def _drain(self, enc: GCMEncryption) -> int:
        """Process every whole channel-data packet held; return where asyncssh must take over (or the end)."""
        conn, stats = self._conn, self._stats
        state = cast(Any, enc)._cipher
        key: bytes | None = getattr(state, "_key", None)
        if key is None or not isinstance(getattr(state, "_iv", None), bytes):
            return self._start  # not the GCM shim this was written against: asyncssh decrypts
        aead = self._ciphers.get(key)
        if aead is None:
            self._ciphers.clear()
            aead = self._ciphers[key] = AESGCM(key)
        fixed, invocation = state._iv[:4], int.from_bytes(state._iv[4:], "big")
        limit, channels = conn._max_recv_pktlen, conn._channels
        view, pos, end = self._view, self._start, self._end
        while end - pos >= 4:
            pktlen = int.from_bytes(view[pos : pos + 4], "big")
            if pktlen > limit:
                break  # asyncssh raises its own error for it
            after = pos + 4 + pktlen + _GCM_TAG
            if after > end:
                break
            nonce, sealed, length = fixed + invocation.to_bytes(8, "big"), view[pos + 4 : after], view[pos : pos + 4]
            try:
                if _DECRYPT_INTO:
                    if len(self._plain) < pktlen:
                        self._plain = memoryview(bytearray(pktlen))
                    plain = self._plain[:pktlen]
                    aead.decrypt_into(nonce, sealed, length, plain)
                else:
                    plain = memoryview(aead.decrypt(nonce, sealed, length))
            except InvalidTag:
                break
            stop = pktlen - plain[0]
            if stop < 10 or plain[1] != MSG_CHANNEL_DATA:
                break
            chan = channels.get(int.from_bytes(plain[2:6], "big"))
            size = int.from_bytes(plain[6:10], "big")
            if chan is None or chan._recv_state != "open" or 10 + size != stop or size > chan._recv_window:
                break
            invocation = (invocation + 1) & 0xFFFFFFFFFFFFFFFF
            state._iv = fixed + invocation.to_bytes(8, "big")
            conn._recv_seq = (conn._recv_seq + 1) & 0xFFFFFFFF
            pos = after
            stats.packets += 1
            stats.data_bytes += size
            data: bytes | memoryview = plain[10:stop]
            session = getattr(chan, "_session", None)
            if getattr(chan, "_recv_paused", True) or type(session) is not _FramedSession or session.framer is None:
                data = bytes(data)  # someone who may keep it: a copy, as the buffer is reused
            chan._accept_data(data)
            if conn._transport is None or conn._recv_encryption is not enc:
                break
        return pos


class _FramedSession(SSHClientStreamSession[bytes]):
    """The SFTP channel's session: a stream until :class:`_Framer` takes its data (see :func:`start_sftp`)."""

    framer: _Framer | None = None

    def data_received(self, data: bytes, datatype: Any) -> None:
        if self.framer is not None and datatype is None:
            self.framer.feed(data)
        else:
            super().data_received(data, datatype)

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        if self.framer is not None:
            self.framer.end(exc)

    def eof_received(self) -> bool:
        keep_open = super().eof_received()
        if self.framer is not None:
            self.framer.end(None)
        return keep_open


_SPARE_REPLIES = 16
"""Reply buffers a framer keeps for reuse (4 MiB of 256 KiB replies: one receive's worth)."""

class _ReadWaiter(asyncio.Future["bytes | memoryview"]):
    """The waiter of a read sent by :meth:`_Framer.read`: answered with the data, not asyncssh's (type, packet)."""


_FRAMER = "_ettui_framer"
"""The attribute of an SFTP client handler that holds its :class:`_Framer` (see :func:`read_block`)."""


class _Framer:
    """Cuts the SFTP channel's bytes into packets as they arrive and answers each request's waiter.

    What asyncssh's ``SFTPHandler.recv_packets`` task does, without its
    stream in between: there, every SSH packet (32-256 KiB) woke that task,
    which read 4 bytes (copying the rest of the chunk), then the body (a
    join), then went back to sleep; a 255 KiB read reply was about a dozen
    such steps. Here each packet's bytes are copied once, as they arrive,
    into a buffer of the packet's own size (what is fed may be a view of a
    buffer about to be reused: nothing of it is kept), and the waiter is
    answered in the same turn. A read sent by :meth:`read` gets its data as
    a view of that buffer, not a copy. Errors end the session as
    ``recv_packets`` would (``SFTPHandler._cleanup``).
    """

    def __init__(self, handler: _sftp.SFTPClientHandler, conn: Any) -> None:
        self._handler, self._conn = handler, conn
        self._head = bytearray()
        """The next packet's length field, while only part of it has come."""
        self._body: bytearray | None = None
        """The packet being filled (its size known), and how much of it has come."""
        self._fill = 0
        self._spare: list[bytearray] = []
        """Reply buffers given back by :meth:`recycle`, for the next replies of their size."""
        self._ended = False

    def feed(self, data: bytes | memoryview) -> None:
        if self._ended or not data:
            return
        view = memoryview(data)
        at, end = 0, len(view)
        while at < end and not self._ended:
            body = self._body
            if body is None:
                if not self._head and end - at >= 4:
                    size = int.from_bytes(view[at : at + 4], "big")
                    at += 4
                else:
                    take = min(4 - len(self._head), end - at)
                    self._head += view[at : at + take]
                    at += take
                    if len(self._head) < 4:
                        return
                    size = int.from_bytes(self._head, "big")
                    self._head.clear()
                if size > _sftp.MAX_SFTP_PACKET_LEN:
                    self._fail(asyncssh.SFTPBadMessage("Max packet size exceeded"))
                    return
                spare = self._spare
                body = self._body = spare.pop() if spare and len(spare[-1]) == size else bytearray(size)
                self._fill = 0
            take = min(len(body) - self._fill, end - at)
            body[self._fill : self._fill + take] = view[at : at + take]
            self._fill += take
            at += take
            if self._fill == len(body):
                self._body = None
                self._dispatch(body)

    def read(self, handle: bytes, offset: int, size: int) -> asyncio.Future[bytes | memoryview]:
        """Send one read; its future gives the data (a view of the reply), ``b""`` at the end of the file.

        The request is asyncssh's own (``SFTPClientHandler._send_request``);
        only its answer differs from ``SFTPClientHandler.read``: no copy of
        the data and no task to await it. Errors are raised as asyncssh raises them.
        """
        handler = cast(Any, self._handler)
        waiter = _ReadWaiter(loop=handler._loop)
        pktid = handler._next_pktid
        try:
            handler._send_request(FXP_READ, (String(handle), UInt64(offset), UInt32(size)), waiter)
        except Exception as exc:  # the session closed: what asyncssh's read raises then
            handler._requests.pop(pktid, None)
            waiter.set_exception(exc)
        return waiter

    def recycle(self, data: bytes | memoryview) -> None:
        """Take back the reply behind a read's data once its reader is done with it, to fill with a later reply.

        The reader promises that nothing keeps a view of it (the view itself
        is released: a late use fails instead of reading another reply's
        bytes). A new 256 KiB buffer per reply cost ~45 µs (fresh pages,
        zeroed), 47 ms of a 256 MiB download.
        """
        if isinstance(data, memoryview) and type(data.obj) is bytearray and len(self._spare) < _SPARE_REPLIES:
            buffer = data.obj
            data.release()
            self._spare.append(buffer)

    def _dispatch(self, payload: bytearray) -> None:
        handler = self._handler
        if len(payload) < 5:
            self._fail(asyncssh.SFTPBadMessage("Incomplete packet"))
            return
        pkttype, pktid = payload[0], int.from_bytes(payload[1:5], "big")
        waiter: Any = handler._requests.pop(pktid, None)  # asyncssh's own waiters, or a _ReadWaiter
        if waiter is None:
            self._fail(asyncssh.SFTPBadMessage("Invalid response id"))
            return
        if type(waiter) is _ReadWaiter:
            if not waiter.cancelled():
                self._answer_read(waiter, pkttype, payload)
            return
        packet = _SSHPacket(bytes(payload))
        packet.get_byte()
        packet.get_uint32()
        handler.log_received_packet(pkttype, pktid, packet)
        if not waiter.cancelled():
            waiter.set_result((pkttype, packet))

    def _answer_read(self, waiter: asyncio.Future[bytes | memoryview], pkttype: int, payload: bytearray) -> None:
        """A read's reply, as ``SFTPClientHandler.read`` and ``SFTPClientFile.read`` would take it (SFTP 3-5)."""
        if pkttype == FXP_DATA:
            if len(payload) >= 9 and 9 + int.from_bytes(payload[5:9], "big") == len(payload):
                waiter.set_result(memoryview(payload)[9:])
            else:
                waiter.set_exception(asyncssh.SFTPBadMessage("Invalid data response"))
            return
        if pkttype != FXP_STATUS:
            waiter.set_exception(asyncssh.SFTPBadMessage(f"Unexpected response type: {pkttype}"))
            return
        try:
            cast(Any, self._handler)._process_status(_SSHPacket(bytes(payload[5:])))
        except asyncssh.SFTPEOFError:
            waiter.set_result(b"")
        except asyncssh.SFTPError as exc:
            waiter.set_exception(exc)
        except _PacketDecodeError as exc:
            waiter.set_exception(asyncssh.SFTPBadMessage(str(exc)))
        else:
            waiter.set_exception(asyncssh.SFTPBadMessage("Unexpected FX_OK response"))

    def _fail(self, exc: Exception | None) -> None:
        self._ended = True
        self._head.clear()
        self._body = None
        self._conn.create_task(self._handler._cleanup(exc), self._handler.logger)

    def end(self, exc: Exception | None) -> None:
        """The channel closed (``exc`` None: a clean end of file), as ``recv_packets`` ends."""
        if not self._ended:
            self._fail(exc)


def read_block(remote: asyncssh.SFTPClientFile, size: int, offset: int) -> asyncio.Future[bytes | memoryview]:
    """Read ``size`` bytes at ``offset`` of ``remote`` (``b""`` at its end), sent at once.

    Through the session's :class:`_Framer` when :func:`start_sftp` opened it
    (the data comes as a view of the reply, without a copy or a task), else
    asyncssh's own ``read`` in a task.
    """
    internals = cast(Any, remote)
    handler = getattr(internals, "_handler", None)
    framer: _Framer | None = getattr(handler, _FRAMER, None)
    handle = getattr(internals, "_handle", None)
    if framer is None or handle is None or getattr(handler, "_version", 6) >= 6:
        return cast("asyncio.Future[bytes | memoryview]", asyncio.ensure_future(remote.read(size, offset)))
    return framer.read(handle, offset, size)


def recycle(remote: asyncssh.SFTPClientFile, data: bytes | memoryview) -> None:
    """``data`` from :func:`read_block` is written and hashed, and nothing keeps it: its buffer may hold a later reply."""
    framer: _Framer | None = getattr(getattr(remote, "_handler", None), _FRAMER, None)
    if framer is not None:
        framer.recycle(data)


async def start_sftp(conn: asyncssh.SSHClientConnection) -> tuple[asyncssh.SFTPClient, asyncio.Future[None]]:
    """Open the SFTP session; its limits arrive later (await the future before sizing reads).

    The version exchange reads the channel as a stream (asyncssh's own
    ``start``); after it, a :class:`_Framer` receives the replies.
    """
    chan, opened = await conn.create_session(_FramedSession, subsystem="sftp", encoding=None)
    session = cast(_FramedSession, opened)
    writer, reader = asyncssh.SSHWriter(session, chan), asyncssh.SSHReader(session, chan)
    internals = cast(Any, conn)
    handler = _sftp.SFTPClientHandler(
        internals._loop, internals._utf8_decode_errors, reader, writer, _sftp.MIN_SFTP_VERSION
    )
    await handler.start()
    framer = _Framer(handler, internals)
    setattr(handler, _FRAMER, framer)
    streamed = cast(Any, session)._recv_buf[None]
    left, streamed[:] = list(streamed), []
    session.framer = framer
    for chunk in left:
        if isinstance(chunk, Exception):
            framer.end(chunk)
            break
        framer.feed(chunk)
    limits: asyncio.Future[None] = asyncio.ensure_future(handler.request_limits())
    # surrogateescape: one name that is not UTF-8 must not fail the whole listing
    # (it would hide every other file until it expires); safetext shows its bytes as \xNN.
    return asyncssh.SFTPClient(handler, "utf-8", "surrogateescape"), limits


__all__ = ["LeanReadStats", "lean_reads", "lean_writes", "read_block", "recycle", "skip_none_auth", "start_sftp"]
