"""Prototype, not wired in: would splitting one download over worker processes help?

Run: ``python bench/download_parallel.py [--size-mib 256] [--rounds 6] [--workers 2]``

During a transfer ettui's single Python process runs near 100% of one core
(``bench/download_profile.py``: CPU ~= transfer time), the rest being sshd.
This measures the ceiling of a multi-process design: ``--workers`` processes,
started and warmed *before* the clock starts (imports done), each opening its
own connection and fetching one contiguous slice of the file into the same
``.part`` with the normal pipeline. Compared, in interleaved rounds, with one
``DropClient.download`` in this process. Both include connect and the write to
a local file. Slices land out of order, so the real feature would need a
per-slice resume record; this bench only asks whether the speed is there.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.download_step import served_file
from ettui.drop.client import DropClient, plan_transfer, trust_host_key
from ettui.drop.sftp_download import _pipeline


async def fetch_slice(conn_args: dict[str, object], remote: str, part: str, start: int, end: int) -> int:
    client = DropClient(**conn_args)  # type: ignore[arg-type]
    async with client:
        sftp = await client._ready()
        sent = time.monotonic()
        handle = await sftp.open(remote, "rb", block_size=0)
        rtt = time.monotonic() - sent
        fd = os.open(part, os.O_WRONLY | os.O_CREAT, 0o644)
        local = os.fdopen(fd, "wb", buffering=0)
        local.seek(start)
        try:
            plan = plan_transfer(rtt, sftp.limits.max_read_len, block_size=client.block_size)
            return await _pipeline(client, handle, local, Path(part), start, end, plan, None, None) - start
        finally:
            local.close()
            await handle.close()


def worker(conn: mp.connection.Connection) -> None:
    while True:
        job = conn.recv()
        if job is None:
            return
        conn.send(asyncio.run(fetch_slice(*job)))


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--delay-ms", type=int, default=0, help="through bench/delayproxy.py, this long each way")
    args = parser.parse_args()
    ctx = mp.get_context("forkserver")
    pipes = []
    procs = []
    for _ in range(args.workers):
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=worker, args=(child,), daemon=True)
        proc.start()
        pipes.append(parent)
        procs.append(proc)
    size = args.size_mib * 1024 * 1024
    async with served_file(args.size_mib) as (server, known_hosts, source, target):
        port = server.port
        proxy = None
        if args.delay_ms:
            proxy = await asyncio.create_subprocess_exec(
                sys.executable, str(Path(__file__).with_name("delayproxy.py")), "--target", f"{server.host}:{server.port}",
                "--delay-ms", str(args.delay_ms), stdout=asyncio.subprocess.PIPE)
            assert proxy.stdout is not None
            port = int((await proxy.stdout.readline()).split()[-1])
            trust_host_key(known_hosts, server.host, port, server.key_line)
        conn_args = dict(host=server.host, port=port, username=server.user,
                         key_file=str(server.user_key), known_hosts=known_hosts)
        # Warm the workers (imports, first connection) before any timing.
        for p in pipes:
            p.send((conn_args, str(source), str(target), 0, 1))
        for p in pipes:
            p.recv()
        rates: dict[str, list[float]] = {"one process": [], f"{args.workers} workers": []}
        for _ in range(args.rounds):
            target.unlink(missing_ok=True)
            start = time.perf_counter()
            async with DropClient(**conn_args) as client:  # type: ignore[arg-type]
                await client.download(str(source), target)
            rates["one process"].append(size / (time.perf_counter() - start) / 1e6)
            assert target.stat().st_size == size

            target.unlink(missing_ok=True)
            cuts = [size * i // args.workers for i in range(args.workers + 1)]
            start = time.perf_counter()
            for i, p in enumerate(pipes):
                p.send((conn_args, str(source), str(target), cuts[i], cuts[i + 1]))
            got = await asyncio.gather(*(asyncio.to_thread(p.recv) for p in pipes))
            rates[f"{args.workers} workers"].append(size / (time.perf_counter() - start) / 1e6)
            assert sum(got) == size
            assert target.read_bytes() == source.read_bytes()
            print("  " + "  ".join(f"{k} {v[-1]:6.1f}" for k, v in rates.items()), flush=True)
        if proxy is not None:
            proxy.kill()
            await proxy.wait()
    for p in pipes:
        p.send(None)
    for proc in procs:
        proc.join()
    print(f"\n{args.size_mib} MiB, {args.rounds} interleaved rounds, MB/s best (median):")
    for k, v in rates.items():
        print(f"  {k:12} {max(v):7.1f} ({statistics.median(v):6.1f})")


if __name__ == "__main__":
    asyncio.run(main())
