"""A redirect to another host is never followed: the password never leaves for it (held; pinned here)."""

from __future__ import annotations

import asyncio
from datetime import date

import pytest

from ettui.api.soap import SoapApi, UsernameToken
from ettui.api.xmlapi import XmlApi
from ettui.errors import EttuiError
from ettui.model import BatchRequest

PASSWORD = "redirect-secret-pw"
EXTRACT = BatchRequest("tracking-extract", {"StartDate": "6/1/2024", "EndDate": "6/8/2024", "OutputFileName": "t.zip"})


@pytest.mark.parametrize("dialect", ["xml", "soap"])
@pytest.mark.parametrize("status", [301, 302, 307, 308])
async def test_a_redirect_is_not_followed(dialect: str, status: int) -> None:
    stolen: list[bytes] = []

    async def thief(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        stolen.append(await reader.read(65536))
        writer.close()

    async def redirect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 %d Moved\r\nLocation: http://127.0.0.1:%d/steal\r\nContent-Length: 0\r\n\r\n"
                     % (status, thief_port))
        await writer.drain()
        writer.close()

    thief_server = await asyncio.start_server(thief, "127.0.0.1", 0)
    thief_port = thief_server.sockets[0].getsockname()[1]
    server = await asyncio.start_server(redirect, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/Service.asmx"
    try:
        if dialect == "xml":
            api: XmlApi | SoapApi = XmlApi(url, "ops", PASSWORD, connect_timeout=2.0, read_timeout=5.0)
            call = api.submit(BatchRequest("C3"))
        else:
            api = await SoapApi.create(url, auth=UsernameToken("ops", PASSWORD), today=lambda: date(2024, 6, 8),
                                       connect_timeout=2.0, read_timeout=5.0)
            call = api.submit(EXTRACT)
        try:
            with pytest.raises(EttuiError):
                await asyncio.wait_for(call, 20)
        finally:
            await api.aclose()
        await asyncio.sleep(0.1)
        assert stolen == []
    finally:
        for s in (server, thief_server):
            s.close()
            await s.wait_closed()
