"""A userspace TCP proxy that holds every chunk a fixed time in each direction.

Run: ``python bench/delayproxy.py --target 127.0.0.1:22 --delay-ms 25 [--listen-port 0]``
(prints ``listening on PORT`` once ready; ``--delay-ms 25`` is ~50 ms round trip).

Each direction of each connection is a reader and a writer joined by a queue:
the reader stamps every chunk it receives with ``now + delay``; the writer
sends it when that time comes. So latency is added without limiting
bandwidth, as a long path would. The queue is bounded in bytes
(``--buffer-mib``, per direction): when it is full the reader stops reading,
TCP's own flow control pushes back to the sender, and back-pressure works as
on a real path (a sender cannot have more in flight than the buffer plus the
kernel's socket buffers). The buffer must exceed rate x delay for the wanted
rate (default 64 MiB: 850 MB/s at 75 ms).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import time


class _Log:
    """``--log``: one line per chunk received, ``seconds direction bytes`` (``>`` client to server)."""

    def __init__(self, path: str) -> None:
        self._file = open(path, "a", buffering=1)  # noqa: SIM115 - held open for the proxy's lifetime
        self._start = time.monotonic()

    def chunk(self, tag: str, size: int) -> None:
        self._file.write(f"{time.monotonic() - self._start:.4f} {tag} {size}\n")


class _Pipe:
    """One direction: read chunks, release each ``delay`` seconds after it arrived."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        delay: float,
        limit: int,
        log: _Log | None = None,
        tag: str = "",
    ) -> None:
        self._reader, self._writer = reader, writer
        self._log, self._tag = log, tag
        self._delay, self._limit = delay, limit
        self._chunks: collections.deque[tuple[float, bytes]] = collections.deque()
        self._held = 0
        self._changed = asyncio.Event()
        self._eof = False

    async def _read(self) -> None:
        try:
            while data := await self._reader.read(256 * 1024):
                while self._held >= self._limit:
                    self._changed.clear()
                    await self._changed.wait()
                if self._log is not None:
                    self._log.chunk(self._tag, len(data))
                self._chunks.append((time.monotonic() + self._delay, data))
                self._held += len(data)
                self._changed.set()
        except (ConnectionError, OSError):
            pass
        finally:
            self._eof = True
            self._changed.set()

    async def _write(self) -> None:
        try:
            while True:
                if not self._chunks:
                    if self._eof:
                        break
                    self._changed.clear()
                    await self._changed.wait()
                    continue
                due, data = self._chunks[0]
                wait = due - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                self._chunks.popleft()
                self._held -= len(data)
                self._changed.set()
                self._writer.write(data)
                await self._writer.drain()
            if self._writer.can_write_eof():
                self._writer.write_eof()
        except (ConnectionError, OSError):
            pass

    async def run(self) -> None:
        await asyncio.gather(self._read(), self._write())


async def serve(
    target_host: str, target_port: int, delay: float, listen_port: int, limit: int, log: _Log | None = None
) -> asyncio.Server:
    async def handle(c_reader: asyncio.StreamReader, c_writer: asyncio.StreamWriter) -> None:
        try:
            s_reader, s_writer = await asyncio.open_connection(target_host, target_port, limit=1 << 20)
        except OSError:
            c_writer.close()
            return
        try:
            await asyncio.gather(
                _Pipe(c_reader, s_writer, delay, limit, log, ">").run(),
                _Pipe(s_reader, c_writer, delay, limit, log, "<").run(),
            )
        finally:
            for w in (c_writer, s_writer):
                w.close()

    return await asyncio.start_server(handle, "127.0.0.1", listen_port, limit=1 << 20)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", required=True, metavar="HOST:PORT")
    parser.add_argument("--delay-ms", type=float, required=True, help="added each way")
    parser.add_argument("--listen-port", type=int, default=0)
    parser.add_argument("--buffer-mib", type=int, default=64, help="bytes held per direction before back-pressure")
    parser.add_argument("--log", default=None, help="append one line per chunk (time, direction, bytes) to this file")
    args = parser.parse_args()
    host, port = args.target.rsplit(":", 1)
    server = await serve(host, int(port), args.delay_ms / 1000, args.listen_port, args.buffer_mib * 1024 * 1024,
                         _Log(args.log) if args.log else None)
    print(f"listening on {server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
