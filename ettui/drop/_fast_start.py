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

The remaining waits (version, key exchange, service, channel open,
subsystem, SFTP version, stat + open, first read) each depend on the
server's answer. Written against asyncssh 2.24 (``pyproject`` pins >=2.14);
every internal touched is named here so an upgrade breaks loudly in tests.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

from asyncssh import auth as _auth
from asyncssh import sftp as _sftp

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


__all__ = ["skip_none_auth", "start_sftp"]
