"""Where a DropClient download spends its time: one file from a local OpenSSH sshd, profiled.

Run: ``python bench/download_profile.py [--size-mib 256] [--repeat 1] [--cprofile OUT.prof]``
or under py-spy: ``py-spy record -r 500 -o out.svg -- python bench/download_profile.py``.

Prints, per download, wall time, MB/s and this process's CPU time (user+sys)
against wall time: a CPU/wall ratio near 1.0 means the single Python core is
saturated and the server is not what we wait for. ``--block``, ``--requests``,
``--pktsize``, ``--window`` and ``--cipher`` override DropClient's defaults;
``--variants "base,max_requests=16,encryption_algs=aes256-gcm@openssh.com"``
compares DropClient attribute settings in interleaved rounds (best and median
MB/s, median CPU seconds of this process and of sshd).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import resource
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.download_step import ServerCPU, served_file
from ettui.drop.client import BLOCK_SIZE, GCM_FIRST, MAX_PKTSIZE, MAX_REQUESTS, WINDOW, DropClient


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=256)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--cprofile", type=Path, default=None, help="write a cProfile of the downloads here")
    parser.add_argument("--block", type=int, default=BLOCK_SIZE)
    parser.add_argument("--requests", type=int, default=MAX_REQUESTS)
    parser.add_argument("--pktsize", type=int, default=MAX_PKTSIZE)
    parser.add_argument("--window", type=int, default=WINDOW)
    parser.add_argument("--cipher", default=None, help="one cipher name (default: ettui's preference)")
    parser.add_argument("--dir", type=Path, default=None)
    parser.add_argument(
        "--variants",
        default="base",
        help="comma-separated; each is key=value+key=value on DropClient attributes, interleaved per repeat",
    )
    args = parser.parse_args()
    algs = (args.cipher,) if args.cipher else GCM_FIRST
    size = args.size_mib * 1024 * 1024
    async with served_file(args.size_mib, args.dir) as (server, known_hosts, source, target):
        prof = cProfile.Profile() if args.cprofile else None
        variants = args.variants.split(",")
        results: dict[str, list[tuple[float, float, float]]] = {v: [] for v in variants}
        for _ in range(args.repeat):
            for variant in variants:
                target.unlink(missing_ok=True)
                client = DropClient(server.host, server.port, server.user, key_file=str(server.user_key),
                                    known_hosts=known_hosts, encryption_algs=algs, block_size=args.block,
                                    max_requests=args.requests, window=args.window, max_pktsize=args.pktsize)
                for kv in variant.split("+"):
                    if "=" in kv:
                        k, v = kv.split("=")
                        setattr(client, k, (v,) if k == "encryption_algs" else int(v))
                sampler = ServerCPU()
                c0, t0 = cpu(), time.perf_counter()
                if prof:
                    prof.enable()
                async with client:
                    t1 = time.perf_counter()
                    await client.download(str(source), target)
                    t2 = time.perf_counter()
                if prof:
                    prof.disable()
                wall, used = time.perf_counter() - t0, cpu() - c0
                server_cpu = sampler.stop()
                assert target.stat().st_size == size
                results[variant].append((size / wall / 1e6, used, float(server_cpu.split()[-1]) if server_cpu else 0.0))
                print(f"{variant:30} {size / wall / 1e6:7.1f} MB/s  wall {wall:.2f} s  cpu {used:.2f} s  "
                      f"cpu/wall {used / wall:.2f}  "
                      f"server cpu {server_cpu}  connect {t1 - t0:.3f} s  transfer {t2 - t1:.2f} s  "
                      f"close {t0 + wall - t2:.3f} s  "
                      f"cipher {client.last_cipher}", flush=True)
        if len(variants) > 1 or args.repeat > 1:
            print("\nvariant                        best MB/s  median MB/s  median cpu s  median sshd cpu s")
            for v, r in results.items():
                print(f"{v:30} {max(x[0] for x in r):9.1f} {statistics.median(x[0] for x in r):12.1f} "
                      f"{statistics.median(x[1] for x in r):13.3f} {statistics.median(x[2] for x in r):18.3f}")
        if prof:
            prof.dump_stats(args.cprofile)
            pstats.Stats(prof).sort_stats("tottime").print_stats(25)


if __name__ == "__main__":
    asyncio.run(main())
