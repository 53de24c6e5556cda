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
the cores on loopback): see :func:`lean_writes`.

The remaining waits (version, key exchange, service, channel open,
subsystem, SFTP version, stat + open, first read) each depend on the
server's answer. Written against asyncssh 2.24 (``pyproject`` pins >=2.14);
every internal touched is named here so an upgrade breaks loudly in tests.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, cast

from asyncssh import auth as _auth
from asyncssh import sftp as _sftp
from asyncssh.constants import MSG_IGNORE

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



async def start_sftp(conn: asyncssh.SSHClientConnection) -> tuple[asyncssh.SFTPClient, asyncio.Future[None]]:
    """Open the SFTP session; its limits arrive later (await the future before sizing reads)."""
    writer, reader, _ = await conn.open_session(subsystem="sftp", encoding=None)
    internals = cast(Any, conn)
    handler = _sftp.SFTPClientHandler(
        internals._loop, internals._utf8_decode_errors, reader, writer, _sftp.MIN_SFTP_VERSION
    )
    await handler.start()
    internals.create_task(handler.recv_packets(), handler.logger)
    limits: asyncio.Future[None] = asyncio.ensure_future(handler.request_limits())
    # surrogateescape: one name that is not UTF-8 must not fail the whole listing
    # (it would hide every other file until it expires); safetext shows its bytes as \xNN.
    return asyncssh.SFTPClient(handler, "utf-8", "surrogateescape"), limits


__all__ = ["lean_writes", "skip_none_auth", "start_sftp"]
