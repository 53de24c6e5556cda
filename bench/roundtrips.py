"""Round trips before the first byte: ``ettui fetch`` and ``sftp`` of a 1 KiB zip, counted at the proxy.

Run: ``python bench/roundtrips.py [--delay-ms 75] [--runs 3]``

Both fetch a tiny file through ``bench/delayproxy.py --log``. Every chunk the
proxy receives is logged with its direction; a *round trip* is counted each
time the conversation turns from the server back to the client side (the
client must have waited for the server's bytes before sending more), so
bytes sent without waiting (pipelined) cost nothing. With a large delay the
wall-clock time beside it shows the same: about ``round trips x 2 x delay``.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.download import Bench, _small_zip  # noqa: E402
from tests.integration.sshd import openssh_sshd, sshd_unavailable  # noqa: E402


def turns(log: Path, gap: float) -> tuple[int, list[str]]:
    """Client-to-server flights that followed a server-to-client one (each waited a round trip)."""
    events = [(float(t), d, int(n)) for t, d, n in (line.split() for line in log.read_text().splitlines())]
    flights: list[str] = []
    last_dir, last_t = "", -1.0
    for t, d, n in events:
        if d != last_dir or t - last_t > gap:
            flights.append(f"{t:7.3f} {d} {n}")
        else:
            flights[-1] += f"+{n}"
        last_dir, last_t = d, t
    count = sum(1 for a, b in itertools.pairwise(flights) if a.split()[1] == "<" and b.split()[1] == ">")
    return count, flights


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--delay-ms", type=int, default=75)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--show", action="store_true", help="print every flight of the last run")
    args = parser.parse_args()
    why = sshd_unavailable()
    if why:
        sys.exit(f"cannot run: {why}")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        drop = work / "drop"
        drop.mkdir()
        (drop / "small.zip").write_bytes(_small_zip())
        log = work / "proxy.log"
        async with openssh_sshd(work / "sshd") as server:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, str(ROOT / "bench" / "delayproxy.py"), "--target", f"{server.host}:{server.port}",
                "--delay-ms", str(args.delay_ms), "--log", str(log), stdout=asyncio.subprocess.PIPE)
            try:
                assert proc.stdout is not None
                port = int((await proc.stdout.readline()).split()[-1])
                bench = Bench(work, server, {"d0": server.port, "dx": port}, drop)
                gap = args.delay_ms / 1000 / 2
                for who in ("sftp", "ettui"):
                    counts, secs = [], []
                    flights: list[str] = []
                    for _ in range(args.runs):
                        log.write_text("")
                        start = time.perf_counter()
                        await asyncio.to_thread(bench.sftp if who == "sftp" else bench.ettui, "dx", "small.zip")
                        secs.append(time.perf_counter() - start)
                        await asyncio.sleep(0.2)
                        n, flights = turns(log, gap)
                        counts.append(n)
                    print(f"{who:6} round trips {statistics.median(counts):4.0f}  wall {statistics.median(secs):.2f} s "
                          f"(at {args.delay_ms} ms each way)")
                    if args.show:
                        print("   " + "\n   ".join(flights))
            finally:
                proc.kill()
                await proc.wait()


if __name__ == "__main__":
    asyncio.run(main())
