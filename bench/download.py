"""The whole command: ``ettui fetch FILE --no-extract`` against the whole ``sftp -b`` get, near and far.

Run: ``python bench/download.py [--size-mib 256] [--rounds 3] [--delays-ms 0,25,75] [--dir DIR]``

Starts a real OpenSSH sshd on 127.0.0.1 (own config, host key and
authorized_keys in a temp folder, key login as the current user) serving a
``--size-mib`` zip (one stored member of random bytes), and, for each non-zero
delay, ``bench/delayproxy.py`` in front of it holding every chunk that long in
each direction (25 ms each way is ~50 ms round trip, 75 ms ~150 ms). Each
round runs, interleaved so a busy machine hurts all alike (and each run after
a ``sync``, so no contender pays for the last one's writeback), for every path:

* ``sftp``  ``sftp -q -b batch`` with OpenSSH's defaults (a new process: its
  whole start-up, connection, login and get), the issue's baseline;
* ``ettui`` ``python -m ettui fetch bench.zip --no-extract`` (a new process:
  imports, config, job store, connection budget, login, download with sha256
  and the zip CRCs while writing, fsync and the atomic rename);
* ``ettui2`` (delayed paths, with ``--split`` only) the same with the
  segmented download on (``max_segments=2``, off by default), so the figures
  show what it buys;
* ``base`` (with ``--base-tree DIR`` only) the same command from another
  checkout of ettui (``git worktree add DIR COMMIT``), to measure a change
  against the tree before it, interleaved like the rest.

Then start-up: ``ettui --version``, and a 1 KiB file fetched by each (direct
and at the first delay). Wall-clock seconds per run; the median of the rounds
counts (the best beside it), ratios are sftp time / ettui time (> 1: ettui is
faster), with the load average and each contender's CPU seconds (less moved
by other work on the machine than wall time). Goals (issue 12): >= 1.0
direct, >= 3 at 50 ms round trip.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ettui.drop.client import trust_host_key  # noqa: E402
from tests.integration.sshd import OpenSSHServer, openssh_sshd, sshd_unavailable  # noqa: E402


def make_zip(path: Path, size: int) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        with z.open("output.xml", "w", force_zip64=True) as member:
            left = size
            while left > 0:
                chunk = os.urandom(min(left, 1 << 20))
                member.write(chunk)
                left -= len(chunk)


def write_config(path: Path, server: OpenSSHServer, ports: dict[str, int], known_hosts: Path, drop: Path) -> None:
    lines = ['default_profile = "d0"']
    for name, port in ports.items():
        lines += [
            f"[profiles.{name}]",
            'endpoint = "http://127.0.0.1:9/integrate.aspx"',
            'api_username = "unused"',
            'api_password_env = "ET_UNUSED_PW"',
            f'sftp_host = "{server.host}"',
            f"sftp_port = {port}",
            f'sftp_username = "{server.user}"',
            f'sftp_key_file = "{server.user_key}"',
            f'known_hosts = "{known_hosts}"',
            f'drop_folder = "{drop}"',
            'export_folder = ""',
        ]
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)


LAST_STDERR: list[str] = [""]
"""What the last command said on stderr (ettui's rate line)."""


LAST_CPU: list[float] = [0.0]
"""CPU seconds (user + system) of the last command's process tree (sftp: the ssh it runs too, not sshd)."""


def timed(cmd: list[str], env: dict[str, str]) -> float:
    # Each run starts with no dirty pages of the run before it: sftp does not fsync, so
    # the kernel wrote its 256 MiB back during the next contender's run (and ettui's
    # own fsync queued behind them). Not timed.
    os.sync()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    # Run from a folder with no ettui in it: `python -m` puts the working folder first on
    # sys.path, which would shadow PYTHONPATH (and so --base-tree) with whatever tree is here.
    done = subprocess.run(cmd, env=env, capture_output=True, cwd=tempfile.gettempdir())
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    LAST_CPU[0] = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    if done.returncode != 0:
        sys.exit(f"failed ({done.returncode}): {' '.join(cmd)}\n{done.stderr.decode(errors='replace')}")
    LAST_STDERR[0] = done.stderr.decode(errors="replace").strip()
    return elapsed


class Bench:
    def __init__(self, work: Path, server: OpenSSHServer, ports: dict[str, int], drop: Path,
                 base_tree: Path | None = None) -> None:
        self.work, self.server, self.ports, self.drop = work, server, ports, drop
        self.base_tree = base_tree
        self.known_hosts = work / "known_hosts"
        for port in ports.values():
            trust_host_key(self.known_hosts, server.host, port, server.key_line)
        self.config = work / "config.toml"
        write_config(self.config, server, ports, self.known_hosts, drop)
        self.env = {**os.environ, "ETTUI_HOME": str(work / "home"), "ET_UNUSED_PW": "unused", "PYTHONPATH": str(ROOT),
                    "ETTUI_SHOW_RATE": "1"}

    def ettui(self, path: str, name: str) -> float:
        dest = self.work / "dl-ettui"
        shutil.rmtree(dest, ignore_errors=True)
        return timed([sys.executable, "-m", "ettui", "--config", str(self.config), "-P", path, "fetch", name,
                      "--no-extract", "--dest", str(dest)], self.env)

    def ettui_split(self, path: str, name: str) -> float:
        """The same command with the segmented download on (``max_segments=2``), to show what it buys."""
        dest = self.work / "dl-ettui2"
        shutil.rmtree(dest, ignore_errors=True)
        code = ("import sys; from ettui.drop.client import DropClient; "
                "DropClient.__init__.__kwdefaults__['max_segments'] = 2; from ettui.cli import main; "
                "sys.exit(main(sys.argv[1:]))")
        return timed([sys.executable, "-c", code, "--config", str(self.config), "-P", path, "fetch", name,
                      "--no-extract", "--dest", str(dest)], self.env)

    def base(self, path: str, name: str) -> float:
        """The same command from the ``--base-tree`` checkout (its modules first on the path)."""
        dest = self.work / "dl-base"
        shutil.rmtree(dest, ignore_errors=True)
        return timed([sys.executable, "-m", "ettui", "--config", str(self.config), "-P", path, "fetch", name,
                      "--no-extract", "--dest", str(dest)], {**self.env, "PYTHONPATH": str(self.base_tree)})

    def sftp(self, path: str, name: str) -> float:
        target = self.work / "dl-sftp" / name
        shutil.rmtree(target.parent, ignore_errors=True)
        target.parent.mkdir()
        batch = self.work / "batch"
        batch.write_text(f"get {self.drop / name} {target}\n")
        return timed(["sftp", "-q", "-b", str(batch), "-i", str(self.server.user_key), "-P", str(self.ports[path]),
                      "-o", f"UserKnownHostsFile={self.known_hosts}", "-o", "StrictHostKeyChecking=yes",
                      "-o", "BatchMode=yes", f"{self.server.user}@{self.server.host}"], self.env)

    def version(self) -> float:
        return timed([sys.executable, "-m", "ettui", "--version"], self.env)


def label(path: str) -> str:
    ms = int(path[1:])
    return "direct" if ms == 0 else f"{ms} ms each way (~{2 * ms} ms RTT)"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--delays-ms", default="0,25,75", help="comma-separated delays each way; 0 = direct")
    parser.add_argument("--dir", type=Path, default=None, help="work folder (default: a temp folder)")
    parser.add_argument("--split", action="store_true", help="also time the segmented download (max_segments=2)")
    parser.add_argument("--base-tree", type=Path, default=None,
                        help="also time the same command from this checkout of ettui (a before/after comparison)")
    args = parser.parse_args()
    # As an installed package would be: compiled once. (Under PYTHONDONTWRITEBYTECODE,
    # as on this machine, every run would otherwise compile ettui's ~50 modules again.)
    trees = [ROOT / "ettui"] + ([args.base_tree.resolve() / "ettui"] if args.base_tree else [])
    compiling = await asyncio.create_subprocess_exec(sys.executable, "-m", "compileall", "-q", *map(str, trees),
                                                     stdout=asyncio.subprocess.DEVNULL)
    await compiling.wait()
    why = sshd_unavailable()
    if why:
        sys.exit(f"cannot run: {why}")
    delays = [int(d) for d in args.delays_ms.split(",")]
    size = args.size_mib * 1024 * 1024
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        work = Path(tmp)
        drop = work / "drop"
        drop.mkdir()
        make_zip(drop / "bench.zip", size)
        (drop / "small.zip").write_bytes(_small_zip())
        want = hashlib.sha256((drop / "bench.zip").read_bytes()).hexdigest()
        async with openssh_sshd(work / "sshd") as server:
            proxies: list[asyncio.subprocess.Process] = []
            ports: dict[str, int] = {}
            try:
                for ms in delays:
                    if ms == 0:
                        ports["d0"] = server.port
                        continue
                    proc = await asyncio.create_subprocess_exec(
                        sys.executable, str(ROOT / "bench" / "delayproxy.py"), "--target", f"{server.host}:{server.port}",
                        "--delay-ms", str(ms), stdout=asyncio.subprocess.PIPE)
                    proxies.append(proc)
                    assert proc.stdout is not None
                    ports[f"d{ms}"] = int((await proc.stdout.readline()).split()[-1])
                bench = Bench(work, server, ports, drop, args.base_tree.resolve() if args.base_tree else None)
                await asyncio.to_thread(run_rounds, bench, args.rounds, size, want, args.size_mib, args.split)
            finally:
                for proc in proxies:
                    proc.kill()
                    await proc.wait()


def _small_zip() -> bytes:
    import io

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        z.writestr("small.xml", os.urandom(900))
    return buf.getvalue()


def load() -> str:
    return f"{os.getloadavg()[0]:.1f}"


def run_rounds(bench: Bench, rounds: int, size: int, want: str, size_mib: int, split: bool) -> None:
    times: dict[tuple[str, str], list[float]] = {}
    cpu: dict[tuple[str, str], list[float]] = {}
    loads = [load()]
    for r in range(rounds):
        print(f"  round {r + 1}, load average {load()}", flush=True)
        for path in bench.ports:
            contenders = ["sftp", "ettui"] + (["ettui2"] if path != "d0" and split else [])
            contenders += ["base"] if bench.base_tree is not None else []
            for who in contenders:
                run = {"ettui": bench.ettui, "ettui2": bench.ettui_split, "sftp": bench.sftp, "base": bench.base}[who]
                t = run(path, "bench.zip")
                got = (bench.work / f"dl-{who}" / "bench.zip")
                if got.stat().st_size != (bench.drop / "bench.zip").stat().st_size:
                    sys.exit(f"{who} {path}: wrong size")
                if r == 0 and who != "sftp" and hashlib.sha256(got.read_bytes()).hexdigest() != want:
                    sys.exit("ettui: sha256 differs from the source")
                times.setdefault((path, who), []).append(t)
                cpu.setdefault((path, who), []).append(LAST_CPU[0])
                said = f"  [{LAST_STDERR[0]}]" if who != "sftp" and LAST_STDERR[0] else ""
                print(f"  round {r + 1} {label(path):28} {who:6} {t:6.2f} s  {size / t / 1e6:6.1f} MB/s"
                      f"  cpu {LAST_CPU[0]:5.2f} s{said}", flush=True)
    small_paths = list(bench.ports)[:2]
    startup: dict[str, list[tuple[float, float]]] = {}
    for _ in range(max(5, rounds)):
        startup.setdefault("ettui --version", []).append((bench.version(), LAST_CPU[0]))
        for path in small_paths:
            startup.setdefault(f"sftp get 1 KiB, {label(path)}", []).append((bench.sftp(path, "small.zip"), LAST_CPU[0]))
            startup.setdefault(f"ettui fetch 1 KiB, {label(path)}", []).append((bench.ettui(path, "small.zip"), LAST_CPU[0]))
    loads.append(load())

    print(f"\nwhole command, {size_mib} MiB zip, median (best) of {rounds} interleaved rounds, "
          f"load average {' -> '.join(loads)}:")
    print(f"  {'path':28} {'sftp -b get':>20} {'ettui fetch':>20}  ratio sftp/ettui   cpu s sftp / ettui")
    for path in bench.ports:
        s = times[(path, "sftp")]
        ms = statistics.median(s)
        for who in ("ettui", "ettui2", "base"):
            if (path, who) not in times:
                continue
            e = times[(path, who)]
            me = statistics.median(e)
            name = {"ettui": label(path), "ettui2": "  same, split over 2 conns", "base": "  same, --base-tree"}[who]
            print(f"  {name:28} {ms:6.2f} s {size / ms / 1e6:6.1f} MB/s  {me:6.2f} s {size / me / 1e6:6.1f} MB/s"
                  f"  {ms / me:5.2f} (best {min(s) / min(e):.2f})"
                  f"   {statistics.median(cpu[(path, 'sftp')]):5.2f} / {statistics.median(cpu[(path, who)]):5.2f}")
    print("\nstart-up, median (best) seconds, median cpu seconds:")
    for what, ts in startup.items():
        walls = [w for w, _ in ts]
        print(f"  {what:40} {statistics.median(walls):6.3f} ({min(walls):.3f})  cpu {statistics.median(c for _, c in ts):.3f}")

if __name__ == "__main__":
    asyncio.run(main())
