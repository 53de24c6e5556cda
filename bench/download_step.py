"""Download throughput: ettui's DropClient against OpenSSH ``sftp -b``, same file, same sshd, same run.

Run: ``python bench/download_step.py [--size-mib 512] [--rounds 3] [--dir DIR]``

Starts a real OpenSSH sshd on 127.0.0.1 (own config, host key and
authorized_keys in a temp folder, key login as the current user), writes a
``--size-mib`` file of random bytes, and downloads it ``--rounds`` times with
each contender, interleaved so a busy shared machine hurts all of them alike:

* ``openssh``      ``sftp -b`` with OpenSSH's default cipher (chacha20-poly1305)
* ``openssh-gcm``  ``sftp -b -c aes128-gcm@openssh.com``
* ``ettui-default`` DropClient with asyncssh's default cipher order
* ``ettui``        DropClient with ettui's preference (AES-GCM first)

Each timing covers connect + download into a local file (no zip verification),
for both sides. MB/s is 10^6 bytes per second; the best round counts (noise on
a shared machine only ever slows a run), the median is printed beside it, and
ratios are given for both. CPU seconds per round (median) are printed for the
client side (ettui's own process; OpenSSH's ``sftp`` + ``ssh`` children) and
for sshd: less noisy than MB/s when the two cores are shared.
Goal: ettui / openssh >= 1.0, ettui / openssh-gcm >= 0.9.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ettui.drop.client import GCM_FIRST, DropClient, trust_host_key
from tests.integration.sshd import OpenSSHServer, openssh_sshd, sshd_unavailable


class ServerCPU:
    """Samples /proc every 20 ms for sshd and sftp-server processes; CPU seconds each used meanwhile."""

    def __init__(self) -> None:
        self.seen: dict[int, tuple[str, float]] = {}
        self.first: dict[int, float] = {}
        self._stop = threading.Event()
        self._tick = os.sysconf("SC_CLK_TCK")
        self._sample()
        self.first = {pid: t for pid, (_, t) in self.seen.items()}
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                with open(f"/proc/{entry.name}/stat") as stat:
                    raw = stat.read()
            except OSError:
                continue
            comm = raw[raw.index("(") + 1 : raw.rindex(")")]
            if comm not in ("sshd", "sftp-server"):
                continue
            fields = raw[raw.rindex(")") + 2 :].split()
            self.seen[int(entry.name)] = (comm, (int(fields[11]) + int(fields[12])) / self._tick)

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self._sample()

    def stop_seconds(self) -> float:
        """CPU seconds all sshd processes used since the start."""
        self._stop.set()
        self._thread.join()
        return sum(t - self.first.get(pid, 0.0) for pid, (_, t) in self.seen.items())

    def stop(self) -> str:
        self._stop.set()
        self._thread.join()
        used: dict[str, float] = {}
        for pid, (comm, t) in self.seen.items():
            used[comm] = used.get(comm, 0.0) + t - self.first.get(pid, 0.0)
        return " ".join(f"{k} {v:.2f}" for k, v in sorted(used.items()))


@contextlib.asynccontextmanager
async def served_file(size_mib: int, folder: Path | None = None) -> AsyncIterator[tuple[OpenSSHServer, Path, Path, Path]]:
    """A real sshd serving a fresh ``size_mib`` file: (server, known_hosts, source, local target)."""
    why = sshd_unavailable()
    if why:
        sys.exit(f"cannot run: {why}")
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        work = Path(tmp)
        source = work / "remote" / "bench.zip"
        source.parent.mkdir()
        make_source(source, size_mib * 1024 * 1024)
        async with openssh_sshd(work / "sshd") as server:
            known_hosts = work / "known_hosts"
            trust_host_key(known_hosts, server.host, server.port, server.key_line)
            yield server, known_hosts, source, work / "local.bin"


def make_source(path: Path, size: int) -> None:
    if path.exists() and path.stat().st_size == size:
        return
    with open(path, "wb") as out:
        left = size
        while left:
            chunk = os.urandom(min(left, 1 << 20))
            out.write(chunk)
            left -= len(chunk)


def cpu_seconds(who: int) -> float:
    r = resource.getrusage(who)
    return r.ru_utime + r.ru_stime


def openssh_get(server: OpenSSHServer, known_hosts: Path, source: Path, target: Path, cipher: str | None) -> tuple[float, str]:
    batch = target.with_suffix(".batch")
    batch.write_text(f"get {source} {target}\n")
    cmd = ["sftp", "-q", "-b", str(batch), "-i", str(server.user_key), "-P", str(server.port),
           "-o", f"UserKnownHostsFile={known_hosts}", "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes"]
    if cipher:
        cmd += ["-c", cipher]
    cmd.append(f"{server.user}@{server.host}")
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    elapsed = time.perf_counter() - start
    return elapsed, cipher or "default"


async def openssh_timed(*args: object) -> tuple[float, str, float]:
    before = cpu_seconds(resource.RUSAGE_CHILDREN)
    elapsed, cipher = await asyncio.to_thread(openssh_get, *args)  # type: ignore[arg-type]
    return elapsed, cipher, cpu_seconds(resource.RUSAGE_CHILDREN) - before


async def ettui_get(
    server: OpenSSHServer, known_hosts: Path, source: Path, target: Path, algs: tuple[str, ...] | None
) -> tuple[float, str]:
    client = DropClient(server.host, server.port, server.user, key_file=str(server.user_key),
                        known_hosts=known_hosts, encryption_algs=algs)
    before = cpu_seconds(resource.RUSAGE_SELF)
    start = time.perf_counter()
    async with client:
        await client.download(str(source), target)
    elapsed = time.perf_counter() - start
    return elapsed, client.last_cipher or "?", cpu_seconds(resource.RUSAGE_SELF) - before


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=512)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=None, help="work folder (default: a temp folder)")
    args = parser.parse_args()
    size = args.size_mib * 1024 * 1024
    async with served_file(args.size_mib, args.dir) as (server, known_hosts, source, target):
        contenders = {
            "openssh": lambda: openssh_timed(server, known_hosts, source, target, None),
            "openssh-gcm": lambda: openssh_timed(server, known_hosts, source, target, "aes128-gcm@openssh.com"),
            "ettui-default": lambda: ettui_get(server, known_hosts, source, target, None),
            "ettui": lambda: ettui_get(server, known_hosts, source, target, GCM_FIRST),
        }
        rates: dict[str, list[float]] = {name: [] for name in contenders}
        client_cpu: dict[str, list[float]] = {name: [] for name in contenders}
        sshd_cpu: dict[str, list[float]] = {name: [] for name in contenders}
        ciphers: dict[str, str] = {}
        want = hashlib.sha256(source.read_bytes()).hexdigest()
        for round_no in range(args.rounds):
            for name, run in contenders.items():
                target.unlink(missing_ok=True)
                sampler = ServerCPU()
                elapsed, cipher, used = await run()
                sshd_cpu[name].append(sampler.stop_seconds())
                client_cpu[name].append(used)
                if target.stat().st_size != size:
                    sys.exit(f"{name}: got {target.stat().st_size} bytes, expected {size}")
                if round_no == 0 and name.startswith("ettui") and hashlib.sha256(target.read_bytes()).hexdigest() != want:
                    sys.exit(f"{name}: sha256 differs from the source")
                rates[name].append(size / elapsed / 1e6)
                ciphers[name] = cipher
                print(f"  round {round_no + 1} {name:14} {rates[name][-1]:7.1f} MB/s  cpu client {used:.2f} s"
                      f"  sshd {sshd_cpu[name][-1]:.2f} s", flush=True)
    best = {name: max(r) for name, r in rates.items()}
    med = {name: statistics.median(r) for name, r in rates.items()}
    print(f"\n{args.size_mib} MiB over SSH on 127.0.0.1, best of {args.rounds} (median); median CPU s per round:")
    for name in rates:
        print(f"  {name:14} {best[name]:7.1f} MB/s ({med[name]:6.1f})  cpu client {statistics.median(client_cpu[name]):.2f}"
              f"  sshd {statistics.median(sshd_cpu[name]):.2f}  cipher {ciphers[name]}")
    print("ratios, best (median):")
    goals = (
        ("openssh", "goal >= 1.0"),
        ("openssh-gcm", "goal >= 0.9"),
        ("ettui-default", "AES-GCM preference vs asyncssh default"),
    )
    for other, goal in goals:
        print(f"  ettui / {other:17} {best['ettui'] / best[other]:.2f} ({med['ettui'] / med[other]:.2f})   ({goal})")


if __name__ == "__main__":
    asyncio.run(main())
