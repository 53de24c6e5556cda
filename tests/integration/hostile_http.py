"""A raw asyncio HTTP/1.1 server on 127.0.0.1 port 0 whose replies misbehave on purpose.

Used by the hostile-peer tests of the API layer and the CLI: it reads each
request completely, then answers according to ``mode``:

* ``"slowloris"``: a 200 status line and headers promising a long body, then
  one byte every ``trickle`` seconds for as long as the client stays;
* ``"flood"``: a body with no length (``Connection: close``), written in
  64 KiB chunks until the client hangs up (``"flood-declared"`` announces a
  1 GB ``Content-Length`` first);
* ``"answer"``: ``status`` and ``body`` as given, like an honest server.

``closed`` is set when the client closes a connection the server was still
writing to, so a test can assert the client let go rather than read on.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import threading
from collections.abc import Iterator

_LENGTH = re.compile(rb"^content-length:\s*(\d+)\s*$", re.IGNORECASE | re.MULTILINE)


class HostileHttp:
    """See the module docstring."""

    def __init__(self, mode: str = "slowloris", *, trickle: float = 0.2) -> None:
        self.mode = mode
        self.trickle = trickle
        self.status = 200
        self.body = b""
        self.requests: list[bytes] = []
        self.sent_bytes = 0
        self.closed = asyncio.Event()
        self._server: asyncio.Server | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/Service.asmx"

    async def start(self) -> HostileHttp:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def answer(self, body: bytes, status: int = 200) -> None:
        self.mode, self.body, self.status = "answer", body, status

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        gone: asyncio.Future[bytes] | None = None
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                match = _LENGTH.search(head)
                body = await reader.readexactly(int(match.group(1))) if match else b""
                self.requests.append(body)
                if self.mode == "answer":
                    writer.write(b"HTTP/1.1 %d X\r\nContent-Type: text/xml; charset=utf-8\r\nContent-Length: %d\r\n\r\n"
                                 % (self.status, len(self.body)) + self.body)
                    await writer.drain()
                    continue
                gone = asyncio.ensure_future(reader.read(1))  # b"" (or an error) once the client hangs up
                await self._misbehave(writer, gone)
                return
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            if gone is not None:
                gone.cancel()
            writer.close()

    async def _misbehave(self, writer: asyncio.StreamWriter, gone: asyncio.Future[bytes]) -> None:
        try:
            if self.mode == "slowloris":
                payload = b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: 1000000\r\n\r\n" + b" " * 999_999
                for byte in payload:
                    if gone.done():
                        break
                    writer.write(bytes([byte]))
                    await writer.drain()
                    self.sent_bytes += 1
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(asyncio.shield(gone), self.trickle)
            else:
                length = b"Content-Length: 1000000000\r\n" if self.mode == "flood-declared" else b""
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nConnection: close\r\n" + length + b"\r\n<x>")
                chunk = b"y" * 65536
                while not gone.done() and self.sent_bytes < 1_000_000_000:
                    writer.write(chunk)
                    await writer.drain()
                    self.sent_bytes += len(chunk)
        except ConnectionError:
            pass
        self.closed.set()


class ThreadedHostileHttp:
    """A ``HostileHttp`` on its own event loop in a thread, for tests that run the CLI's ``main``."""

    def __init__(self, mode: str = "slowloris") -> None:
        self.loop = asyncio.new_event_loop()
        self.server = HostileHttp(mode)
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> HostileHttp:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(10)
        return self.server

    async def _start(self) -> None:
        self.server.closed = asyncio.Event()  # bound to this loop
        await self.server.start()

    def set(self, **values: object) -> None:
        """Change the server's behaviour from the test's thread (applied before this returns)."""
        async def apply() -> None:
            for key, value in values.items():
                setattr(self.server, key, value)
        asyncio.run_coroutine_threadsafe(apply(), self.loop).result(10)

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.server.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)


@contextlib.contextmanager
def threaded(mode: str = "slowloris") -> Iterator[ThreadedHostileHttp]:
    runner = ThreadedHostileHttp(mode)
    with runner:
        yield runner
